/**
 * npm run bench: the pipeline on the emulators (fauxqs + dynalite), through the real handlers and AWS SDK
 * code, for growing request sizes. Each role runs in its own process (bench/role.ts) so that its peak RSS
 * is its own; the emulators and the mock API live in this one.
 *
 *   npm run bench                                   # jobs of 1k, 20k, 50k, 100k contacts
 *   npm run bench -- --sizes 100000,1000000         # add 1M (about 2-3 minutes more)
 *   npm run bench -- --job-cache off                # whole jobs with the result cache off (default: cold)
 *   npm run bench -- --standin-sizes 100000,1000000,10000000 --rmw-sizes 20000,50000 --workers 8 --json
 *   npm run bench -- --chart                        # also redraw docs/benchmarks.svg (tracked: only when asked)
 *   npm run bench -- --profile .cpuprofile          # each role with node --cpu-prof; summary: bench/profile.ts
 *   npm run bench -- --provider [--scenarios ...]   # the provider scenarios on the offline stack: bench/provider.ts
 *   npm run bench -- --lifecycle [--scenarios ...]  # webhooks and cancel on the offline stack: bench/lifecycle.ts
 *   npm run bench -- --soak [--minutes 10] [--idle-minutes 1]   # the offline stack's memory under load: bench/soak.ts
 *   npm run bench -- --floor [--floor-calls 1000] --sizes 50000 ...   # the AWS calls alone, and each job's share: bench/floor.ts
 *   (the emulators and the mock too: node --cpu-prof --cpu-prof-dir .cpuprofile -r ts-node/register/transpile-only bench/run.ts ...)
 *
 * Prints: whole jobs (time, contacts/s, batches/s, the targets), the status item's DynamoDB size, peak RSS
 * per role, the same job with the result cache off, cold and warm (--cache-sizes, --cache-rounds), intake and
 * assembly alone against a byte-counting stand-in store, the public design's read-modify-write output beside ours,
 * and with --chart writes the chart (docs/benchmarks.svg, or --chart-file).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { resetClients } from '../src/adapters/clients';
import { dynamoItemSize } from './itemSize';
import { resetConfig } from '../src/config';
import { handler as completeUploadHandler } from '../src/handlers/completeUpload';
import { handler as createUploadHandler } from '../src/handlers/createUpload';
import { handler as mockEnrich } from '../src/handlers/mockEnrich';
import { API_GATEWAY_MAX_BODY_BYTES, LAMBDA_MAX_EVENT_BYTES } from '../src/inlineLimits';
import { startEmulators, useFakeAwsCredentials } from '../src/local/emulators';
import { callsSince, perThousand } from './awsCalls';
import { ceiling, FLOOR_OPS, floorOfJob, rates, type FloorTiming } from './floorSplit';
import { provisionFromServerlessYml } from '../src/local/provision';
import { ServerlessConfig } from '../src/local/serverlessConfig';
import { renderChart } from './chart';
import { uploadJson } from './intakeStandIn';
import { runLifecycleBench } from './lifecycle';
import { runProviderBench } from './provider';
import { readModifyWrite } from './readModifyWrite';
import { runSoakBench } from './soak';

// --provider (--lifecycle) hands the whole command line (its own options) to bench/provider.ts (bench/lifecycle.ts);
// these options are then unused.
const argv = process.argv.slice(2);
const provider = argv.includes('--provider');
const lifecycle = argv.includes('--lifecycle');
const soak = argv.includes('--soak');
const { values } = parseArgs({
  args: provider || lifecycle || soak ? [] : argv,
  options: {
    sizes: { type: 'string', default: '1000,20000,50000,100000' },
    'standin-sizes': { type: 'string', default: '100000,1000000,10000000' },
    'intake-standin-sizes': { type: 'string', default: '100000,1000000,10000000' },
    'rmw-sizes': { type: 'string', default: '20000,50000' },
    // The cache off / cold / warm comparison (empty: none); --cache-rounds N repeats it and reports medians.
    'cache-sizes': { type: 'string', default: '50000,100000' },
    'cache-rounds': { type: 'string', default: '1' },
    // The result cache in the whole-job table: cold (a new stage, an empty cache table), or off (CACHE_TTL_DAYS=0, the
    // pipeline's own cost, as issue 19's goals were set before the cache existed).
    'job-cache': { type: 'string', default: 'cold' },
    workers: { type: 'string', default: '8' },
    // The chart is tracked (docs/benchmarks.svg): a run redraws it only when asked, so a quick run leaves the tree clean.
    chart: { type: 'boolean', default: false },
    'chart-file': { type: 'string' },
    profile: { type: 'string' },
    // The emulators' floor (bench/floor.ts): the pipeline's calls with no work, after the whole jobs.
    floor: { type: 'boolean', default: false },
    'floor-calls': { type: 'string', default: '1000' },
    // Sent as x-api-key to the create, upload and complete handlers: the upload then lives under
    // uploads/<owner>/ (src/core/owner.ts). Empty: no key (a stage without keys; uploads under uploads/).
    'api-key': { type: 'string', default: 'bench-api-key-0001' },
    json: { type: 'boolean', default: false },
  },
});
const list = (s: string | undefined) => (s ? s.split(',').filter(Boolean).map(Number) : []);
const workers = Number(values.workers);
if (!['cold', 'off'].includes(values['job-cache'] ?? '')) throw new Error('--job-cache is cold or off');
const jobCacheOff = values['job-cache'] === 'off';
/** Where the chart goes: --chart-file (which implies --chart), else docs/benchmarks.svg with --chart, else nowhere. */
const chartFile = values['chart-file'] || (values.chart ? 'docs/benchmarks.svg' : undefined);
const FIELDS = ['professional_email', 'personal_phone'];
const TARGETS: Record<number, number> = { 100000: 10, 1000000: 100 };
const say = (s: string) => values.json || console.error(s);
const apiHeaders: Record<string, string> = {
  'content-type': 'application/json',
  ...(values['api-key'] ? { 'x-api-key': values['api-key'] } : {}),
};
const apiEvent = (body: unknown, pathParameters?: Record<string, string>) =>
  ({
    body: JSON.stringify(body),
    headers: apiHeaders,
    pathParameters,
    requestContext: { requestId: 'bench' },
  }) as never;

