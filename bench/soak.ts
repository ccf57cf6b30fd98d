/**
 * npm run bench -- --soak: the offline stack's memory under sustained load (issue 19, "Offline memory"). Starts
 * `npm start`'s stack in this process (as bench/provider.ts does), keeps 4 requests in flight for --minutes (inline
 * 100, 1k and 10k contacts, and a 30k CSV upload every 3 minutes; two API keys, alternating), checks every output
 * exact, samples the total RSS of the stack's processes every 30 s, then idles for --idle-minutes and prints the
 * samples and the slope after minute 4 (least squares, MB/min).
 *
 *   npm run bench -- --soak                                  # 10 minutes of load, 1 idle (LOCAL_RESULT_TTL_MINUTES=2)
 *   npm run bench -- --soak --minutes 3 --idle-minutes 0.5   # short, for development
 *   npm run bench -- --soak --gc                             # a full GC of the host before each sample
 *
 * The stack's processes: this one (the emulators, the IAM and API edges, the sweeper, and this load generator, whose
 * own share is small: one job's contacts and output at a time per lane) and every process under it (serverless offline
 * with the functions' worker threads, esbuild). LOCAL_RESULT_TTL_MINUTES from the environment, else 2: expiry then
 * reaches its steady state before minute 4, where the slope is read (with 3 it came at minutes 5-6, inside the window).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stackOptionsFromEnv, startStack, type Stack } from '../src/local/stack';
import type { Contact } from '../src/schemas/contact';
import { DEFAULT_FIELDS } from '../src/scripts/lib/api';
import { generateContacts, writeContactsFile } from '../src/scripts/lib/contacts';
import { uploadContactsFile } from '../src/scripts/lib/upload';
import { stackAddress } from './provider';
import { checkExact, type OutputRow } from './providerChecks';

const INLINE_SIZES = [100, 1_000, 10_000];
const UPLOAD_SIZE = 30_000;
const UPLOAD_EVERY_MS = 3 * 60_000;
const LANES = 4;
const SAMPLE_MS = 30_000;
const SLOPE_FROM_MINUTE = 4;

/** The pids of this process and of every process under it (from /proc's parent links). */
function stackPids(): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [process.pid];
  for (let i = 0; i < out.length; i++)
    for (const [pid, ppid] of parentOf) if (ppid === out[i] && !out.includes(pid)) out.push(pid);
  return out;
}

/** VmRSS (kB) of a process, 0 once it is gone. */
function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

interface Sample {
  minute: number;
  totalMb: number;
  hostMb: number;
  processes: number;
  jobs: number;
  contacts: number;
  phase: 'load' | 'idle';
}

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxy = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return sxy / sxx;
}

interface Ctx {
  stack: Stack;
  keys: [string, string];
  dir: string;
}

