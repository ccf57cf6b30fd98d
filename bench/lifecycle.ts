/**
 * npm run bench -- --lifecycle: a job's whole life at full size (issue 18, "Must show"), on the offline stack as a
 * user runs it: each scenario starts `npm start`'s stack in this process (bench/provider.ts's scenarioStacks), sends
 * its requests over HTTP with the stack's API keys, receives webhooks on a receiver of its own on 127.0.0.1, checks
 * what it sees, and stops the stack. One markdown table row per scenario on stdout (progress on stderr).
 *
 *   npm run bench -- --lifecycle                                        # every scenario, full size (about 6 min)
 *   npm run bench -- --lifecycle --scenarios webhook-retries,cancel     # some of them
 *   npm run bench -- --lifecycle --scale 0.1 --down-seconds 20          # small, for development
 *
 * Scenarios (docs/benchmarks-lifecycle.md):
 *   webhook-retries  20k with a callbackUrl; the receiver answers 500 three times, then 200: one webhook-id, four
 *                    timestamps and signatures, each verifying; forgeries refused; the status shows delivered, 4
 *   webhook-down     1k; the receiver's port is closed for --down-seconds after the request ends, then it listens
 *   webhook-410      1k; the receiver answers 410: one attempt, none after
 *   cancel           200k uploaded, cancelled after --cancel-after-batches: the mock's calls sampled every second
 *                    stop; it ends cancelled; JSON, NDJSON and CSV hold every contact once, in order; cancel again:
 *                    200; cancel a completed request: 409
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../src/local/tcpPorts';
import { renderContactsFile } from '../src/scripts/lib/contacts';
import { uploadContactsFile } from '../src/scripts/lib/upload';
import {
  callsAfterCancel,
  checkRetriedDeliveries,
  formatProblems,
  forgeries,
  verifyError,
  type CallSample,
  type Delivery,
} from './lifecycleChecks';
import {
  api,
  downloadText,
  finish,
  mockStats,
  positive,
  s1,
  scenarioList,
  scenarioStacks,
  submit,
  uniqueContacts,
  type JobResult,
  type StackCtx,
  type Status,
} from './provider';
import { markdownRow } from './providerChecks';

export const LIFECYCLE_SCENARIOS = ['webhook-retries', 'webhook-down', 'webhook-410', 'cancel'] as const;
type ScenarioName = (typeof LIFECYCLE_SCENARIOS)[number];

export interface LifecycleOptions {
  scenarios: ScenarioName[];
  scale: number;
  workers: number;
  downSeconds: number;
  cancelAfterBatches: number;
  timeoutSeconds: number;
  json: boolean;
  logs: boolean;
}

export function parseLifecycleOptions(args: string[]): LifecycleOptions {
  const { values } = parseArgs({
    args,
    options: {
      scenarios: { type: 'string', default: LIFECYCLE_SCENARIOS.join(',') },
      // Multiplies every request's size: 0.1 for development.
      scale: { type: 'string', default: '1' },
      // LOCAL_WORKERS of every scenario's stack (npm start's 8).
      workers: { type: 'string', default: '8' },
      // How long webhook-down's receiver stays down after the request ends.
      'down-seconds': { type: 'string', default: '60' },
      // cancel: the batches recorded before the cancel is sent.
      'cancel-after-batches': { type: 'string', default: '20' },
      // Per request: still running after it fails the scenario.
      'timeout-seconds': { type: 'string', default: '1200' },
      json: { type: 'boolean', default: false },
      logs: { type: 'boolean', default: false },
    },
  });
  const scenarios = scenarioList(values.scenarios, LIFECYCLE_SCENARIOS);
  return {
    scenarios,
    scale: positive('scale', values.scale),
    workers: positive('workers', values.workers),
    downSeconds: positive('down-seconds', values['down-seconds']),
    cancelAfterBatches: positive('cancel-after-batches', values['cancel-after-batches']),
    timeoutSeconds: positive('timeout-seconds', values['timeout-seconds']),
    json: values.json,
    logs: values.logs,
  };
}

type Ctx = StackCtx & { opts: LifecycleOptions; t0: number };

/** Seconds since the scenario began. */
const since = (ctx: Ctx) => (performance.now() - ctx.t0) / 1000;

/**
 * A webhook receiver on 127.0.0.1 that records every POST (headers, raw body, when) and answers the next code of
 * `answers`, then 200. `start()` listens (on `port` when given: a URL can be handed out before it is up).
 */