/**
 * The upload as createEnrichment.ts makes it, through the real handlers: POST /enrichment/uploads (a key the
 * server chooses under the caller's prefix, presigned part URLs), a plain PUT of each part (8 MiB, no AWS
 * credentials), then the complete route. Returns the reference to submit.
 */
async function uploadThroughApi(size: number): Promise<{ reference: string; key: string; bytes: number }> {
  const chunks: Buffer[] = [];
  for await (const c of uploadJson(size)) chunks.push(Buffer.from(c));
  const file = Buffer.concat(chunks);
  const started = await createUploadHandler(
    apiEvent({ size: file.length, format: 'json', filename: `bench-${size}.json` }),
  );
  if (started.statusCode !== 201)
    throw new Error(`POST /enrichment/uploads answered ${started.statusCode}: ${started.body}`);
  const up = JSON.parse(started.body) as {
    uploadId: string;
    key: string;
    partSize: number;
    parts: Array<{ partNumber: number; url: string }>;
  };
  const parts: Array<{ partNumber: number; etag: string }> = [];
  for (let i = 0; i < up.parts.length; i += 4) {
    parts.push(
      ...(await Promise.all(
        up.parts.slice(i, i + 4).map(async (p) => {
          const res = await fetch(p.url, {
            method: 'PUT',
            body: file.subarray((p.partNumber - 1) * up.partSize, p.partNumber * up.partSize),
          });
          if (!res.ok) throw new Error(`part ${p.partNumber} PUT answered ${res.status}: ${await res.text()}`);
          return { partNumber: p.partNumber, etag: res.headers.get('etag') ?? '' };
        }),
      )),
    );
  }
  const done = await completeUploadHandler(
    apiEvent({ key: up.key, parts }, { uploadId: encodeURIComponent(up.uploadId) }),
  );
  if (done.statusCode !== 200) throw new Error(`complete answered ${done.statusCode}: ${done.body}`);
  return { reference: (JSON.parse(done.body) as { reference: string }).reference, key: up.key, bytes: file.length };
}