async function call<T>(ctx: Ctx, method: 'GET' | 'POST', url: string, key: string, body?: unknown) {
  const res = await fetch(url.startsWith('http') ? url : `${ctx.stack.apiUrl}${url}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** `what` failed: the error names the step and, for a network error, its cause (fetch says only "fetch failed"). */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause ? ` (${[cause.code, cause.message].filter(Boolean).join(': ')})` : '';
    throw new Error(`${what}: ${(err as Error).message}${why}`);
  }
}

/** One job, submitted, waited for, downloaded and checked exact; throws otherwise. */
async function runJob(ctx: Ctx, job: { size: number; upload: boolean; key: string; seed: number }): Promise<void> {
  const contacts: Contact[] = [...generateContacts(job.size, { seed: job.seed })];
  let payload: unknown = contacts;
  if (job.upload) {
    const file = path.join(ctx.dir, `soak-${job.seed}.csv`);
    await writeContactsFile(file, job.size, { seed: job.seed }, 'csv');
    process.env.API_URL = ctx.stack.apiUrl;
    process.env.API_KEY = job.key;
    payload = (await step('upload', () => uploadContactsFile(file, { progress: false }))).reference;
    rmSync(file, { force: true });
  }
  const created = await step('POST /enrichment', () =>
    call<{ requestId: string; downloadUrl: string }>(ctx, 'POST', '/enrichment', job.key, {
      contacts: payload,
      fields_to_enrich: DEFAULT_FIELDS,
      dedupe: false,
    }),
  );
  if (created.status !== 202) throw new Error(`POST /enrichment answered ${created.status}`);
  const { requestId, downloadUrl } = created.body;
  let status: { status: string; summary?: Record<string, number> };
  let errors = 0;
  for (;;) {
    await sleep(500);
    const res = await call<typeof status>(ctx, 'GET', `/enrichment/${requestId}`, job.key).catch((err: Error) => ({
      status: 0,
      body: err.message as unknown as typeof status,
    }));
    // The edge's 504 or a refused connection on a loaded machine: a few in a row are tolerated, as the scripts do.
    if (res.status !== 200) {
      if (++errors >= 5) throw new Error(`GET status of ${requestId} answered ${res.status} 5 times in a row`);
      continue;
    }
    errors = 0;
    status = res.body;
    if (status.status !== 'processing' && status.status !== 'validating') break;
  }
  const first = await step('GET download', () =>
    fetch(downloadUrl, { redirect: 'manual', headers: { 'x-api-key': job.key } }),
  );
  const location = first.headers.get('location');
  await first.body?.cancel();
  if (!location) throw new Error(`download of ${requestId} answered ${first.status}`);
  const rows = (
    (await step('GET output', async () => (await fetch(new URL(location, downloadUrl))).json())) as {
      enriched_contacts: OutputRow[];
    }
  ).enriched_contacts;
  const check = checkExact(rows, contacts, { summary: status.summary });
  if (status.status !== 'completed' || !check.exact)
    throw new Error(
      `${requestId} (${job.size}${job.upload ? ' CSV' : ''}): ${status.status}, ${check.problems.join('; ')}`,
    );
}

export async function runSoakBench(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      minutes: { type: 'string', default: '10' },
      'idle-minutes': { type: 'string', default: '1' },
      workers: { type: 'string', default: '8' },
      logs: { type: 'boolean', default: false },
      // A full garbage collection of this process before each sample (npm run bench runs node with --expose-gc): RSS
      // then shows what the emulators hold rather than how far V8 let its heap grow before collecting.
      gc: { type: 'boolean', default: false },
    },
  });
  const collect = values.gc ? (globalThis as { gc?: () => void }).gc : undefined;
  const minutes = Number(values.minutes);
  const idleMinutes = Number(values['idle-minutes']);
  const ttl = process.env.LOCAL_RESULT_TTL_MINUTES ?? '2';
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const { keys, port, lambdaPort } = await stackAddress('soak');
  const loadBefore = loadavg()[0].toFixed(1);
  say(`soak: ${minutes} min of load, ${idleMinutes} idle, LOCAL_RESULT_TTL_MINUTES=${ttl}, load ${loadBefore}`);
  const stack = await startStack({
    ...stackOptionsFromEnv(),
    port,
    lambdaPort,
    s3SqsPort: 0,
    dynamodbPort: 0,
    workers: Number(values.workers),
    apiKeys: keys,
    stdio: values.logs ? 'inherit' : 'ignore',
    env: { ...(values.logs ? {} : { LOG_SILENT: 'true' }), LOCAL_RESULT_TTL_MINUTES: ttl },
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'soak-'));
  const ctx: Ctx = { stack, keys, dir };
  const samples: Sample[] = [];
  let jobs = 0;
  let contactsDone = 0;
  const failures: string[] = [];
  const t0 = performance.now();
  const minute = () => (performance.now() - t0) / 60_000;
  let phase: Sample['phase'] = 'load';
  const sample = () => {
    collect?.();
    const pids = stackPids();
    const s: Sample = {
      minute: Math.round(minute() * 10) / 10,
      totalMb: Math.round(pids.reduce((a, p) => a + rssKb(p), 0) / 1024),
      hostMb: Math.round(rssKb(process.pid) / 1024),
      processes: pids.length,
      jobs,
      contacts: contactsDone,
      phase,
    };
    samples.push(s);
    // The host's V8 heap and its buffers (fauxqs's objects, dynalite's items): what RSS holds apart from free pages.
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    const heap = `heap ${Math.round(heapUsed / 2 ** 20)} MB, buffers ${Math.round(arrayBuffers / 2 ** 20)} MB`;
    say(`  ${s.minute} min: ${s.totalMb} MB (host ${s.hostMb} MB: ${heap}; ${s.processes} processes), ${jobs} jobs`);
  };
  sample();
  const sampler = setInterval(sample, SAMPLE_MS);
  try {
    let seed = 1;
    let sizeTurn = 0;
    let nextUpload = 0;
    const until = t0 + minutes * 60_000;
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (performance.now() < until) {
          const upload = performance.now() - t0 >= nextUpload;
          if (upload) nextUpload += UPLOAD_EVERY_MS;
          const size = upload ? UPLOAD_SIZE : INLINE_SIZES[sizeTurn++ % INLINE_SIZES.length];
          const job = { size, upload, key: keys[seed % 2], seed: seed++ };
          try {
            await runJob(ctx, job);
            jobs += 1;
            contactsDone += size;
          } catch (err) {
            failures.push((err as Error).message);
            say(`soak: a job failed at ${minute().toFixed(1)} min: ${(err as Error).message}`);
          }
        }
      }),
    );
    phase = 'idle';
    say(`soak: load over at ${minute().toFixed(1)} min (${jobs} jobs exact, ${failures.length} failed); idle`);
    await sleep(idleMinutes * 60_000);
    sample();
  } finally {
    clearInterval(sampler);
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const after = samples.filter((s) => s.phase === 'load' && s.minute >= SLOPE_FROM_MINUTE);
  const perMinute = slope(after.map((s) => ({ x: s.minute, y: s.totalMb })));
  const hostPerMinute = slope(after.map((s) => ({ x: s.minute, y: s.hostMb })));
  const lastLoad = [...samples].reverse().find((s) => s.phase === 'load');
  const idle = samples[samples.length - 1];
  console.log(
    `Soak (${minutes} min load + ${idleMinutes} idle, LOCAL_RESULT_TTL_MINUTES=${ttl}, LOCAL_WORKERS=${values.workers}${collect ? ', GC before each sample' : ''}, load ${loadBefore} → ${loadavg()[0].toFixed(1)}, ${new Date().toISOString()}):\n`,
  );
  console.log('| minute | total RSS MB | host MB | processes | jobs done | contacts done | phase |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const s of samples)
    console.log(
      `| ${s.minute} | ${s.totalMb} | ${s.hostMb} | ${s.processes} | ${s.jobs} | ${s.contacts} | ${s.phase} |`,
    );
  console.log(
    `\n${jobs} jobs, ${contactsDone} contacts, every one exact: ${failures.length === 0 ? 'yes' : `no (${failures.slice(0, 3).join(' | ')})`}; slope after minute ${SLOPE_FROM_MINUTE}: ${perMinute.toFixed(1)} MB/min in all (goal ≤ 30), ${hostPerMinute.toFixed(1)} MB/min for the emulators' host; idle: ${lastLoad?.totalMb} → ${idle.totalMb} MB`,
  );
  return failures.length === 0 ? 0 : 1;
}