function recordingReceiver(ctx: Ctx, answers: number[], port?: number) {
  const deliveries: Delivery[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answered = answers.shift() ?? 200;
      deliveries.push({
        at: since(ctx),
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks).toString('utf8'),
        answered,
      });
      res.writeHead(answered).end();
    });
  });
  return {
    deliveries,
    url: () => `http://127.0.0.1:${port}/webhook`,
    async start() {
      await new Promise<void>((resolve) => server.listen(port ?? 0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function webhookSecret(ctx: Ctx, rotate = false): Promise<string> {
  const res = await api<{ secret: string }>(
    ctx,
    rotate ? 'POST' : 'GET',
    `/enrichment/webhook-secret${rotate ? '/rotate' : ''}`,
  );
  if (res.status !== 200 || !res.body.secret?.startsWith('whsec_'))
    throw new Error(`webhook-secret answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.secret;
}

/** Polls the status until its webhook is delivered or failed; every webhook state seen, with when. */
async function webhookSettled(ctx: Ctx, requestId: string, timeoutSeconds: number, seen: string[] = []) {
  const until = performance.now() + timeoutSeconds * 1000;
  for (;;) {
    const res = await api<Status>(ctx, 'GET', `/enrichment/${requestId}`);
    const w = res.status === 200 ? res.body.webhook : undefined;
    if (w) {
      const shown = `${w.state}/${w.attempts}${w.reason ? ` (${w.reason})` : ''}`;
      if (seen[seen.length - 1]?.split(' @ ')[0] !== shown) seen.push(`${shown} @ ${s1(since(ctx))}`);
      if (w.state === 'delivered' || w.state === 'failed') return res.body;
    }
    if (performance.now() > until) throw new Error(`the webhook did not settle within ${timeoutSeconds} s`);
    await sleep(250);
  }
}

export interface LifecycleRow {
  scenario: string;
  time: string;
  result: string;
  ok: 'yes' | 'no';
  notes: string[];
}

type Scenario = (ctx: Ctx, n: (contacts: number) => number) => Promise<Omit<LifecycleRow, 'scenario'>>;

const verdict = (problems: string[]): 'yes' | 'no' => (problems.length ? 'no' : 'yes');
const gaps = (deliveries: readonly Delivery[]) =>
  deliveries.slice(1).map((d, i) => (d.at - deliveries[i].at).toFixed(1));

const webhookRetries: Scenario = async (ctx, n) => {
  const secret = await webhookSecret(ctx);
  const receiver = recordingReceiver(ctx, [500, 500, 500]);
  await receiver.start();
  try {
    const contacts = uniqueContacts(n(20_000), 11, new Set());
    const job = await finish(
      ctx,
      await submit(ctx, { label: `${contacts.length} contacts`, contacts, callbackUrl: receiver.url() }),
    );
    const states: string[] = [];
    const settled = await webhookSettled(ctx, job.requestId, 120, states);
    const problems = [...job.check.problems];
    const { deliveries } = receiver;
    problems.push(...checkRetriedDeliveries(deliveries, secret, { webhookId: `evt_${job.requestId}`, attempts: 4 }));
    const w = settled.webhook;
    if (w?.state !== 'delivered' || w.attempts !== 4 || w.lastStatusCode !== 200)
      problems.push(`status webhook ${JSON.stringify(w)}, not delivered after 4 attempts with 200`);
    const event = JSON.parse(deliveries[deliveries.length - 1]?.body ?? '{}') as {
      type?: string;
      data?: Record<string, unknown>;
    };
    if (event.type !== 'enrichment.completed' || event.data?.requestId !== job.requestId)
      problems.push(`event ${event.type} for ${String(event.data?.requestId)}`);
    if (JSON.stringify(event.data?.summary) !== JSON.stringify(settled.summary))
      problems.push(`event summary ${JSON.stringify(event.data?.summary)} ≠ status ${JSON.stringify(settled.summary)}`);
    // The receiver switches to the new secret after a rotation; the old one is then rotated out.
    const rotated = await webhookSecret(ctx, true);
    const forged = deliveries.length ? forgeries(deliveries[deliveries.length - 1], secret, rotated) : [];
    for (const f of forged) if (!f.refusedWith) problems.push(`${f.name}: verified`);
    return {
      time: `${s1(job.seconds)}; attempts over ${s1((deliveries[deliveries.length - 1]?.at ?? 0) - (deliveries[0]?.at ?? 0))}`,
      result: `${deliveries.length} attempts (${deliveries.map((d) => d.answered).join(', ')}), status ${w?.state}/${w?.attempts}`,
      ok: verdict(problems),
      notes: [
        `${contacts.length} contacts ${job.status} in ${s1(job.seconds)}, output exact: ${job.check.exact ? 'yes' : 'no'}`,
        `one webhook-id (${deliveries[0]?.headers['webhook-id']}), ${new Set(deliveries.map((d) => d.headers['webhook-timestamp'])).size} timestamps, ${new Set(deliveries.map((d) => d.headers['webhook-signature'])).size} signatures, each verifying with Webhook.verify: ${deliveries.every((d) => !verifyError(secret, d.body, d.headers)) ? 'yes' : 'no'}`,
        `attempts at ${deliveries.map((d) => (d.at - deliveries[0].at).toFixed(1)).join(', ')} s from the first (gaps ${gaps(deliveries).join(', ')} s: the ladder's 1, 4, 16 s ±10%)`,
        `status webhook seen: ${states.join(' → ')}`,
        `refused: ${forged.map((f) => `${f.name} (${f.refusedWith ?? 'VERIFIED'})`).join('; ')}`,
        ...problems.map((p) => `PROBLEM ${p}`),
      ],
    };
  } finally {
    await receiver.close();
  }
};

const webhookDown: Scenario = async (ctx, n) => {
  const secret = await webhookSecret(ctx);
  const receiver = recordingReceiver(ctx, [], await freePort());
  try {
    const contacts = uniqueContacts(n(1000), 12, new Set());
    const job = await finish(
      ctx,
      await submit(ctx, { label: `${contacts.length} contacts`, contacts, callbackUrl: receiver.url() }),
    );
    const endedAt = since(ctx);
    const states: string[] = [];
    ctx.say(`  receiver down for ${ctx.opts.downSeconds} s`);
    // Watch the status while the port is closed, then open it.
    const watching = webhookSettled(ctx, job.requestId, ctx.opts.downSeconds, states).catch(() => undefined);
    await sleep(ctx.opts.downSeconds * 1000);
    await watching;
    await receiver.start();
    const upAt = since(ctx);
    ctx.say(`  receiver up at ${s1(upAt)}`);
    const settled = await webhookSettled(ctx, job.requestId, 1200, states);
    const { deliveries } = receiver;
    const problems = [...job.check.problems];
    const w = settled.webhook;
    if (w?.state !== 'delivered') problems.push(`status webhook ${JSON.stringify(w)}`);
    if (deliveries.length !== 1) problems.push(`${deliveries.length} deliveries reached the receiver, not 1`);
    for (const d of deliveries) {
      const error = verifyError(secret, d.body, d.headers);
      if (error) problems.push(`a delivery does not verify: ${error}`);
    }
    const at = deliveries[0]?.at;
    return {
      time: at === undefined ? '-' : `delivered ${s1(at - endedAt)} after the end`,
      result: `status ${w?.state}/${w?.attempts}, ${deliveries.length} reached the receiver`,
      ok: verdict(problems),
      notes: [
        `${contacts.length} contacts ${job.status} in ${s1(job.seconds)}; receiver up ${s1(upAt - endedAt)} after the end`,
        `status webhook seen: ${states.join(' → ')}`,
        at === undefined ? 'never delivered' : `delivered ${s1(at - upAt)} after the receiver came up, verifying`,
        ...problems.map((p) => `PROBLEM ${p}`),
      ],
    };
  } finally {
    await receiver.close().catch(() => undefined);
  }
};

const webhook410: Scenario = async (ctx, n) => {
  const receiver = recordingReceiver(ctx, [410]);
  await receiver.start();
  try {
    const contacts = uniqueContacts(n(1000), 13, new Set());
    const job = await finish(
      ctx,
      await submit(ctx, { label: `${contacts.length} contacts`, contacts, callbackUrl: receiver.url() }),
    );
    const settled = await webhookSettled(ctx, job.requestId, 60);
    // Longer than the first two steps of the ladder (1 s, 4 s): a retry would have come.
    await sleep(10_000);
    const problems = [...job.check.problems];
    const w = settled.webhook;
    if (w?.state !== 'failed' || w.attempts !== 1 || w.lastStatusCode !== 410)
      problems.push(`status webhook ${JSON.stringify(w)}, not failed after 1 attempt with 410`);
    if (receiver.deliveries.length !== 1) problems.push(`${receiver.deliveries.length} attempts, not 1`);
    return {
      time: s1(job.seconds),
      result: `${receiver.deliveries.length} attempt, status ${w?.state}/${w?.attempts} ${w?.lastStatusCode}`,
      ok: verdict(problems),
      notes: [
        `reason on the status: ${w?.reason}`,
        'no attempt in the 10 s after it',
        ...problems.map((p) => `PROBLEM ${p}`),
      ],
    };
  } finally {
    await receiver.close();
  }
};

async function cancelCall(ctx: Ctx, requestId: string) {
  return api<{ status?: string; message?: string }>(ctx, 'POST', `/enrichment/${requestId}/cancel`);
}

const cancelScenario: Scenario = async (ctx, n) => {
  const contacts = uniqueContacts(n(200_000), 14, new Set());
  const dir = mkdtempSync(path.join(tmpdir(), 'lifecycle-'));
  const file = path.join(dir, 'contacts.json');
  const saved = { url: process.env.API_URL, key: process.env.API_KEY };
  try {
    // 1. Upload the contacts as the scripts do (src/scripts/lib/upload.ts: presigned parts, no AWS credentials).
    await pipeline(Readable.from(renderContactsFile(contacts)), createWriteStream(file));
    process.env.API_URL = ctx.stack.apiUrl;
    process.env.API_KEY = ctx.keys[0];
    const uploadStart = since(ctx);
    const { reference } = await uploadContactsFile(file, { progress: false });
    ctx.say(`  uploaded ${contacts.length} contacts in ${s1(since(ctx) - uploadStart)}`);

    // 2. Submit; sample the mock's calls every second; cancel once the first batches are recorded.
    const samples: CallSample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await mockStats(ctx).catch(() => undefined);
        if (s) samples.push({ at: since(ctx), calls: s.calls });
        await sleep(1000);
      }
    })();
    let cancelAt: number | undefined;
    let cancelSample: CallSample | undefined;
    let cancelAnswer: { status: number; shown?: string } | undefined;
    let batchesAtCancel = 0;
    const sub = await submit(ctx, { label: `${contacts.length} contacts`, contacts, reference, cancelled: true });
    const job: JobResult = await finish(ctx, {
      ...sub,
      spec: {
        ...sub.spec,
        onPoll: async (status) => {
          if (cancelAt !== undefined || status.processedBatches < ctx.opts.cancelAfterBatches) return;
          batchesAtCancel = status.processedBatches;
          // A sample right before the cancel: the calls made by then, not a second ago.
          const s = await mockStats(ctx);
          cancelAt = since(ctx);
          cancelSample = { at: cancelAt, calls: s.calls };
          const res = await cancelCall(ctx, sub.requestId);
          cancelAnswer = { status: res.status, shown: res.body.status };
          ctx.say(`  cancel at ${s1(cancelAt)} after ${batchesAtCancel} batches: ${res.status} ${res.body.status}`);
        },
      },
    });
    const endedAt = since(ctx);
    // Ten more seconds of samples after the end: the count must stay where it is.
    await sleep(10_000);
    sampling = false;
    await sampler;

    // 3. Cancel again, the other formats, and a completed request's cancel.
    const again = await cancelCall(ctx, job.requestId);
    const key = ctx.keys[0];
    const downloadUrl = `${ctx.stack.apiUrl}/enrichment/${job.requestId}/download`;
    const ndjson = await downloadText(`${downloadUrl}?format=ndjson`, key);
    const csv = await downloadText(`${downloadUrl}?format=csv`, key);
    const formats = formatProblems(job.rows, ndjson, csv);
    const small = uniqueContacts(100, 15, new Set());
    const done = await finish(ctx, await submit(ctx, { label: 'completed 100', contacts: small }));
    const late = await cancelCall(ctx, done.requestId);

    const problems = [...job.check.problems, ...formats];
    if (cancelAt === undefined) problems.push('the request ended before the cancel');
    if (cancelAnswer?.status !== 202) problems.push(`the cancel answered ${cancelAnswer?.status}`);
    if (job.status !== 'cancelled') problems.push(`ended ${job.status}, not cancelled`);
    if (![200, 202].includes(again.status)) problems.push(`the second cancel answered ${again.status}`);
    if (late.status !== 409 || !String(late.body.message).includes(done.status))
      problems.push(`a cancel of a ${done.status} request answered ${late.status} ${late.body.message}`);
    const calls =
      cancelAt === undefined || !cancelSample
        ? undefined
        : callsAfterCancel(
            [...samples, cancelSample].sort((a, b) => a.at - b.at),
            cancelAt,
          );
    if (calls && calls.flatFor < 10)
      problems.push(`the call count was still growing ${s1(calls.flatFor)} before the end`);
    const sum = job.summary;
    const perSecond = samples.slice(1).map((s, i) => s.calls - samples[i].calls);
    const lastNonZero = perSecond.reduce((last, v, i) => (v ? i : last), -1);
    const shownPerSecond = `${perSecond.slice(0, lastNonZero + 2).join(' ')} (then 0 for the last ${perSecond.length - lastNonZero - 2} s)`;
    return {
      time: `${s1(job.seconds)} (cancel at ${cancelAt === undefined ? '-' : s1(cancelAt - (sub.t0 - ctx.t0) / 1000)})`,
      result: calls
        ? `calls ${calls.atCancel} at the cancel, +${calls.afterCancel} after, none after ${s1(calls.lastGrowthAfter)}`
        : '-',
      ok: verdict(problems),
      notes: [
        `${contacts.length} contacts uploaded; cancel after ${batchesAtCancel} of ${Math.ceil(contacts.length / 100)} batches: ${cancelAnswer?.status} ${cancelAnswer?.shown}; ended ${job.status} ${s1(endedAt - (cancelAt ?? endedAt))} after it`,
        `summary ${JSON.stringify(sum)}: ${(sum?.enriched ?? 0) + (sum?.not_found ?? 0) + (sum?.failed ?? 0) + (sum?.cancelled ?? 0)} of ${contacts.length}; JSON rows in order, each once: ${job.check.exact ? 'yes' : 'no'}; NDJSON and CSV the same rows: ${formats.length ? 'no' : 'yes'}`,
        `provider calls per second (from the submission): ${shownPerSecond}`,
        `cancel again: ${again.status} ${again.body.status}; cancel of a ${done.status} request: ${late.status} (${late.body.message})`,
        ...problems.map((p) => `PROBLEM ${p}`),
      ],
    };
  } finally {
    process.env.API_URL = saved.url;
    process.env.API_KEY = saved.key;
    if (saved.url === undefined) delete process.env.API_URL;
    if (saved.key === undefined) delete process.env.API_KEY;
    rmSync(dir, { recursive: true, force: true });
  }
};