const contact = (i: number) => ({
  first_name: `First${i}`,
  last_name: `Last${i}`,
  company_domain: `company${i % 997}.example.com`,
});
interface Role {
  name: string;
  child: ChildProcess;
  ask<T>(message: unknown): Promise<T>;
}

/** A role in its own process (bench/role.ts), ready to be told what to do. */
async function startRole(name: string, env: NodeJS.ProcessEnv): Promise<Role> {
  const execArgv = ['--expose-gc', '-r', 'ts-node/register/transpile-only', '--max-old-space-size=8192'];
  if (values.profile)
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${values.profile}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`);
  const child = fork(path.join(__dirname, 'role.ts'), [], {
    env: { ...process.env, ...env, BENCH_ROLE: name },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) =>
        reject(new Error(`role ${name} exited (${signal ?? code}) before it answered`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m as T);
      });
    });
  await next();
  return {
    name,
    child,
    ask<T>(message: unknown) {
      const answer = next<T>();
      child.send(message as never);
      return answer;
    },
  };
}

const stopRole = async (role: Role) => {
  if (role.child.exitCode !== null) return;
  // It exits by itself after its last answer (so that --cpu-prof writes its profile); a kill if it does not.
  const exited = new Promise((r) => role.child.once('exit', r));
  const timer = setTimeout(() => role.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
};

async function main(): Promise<void> {
  useFakeAwsCredentials();
  process.env.LOG_SILENT = 'true';
  process.env.METRICS_ENABLED = 'false';
  process.env.MOCK_LATENCY_MS = '0';
  // Every AWS call the emulators receive, by service and operation, but the bench's own status reads (its
  // user agent says bench-observer): what the pipeline itself costs per 1,000 contacts.
  const awsCalls = new Map<string, number>();
  const emulators = await startEmulators({
    s3SqsPort: 0,
    dynamodbPort: 0,
    onCall: (service, operation, req) => {
      if (String(req.headers['user-agent']).includes('bench-observer')) return;
      const key = `${service} ${operation}`;
      awsCalls.set(key, (awsCalls.get(key) ?? 0) + 1);
    },
  });

  // The mock API's handler behind a real HTTP server, no added latency: the pipeline's own cost.
  let mockCalls = 0;
  const server = http.createServer((req, res) => {
    mockCalls++;
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      // The mock routes by method and path (its enrich call, /mock/stats, ...) and limits by x-api-key.
      const r = await mockEnrich({
        httpMethod: req.method,
        path: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      } as never);
      res.writeHead(r.statusCode, r.headers as http.OutgoingHttpHeaders);
      res.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

  const jobs: Array<Record<string, number | string>> = [];
  const callCounts: Array<ReturnType<typeof perThousand> & { 'idle polls': number; job?: string }> = [];
  const rss: Array<{ role: string; contacts: number; MB: number; how: string }> = [];
  const itemSizes: Array<{
    contacts: number;
    status: string;
    'final bytes': number;
    'max bytes while running': number;
  }> = [];
  const rmw: Array<Record<string, number | string>> = [];
  const jobCalls: Array<{ contacts: number; seconds: number; aws: Map<string, number> }> = [];
  let stageNo = 0;

  async function provision(overrides: NodeJS.ProcessEnv = {}) {
    const stage = `bench${stageNo++}`;
    const sls = new ServerlessConfig({ stage, region: 'us-east-1', env: {} });
    const resources = await provisionFromServerlessYml(sls, emulators);
    const env: NodeJS.ProcessEnv = {
      ...sls.environment(),
      S3_ENDPOINT: emulators.s3Endpoint,
      SQS_ENDPOINT: emulators.sqsEndpoint,
      DYNAMODB_ENDPOINT: emulators.dynamodbEndpoint,
      ENRICHMENT_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mock/enrich`,
      PUBLIC_API_URL: 'http://localhost:3000',
      METRICS_ENABLED: 'false',
      LOG_SILENT: 'true',
      BENCH_WORKERS: String(workers),
      ...overrides,
    };
    for (const [id, q] of Object.entries(resources.queues))
      Object.assign(env, { [`BENCH_QUEUE_URL_${id}`]: q.url, [`BENCH_QUEUE_ARN_${id}`]: q.arn });
    // This process's own calls (upload, status reads) go to the same stage: a new "cold start" per stage.
    Object.assign(process.env, env);
    resetConfig();
    resetClients();
    return { sls, resources, env };
  }

  const ddb = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      region: 'us-east-1',
      endpoint: emulators.dynamodbEndpoint,
      customUserAgent: 'bench-observer',
    }),
  );

  type Stage = Awaited<ReturnType<typeof provision>>;
  /**
   * One whole job of `size` contacts on `stage`: its roles started (and warm) before the clock, the request inline or
   * through the upload route, the status item read every 50 ms until final, the roles stopped.
   */
  async function wholeJob(size: number, { sls, env }: Stage, dedupe?: false) {
    // Every queue-triggered function of serverless.yml polls in its own process, started (and warm) before t0.
    const pollers = await Promise.all(sls.sqsEventSources().map((s) => startRole(s.functionKey, env)));
    const creator = await startRole('create', env);
    const extra = dedupe === false ? { dedupe } : {};

    // The users' scripts send a request inline when it fits API Gateway's and Lambda's limits, else through S3.
    const inline =
      size <= 70_000
        ? JSON.stringify({
            contacts: Array.from({ length: size }, (_, i) => contact(i)),
            fields_to_enrich: FIELDS,
            ...extra,
          })
        : '';
    const fits =
      inline !== '' &&
      Buffer.byteLength(inline) < Math.min(API_GATEWAY_MAX_BODY_BYTES, LAMBDA_MAX_EVENT_BYTES - 100_000);
    const callsBefore = mockCalls;
    const awsBefore = new Map(awsCalls);
    const t0 = performance.now();
    let body = inline;
    let uploadKey = '';
    if (!fits) {
      const up = await uploadThroughApi(size);
      uploadKey = up.key;
      body = JSON.stringify({ contacts: up.reference, fields_to_enrich: FIELDS, ...extra });
    }
    const uploaded = performance.now() - t0;
    const created = await creator.ask<{ result: { statusCode: number; body: string }; ms: number; maxRssMB: number }>({
      body,
      headers: apiHeaders,
    });
    if (created.result.statusCode !== 202)
      throw new Error(`create answered ${created.result.statusCode}: ${created.result.body}`);
    const { requestId, status: first } = JSON.parse(created.result.body) as { requestId: string; status: string };
    const accepted = performance.now() - t0;

    // The status item as DynamoDB holds it (unsummed), read every 50 ms: its status moves and its size.
    const statuses: string[] = first ? [first] : []; // an inline 202 names no status
    let maxBytes = 0;
    let item: Record<string, unknown> = {};
    for (;;) {
      item = (await ddb.send(new GetCommand({ TableName: env.TABLE_NAME, Key: { requestId } }))).Item ?? {};
      maxBytes = Math.max(maxBytes, dynamoItemSize(item));
      const now = String(item.status);
      if (now !== statuses[statuses.length - 1]) statuses.push(now);
      if (!['processing', 'validating'].includes(now)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const final = statuses[statuses.length - 1];
    const seconds = (performance.now() - t0) / 1000;
    const answers = await Promise.all(
      pollers.map((p) => p.ask<{ invocations: number; maxRssMB: number }>({ stop: true })),
    );
    // A receive that brought messages is one invocation (the event source invokes once per such receive); the rest
    // are idle long polls of the queues, a cost per queue and minute (on AWS too), not per contact: apart.
    const aws = callsSince(awsBefore, awsCalls);
    const sqsInvocations = answers.reduce((n, a) => n + a.invocations, 0);
    const idlePolls = (aws.get('sqs ReceiveMessage') ?? 0) - sqsInvocations;
    aws.set('sqs ReceiveMessage', sqsInvocations);
    await Promise.all([...pollers, creator].map(stopRole));
    return {
      pollers,
      answers,
      created,
      item,
      maxBytes,
      statuses,
      final,
      seconds,
      fits,
      uploadKey,
      uploaded,
      accepted,
      calls: mockCalls - callsBefore,
      aws,
      idlePolls,
      invocations: sqsInvocations + 1, // the create call's invocation too
    };
  }

  for (const size of list(values.sizes)) {
    const job = await wholeJob(size, await provision(jobCacheOff ? { CACHE_TTL_DAYS: '0' } : {}));
    const { pollers, answers, created, item, maxBytes, statuses, final, seconds, fits, uploadKey, uploaded, accepted } =
      job;
    callCounts.push({ ...perThousand(size, job.aws, job.invocations), 'idle polls': job.idlePolls });
    jobCalls.push({ contacts: size, seconds: job.seconds, aws: job.aws });
    itemSizes.push({
      contacts: size,
      status: final,
      'final bytes': dynamoItemSize(item),
      'max bytes while running': maxBytes,
    });
    rss.push({ role: 'createEnrichment (accept)', contacts: size, MB: created.maxRssMB, how: 'end to end' });
    pollers.forEach((p, i) => {
      if (answers[i].invocations)
        rss.push({
          role: p.name === 'processBatch' ? 'processBatch (incl. assembly)' : p.name,
          contacts: size,
          MB: answers[i].maxRssMB,
          how: 'end to end',
        });
    });
    const target = TARGETS[size];
    jobs.push({
      contacts: size,
      path: fits ? 'inline' : `upload route → ${uploadKey.replace(/[0-9a-f-]{36}/g, '…')}`,
      statuses: statuses.join(' → '),
      'accept ms': Math.round(accepted),
      'upload ms': fits ? 0 : Math.round(uploaded),
      'job s': +seconds.toFixed(2),
      'contacts/s': Math.round(size / seconds),
      'batches/s': Math.round(size / 100 / seconds),
      target: target
        ? seconds <= target
          ? `≤ ${target} s: met`
          : `≤ ${target} s: missed by ${(seconds - target).toFixed(1)} s`
        : '',
    });
    say(`job ${size}: ${seconds.toFixed(1)} s, ${final}`);
  }

  // The result cache's price and gain, the shared limit off (issue 17): the same job with the cache off
  // (CACHE_TTL_DAYS=0), cold (a new stage, so an empty cache table) and warm (the same contacts again on that stage,
  // dedupe: false), side by side; with --cache-rounds N, N rounds in that order and the medians.
  const cacheRuns: Array<{
    contacts: number;
    round: number;
    off: number;
    cold: number;
    warm: number;
    warmCalls: number;
  }> = [];
  for (const size of list(values['cache-sizes'])) {
    for (let round = 1; round <= Number(values['cache-rounds']); round++) {
      const off = await wholeJob(size, await provision({ CACHE_TTL_DAYS: '0' }), false);
      const stage = await provision();
      const cold = await wholeJob(size, stage, false);
      const warm = await wholeJob(size, stage, false);
      for (const [what, job] of [
        ['off', off],
        ['cold', cold],
        ['warm', warm],
      ] as const)
        if (job.final !== 'completed') throw new Error(`cache ${what} job of ${size} ended ${job.final}`);
      for (const [what, job] of [
        ['cache off', off],
        ['cache cold', cold],
        ['cache warm', warm],
      ] as const)
        callCounts.push({ ...perThousand(size, job.aws, job.invocations), 'idle polls': job.idlePolls, job: what });
      cacheRuns.push({
        contacts: size,
        round,
        off: off.seconds,
        cold: cold.seconds,
        warm: warm.seconds,
        warmCalls: warm.calls,
      });
      say(
        `cache ${size} round ${round}: off ${off.seconds.toFixed(2)} s, cold ${cold.seconds.toFixed(2)} s, warm ${warm.seconds.toFixed(2)} s (${warm.calls} provider calls)`,
      );
    }
  }
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const cache = [...new Set(cacheRuns.map((r) => r.contacts))].map((contacts) => {
    const runs = cacheRuns.filter((r) => r.contacts === contacts);
    const [off, cold, warm] = (['off', 'cold', 'warm'] as const).map((k) => median(runs.map((r) => r[k])));
    return {
      contacts,
      rounds: runs.length,
      'cache off s': +off.toFixed(2),
      'cold s': +cold.toFixed(2),
      'warm s': +warm.toFixed(2),
      'cold vs off': `${cold >= off ? '+' : ''}${((100 * (cold - off)) / off).toFixed(1)}%`,
      'cold within 10%': cold <= 1.1 * off ? 'yes' : 'no',
      'warm faster than cold': warm < cold ? `yes (${(cold / warm).toFixed(1)}×)` : 'no',
      'warm provider calls': Math.max(...runs.map((r) => r.warmCalls)),
    };
  });

  // The emulators' floor: each operation the pipeline calls, alone, from a role process on a stage of its own (no
  // pollers), a warm-up pass of 50 calls each, then --floor-calls each; the emulators' CPU is this process's.
  const floor: Array<FloorTiming & Record<string, number | string>> = [];
  const floorSplit: Array<Record<string, number | string>> = [];
  if (values.floor) {
    const { env } = await provision();
    const role = await startRole('floor', env);
    for (const [calls, base] of [
      [50, 0],
      [Number(values['floor-calls']), 1_000_000],
    ]) {
      floor.length = 0;
      for (const op of FLOOR_OPS) {
        const cpu0 = process.cpuUsage();
        const r = await role.ask<{ wallMs: number; cpuMs: number; messages?: number; error?: string }>({
          op,
          calls,
          concurrency: workers,
          base,
        });
        if (r.error) throw new Error(`floor: ${r.error}`);
        const cpu = process.cpuUsage(cpu0);
        const timing: FloorTiming = { op, calls, concurrency: workers, wallMs: r.wallMs };
        const { callsPerSecond, msPerCall } = rates(timing);
        const sdkCpu = r.cpuMs / calls;
        const emulatorCpu = (cpu.user + cpu.system) / 1000 / calls;
        floor.push({
          ...timing,
          wallMs: Math.round(r.wallMs),
          'calls/s': Math.round(callsPerSecond),
          'ms per call': +msPerCall.toFixed(2),
          'SDK CPU ms/call': +sdkCpu.toFixed(2),
          'emulator CPU ms/call': +emulatorCpu.toFixed(2),
          'busy side': ceiling(msPerCall, sdkCpu, emulatorCpu),
          'SQS messages': r.messages ?? '',
        });
      }
    }
    await role.ask({ stop: true });
    await stopRole(role);
    for (const job of jobCalls) {
      const split = floorOfJob(job.aws, floor, job.seconds);
      const unmeasured = [...split.unmeasured.values()].reduce((a, b) => a + b, 0);
      floorSplit.push({
        contacts: job.contacts,
        'job s': +job.seconds.toFixed(2),
        'floor s': +split.floorSeconds.toFixed(2),
        'floor share': `${(100 * split.share).toFixed(0)}%`,
        'ours and the rest s': +(job.seconds - split.floorSeconds).toFixed(2),
        'by operation (s)': split.byOp.map((r) => `${r.op} ${r.calls}: ${r.seconds.toFixed(2)}`).join(', '),
        'calls not timed': unmeasured ? [...split.unmeasured].map(([k, n]) => `${k} ${n}`).join(', ') : 'none',
      });
    }
    say(`floor: ${floor.map((f) => `${f.op} ${f['ms per call']} ms`).join(', ')}`);
  }

  // Roles alone against the byte-counting stand-in store: sizes no in-memory emulator holds.
  for (const size of list(values['standin-sizes'])) {
    const role = await startRole('assembly', {});
    const r = await role.ask<{ outputMB: number; seconds: number; maxRssMB: number }>({ contacts: size });
    await stopRole(role);
    rss.push({
      role: 'assembly alone',
      contacts: size,
      MB: r.maxRssMB,
      how: `stand-in store, ${r.outputMB} MB output in ${r.seconds} s`,
    });
    say(`assembly ${size}: ${r.maxRssMB} MB`);
  }
  for (const size of list(values['intake-standin-sizes'])) {
    const role = await startRole('intake-standin', {});
    const r = await role
      .ask<{ ok: boolean; error?: string; seconds: number; messages: number; maxRssMB: number }>({ contacts: size })
      .catch((err: Error) => ({ ok: false, error: err.message, seconds: 0, messages: 0, maxRssMB: NaN }));
    await stopRole(role);
    rss.push({
      role: 'intake alone',
      contacts: size,
      MB: r.maxRssMB,
      how: r.ok ? `stand-in store, ${r.messages} batch messages in ${r.seconds} s` : `failed: ${r.error}`,
    });
    say(`intake ${size}: ${r.maxRssMB} MB`);
  }

  // The public design's read-modify-write output, on the same emulator.
  if (list(values['rmw-sizes']).length) {
    const { resources } = await provision();
    const s3 = new S3Client({ region: 'us-east-1', endpoint: emulators.s3Endpoint, forcePathStyle: true });
    for (const size of list(values['rmw-sizes'])) {
      const theirs = await readModifyWrite(s3, Object.values(resources.buckets)[0], size);
      const ours = jobs.find((j) => j.contacts === size);
      rmw.push({
        contacts: size,
        'read-modify-write s (S3 part only)': +theirs.seconds.toFixed(1),
        'GB written': +(theirs.bytesWritten / 1e9).toFixed(2),
        'ours, whole job s': ours ? ours['job s'] : 'not run (add it to --sizes)',
        'speed-up': ours ? `${(theirs.seconds / Number(ours['job s'])).toFixed(1)}×` : '',
      });
      say(`read-modify-write ${size}: ${theirs.seconds.toFixed(1)} s`);
    }
    s3.destroy();
  }
  ddb.destroy();
  server.close();
  await emulators.stop();

  const flat = [...new Set(rss.map((r) => r.role))].map((role) => {
    // From 100k up (the issue's range); smaller jobs are shown above but not judged.
    const mb = rss.filter((r) => r.role === role && Number.isFinite(r.MB) && r.contacts >= 100_000);
    const lo = mb.reduce((a, r) => (r.contacts < a.contacts ? r : a), mb[0]);
    const hi = mb.reduce((a, r) => (r.contacts > a.contacts ? r : a), mb[0]);
    return {
      role,
      from: lo?.contacts,
      to: hi?.contacts,
      'MB from → to': lo && `${lo.MB} → ${hi.MB}`,
      'flat within 2×': lo ? (hi.MB <= 2 * lo.MB ? 'yes' : 'no') : 'n/a',
    };
  });
  if (chartFile) {
    writeFileSync(chartFile, await renderChart(jobs as never, rss));
    say(`chart written to ${chartFile}`);
  }

  if (values.json)
    console.log(
      JSON.stringify(
        { workers, jobs, callCounts, itemSizes, rss, flat, rmw, cache, cacheRuns, floor, floorSplit },
        null,
        2,
      ),
    );
  else {
    console.log(`Whole jobs on the emulators (${workers} workers, mock latency 0; targets: 100k ≤ 10 s, 1M ≤ 100 s):`);
    console.table(jobs);
    console.log(
      "AWS calls and Lambda invocations per 1,000 contacts (the pipeline's own, receives that brought messages; the idle polls apart):",
    );
    console.table(callCounts.map(({ detail, ...row }) => row));
    for (const { contacts, job, detail } of callCounts) console.log(`  ${contacts}${job ? ` ${job}` : ''}: ${detail}`);
    console.log('Status item size after the job (DynamoDB item size rules):');
    console.table(itemSizes);
    console.log('Peak RSS per role (each role in its own process; its VmHWM):');
    console.table(rss);
    console.table(flat);
    if (cache.length) {
      console.log(
        'The result cache, limit off: the same job with the cache off, cold and warm (medians of the rounds):',
      );
      console.table(cache);
    }
    if (floor.length) {
      console.log(
        `The emulators' floor: each operation alone, no work, ${workers} in flight, from a role process (ms per call = wall / calls):`,
      );
      console.table(floor);
    }
    if (floorSplit.length) {
      console.log("Each whole job's AWS calls at the floor's cost per call, against the job's time:");
      console.table(floorSplit.map(({ 'by operation (s)': _, ...row }) => row));
      for (const row of floorSplit) console.log(`  ${row.contacts}: ${row['by operation (s)']}`);
    }
    if (rmw.length) {
      console.log(
        "The public design's output strategy (every batch reads output.json, appends, rewrites it) on the same emulator:",
      );
      console.table(rmw);
    }
  }
}

(provider
  ? runProviderBench(argv.filter((a) => a !== '--provider'))
  : lifecycle
    ? runLifecycleBench(argv.filter((a) => a !== '--lifecycle'))
    : soak
      ? runSoakBench(argv.filter((a) => a !== '--soak'))
      : main().then(() => 0)
).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