const RUN: Record<ScenarioName, Scenario> = {
  'webhook-retries': webhookRetries,
  'webhook-down': webhookDown,
  'webhook-410': webhook410,
  cancel: cancelScenario,
};

export async function runLifecycleBench(args: string[]): Promise<number> {
  const opts = parseLifecycleOptions(args);
  const say = (s: string) => console.error(s);
  const rows: LifecycleRow[] = [];
  const stacks = scenarioStacks(opts, say);
  for (const name of opts.scenarios) {
    try {
      const row = await stacks.run(name, {}, async (base, started) => {
        const r = await RUN[name]({ ...base, opts, t0: performance.now() }, (x) =>
          Math.max(100, Math.round(x * opts.scale)),
        );
        return { ...r, notes: [...r.notes, started.note()] };
      });
      rows.push({ scenario: name, ...row });
    } catch (err) {
      rows.push({ scenario: name, time: '-', result: '-', ok: 'no', notes: [`error: ${(err as Error).message}`] });
    }
    const last = rows[rows.length - 1];
    say(`${name}: ${last.time}, ok ${last.ok}; ${last.notes.join('; ')}`);
  }
  stacks.close();
  if (opts.json) console.log(JSON.stringify({ scale: opts.scale, workers: opts.workers, rows }, null, 2));
  else {
    console.log(
      `Lifecycle scenarios (scale ${opts.scale}, LOCAL_WORKERS=${opts.workers}, ${new Date().toISOString()}):\n`,
    );
    const header = ['scenario', 'time', 'result', 'ok', 'notes'];
    console.log(markdownRow(header));
    console.log(markdownRow(header.map(() => '---')));
    for (const r of rows) console.log(markdownRow([r.scenario, r.time, r.result, r.ok, r.notes.join('; ')]));
  }
  return rows.every((r) => r.ok === 'yes') ? 0 : 1;
}
