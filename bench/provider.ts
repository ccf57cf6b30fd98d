/**
 * npm run bench -- --provider: the pipeline against a provider that limits and bills (issue 17, "Must show"), on the
 * offline stack as a user runs it: each scenario starts `npm start`'s stack (src/local/stack.ts: the emulators, the
 * local IAM edge, serverless offline with the real handlers, the stack's own mock) in this process with its own
 * environment, sends its requests over HTTP with the stack's API keys, checks that every output is exact, and stops
 * the stack before the next one. One markdown table row per scenario on stdout (progress on stderr).
 *
 *   npm run bench -- --provider                                   # every scenario, full size (about 15-20 min)
 *   npm run bench -- --provider --scenarios limit-on,limit-off    # some of them
 *   npm run bench -- --provider --scale 0.1 --outage-seconds 20   # small, for development
 *   npm run bench -- --provider --json                            # the rows and every request's details as JSON
 *
 * Scenarios (docs/benchmarks.md, "A provider that limits and bills"):
 *   limit-on   MOCK_RATE_LIMIT=600/60 s, PROVIDER_CALLS_PER_MINUTE=600, 30k contacts (300 calls): 30 s ± 15%, ≤ 2% 429s
 *   limit-off  the same with PROVIDER_CALLS_PER_MINUTE=0: the baseline
 *   credits    MOCK_CREDITS=5000, 20k contacts: the calls after the first 402, `waitingFor`, then a top-up
 *   cache      10k twice (dedupe: false), then half new, then the same from another API key (CACHE_SCOPE=owner)
 *   replay     MOCK_INVALID_MODE=call: the issue's breaker case, a poison request and three 3k ones right behind it
 *   outage     20k contacts through a 180 s POST /mock/outage
 *   pdl        ENRICHMENT_PROVIDER=peopledatalabs against the mock's dialect, 5k with 404s, a 429 and a 402
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { StatusResponse } from '../src/core/status';
import { stackOptionsFromEnv, startStack, type Stack } from '../src/local/stack';
import { freePort } from '../src/local/tcpPorts';
import type { Contact } from '../src/schemas/contact';
import { DEFAULT_FIELDS } from '../src/scripts/lib/api';
import { generateContacts } from '../src/scripts/lib/contacts';
import {
  COUNTERS,
  checkExact,
  counterDelta,
  firstDifference,
  markdownRow,
  usageVersusMock,
  type ExactnessCheck,
  type MockCounters,
  type OutputRow,
  type Usage,
} from './providerChecks';

const SCENARIOS = ['limit-on', 'limit-off', 'credits', 'cache', 'replay', 'outage', 'pdl'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

interface Options {
  scenarios: ScenarioName[];
  scale: number;
  workers: number;
  outageSeconds: number;
  creditPauseSeconds: number;
  timeoutSeconds: number;
  poisonTimeoutSeconds: number;
  json: boolean;
  logs: boolean;
}

/** Two fresh API keys (`<prefix>-a-…`, `<prefix>-b-…`) and two distinct free ports for a stack of a bench's own. */
export async function stackAddress(prefix: string) {
  const keys: [string, string] = [
    `${prefix}-a-${randomBytes(8).toString('hex')}`,
    `${prefix}-b-${randomBytes(8).toString('hex')}`,
  ];
  const port = await freePort();
  let lambdaPort = await freePort();
  while (lambdaPort === port) lambdaPort = await freePort();
  return { keys, port, lambdaPort };
}

/** The scenarios a --scenarios list names, each one known (a bench's option parsing). */
export function scenarioList<T extends string>(list: string, known: readonly T[]): T[] {
  const scenarios = list.split(',').filter(Boolean) as T[];
  const unknown = scenarios.filter((s) => !known.includes(s));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return scenarios;
}

/** A numeric option that must be above 0. */
export function positive(name: string, v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
  return n;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      scenarios: { type: 'string', default: SCENARIOS.join(',') },
      // Multiplies every request's size and the credits (not the rates): 0.1 for development.
      scale: { type: 'string', default: '1' },
      // LOCAL_WORKERS of every scenario's stack (the issue's 16).
      workers: { type: 'string', default: '16' },
      'outage-seconds': { type: 'string', default: '180' },
      // How long the credits scenario watches the calls after the first 402 before it tops the credits up.
      'credit-pause-seconds': { type: 'string', default: '30' },
      // Per request: a request still running after it fails the scenario.
      'timeout-seconds': { type: 'string', default: '1800' },
      // The replay's poison request: given up on (and reported) if it has not ended by then.
      'poison-timeout-seconds': { type: 'string', default: '900' },
      json: { type: 'boolean', default: false },
      // The stack's own output (serverless offline, the functions' JSON logs) on this terminal.
      logs: { type: 'boolean', default: false },
    },
  });
  const scenarios = scenarioList(values.scenarios, SCENARIOS);
  return {
    scenarios,
    scale: positive('scale', values.scale),
    workers: positive('workers', values.workers),
    outageSeconds: positive('outage-seconds', values['outage-seconds']),
    creditPauseSeconds: positive('credit-pause-seconds', values['credit-pause-seconds']),
    timeoutSeconds: positive('timeout-seconds', values['timeout-seconds']),
    poisonTimeoutSeconds: positive('poison-timeout-seconds', values['poison-timeout-seconds']),
    json: values.json,
    logs: values.logs,
  };
}

export type Status = StatusResponse & { usage?: Usage; waitingFor?: string };
type Stats = MockCounters & { creditsLeft: number | null; byDialect: Record<string, number> };

/** A running stack and its keys: what bench/lifecycle.ts's scenarios share with these. */
export interface StackCtx {
  stack: Stack;
  /** The stack's two API keys: the first is also the one its workers send to its mock. */
  keys: [string, string];
  say(s: string): void;
}

/** A running stack and what the scenario needs of it. */
interface Ctx extends StackCtx {
  opts: Options;
}

const identityOf = (c: Contact) => `${c.first_name}|${c.last_name}|${c.company_domain}`.trim().toLowerCase();

/**
 * `count` contacts as createJson.ts makes them (seeded), none repeated and none in `taken` (which it extends), so that
 * the provider's and the cache's counters can be compared with the contacts exactly.
 */
export function uniqueContacts(count: number, seed: number, taken: Set<string>): Contact[] {
  const out: Contact[] = [];
  for (const c of generateContacts(count * 2 + 1000, { seed })) {
    if (out.length === count) break;
    const id = identityOf(c);
    if (taken.has(id)) continue;
    taken.add(id);
    out.push(c);
  }
  if (out.length < count) throw new Error(`only ${out.length} distinct contacts of ${count} from seed ${seed}`);
  return out;
}

export async function api<T>(ctx: StackCtx, method: 'GET' | 'POST', path: string, body?: unknown, key = ctx.keys[0]) {
  const res = await fetch(`${ctx.stack.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T };
}

export async function mockStats(ctx: StackCtx): Promise<Stats> {
  const res = await api<Stats>(ctx, 'GET', '/mock/stats');
  if (res.status !== 200) throw new Error(`GET /mock/stats answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function mockPost(ctx: StackCtx, path: '/mock/credits' | '/mock/outage', body: unknown): Promise<unknown> {
  const res = await api(ctx, 'POST', path, body);
  if (res.status !== 200) throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

export interface JobSpec {
  label: string;
  contacts: Contact[];
  /** Sent instead of the contacts: the `s3://` reference of the same contacts uploaded (src/scripts/lib/upload.ts). */
  reference?: string;
  callbackUrl?: string;
  /** The request may end `cancelled`: its output's `cancelled` rows are then counted, not refused. */
  cancelled?: boolean;
  key?: string;
  /** Sent as the request's `dedupe` (false: a new job even for the same contacts). */
  dedupe?: boolean;
  /** The contacts that may (and must) end `failed`: none unless given. */
  mayFail?: (c: Contact) => boolean;
  /** Still running after this long: reported as not exact instead of failing the scenario. */
  giveUpAfterSeconds?: number;
  /** Called at each status poll (every 500 ms) with the status and the seconds since the submission. */
  onPoll?: (status: Status, seconds: number) => Promise<void>;
}

export interface Submitted {
  spec: JobSpec;
  t0: number;
  requestId: string;
  downloadUrl: string;
}

export interface JobResult {
  label: string;
  requestId: string;
  contacts: number;
  seconds: number;
  status: string;
  summary?: Status['summary'];
  failedBatches: number;
  usage?: Usage;
  /** Every `waitingFor` value the polls saw. */
  waitingFor: string[];
  check: ExactnessCheck;
  rows: OutputRow[];
}

export async function submit(ctx: StackCtx, spec: JobSpec): Promise<Submitted> {
  const t0 = performance.now();
  const res = await api<{ requestId: string; downloadUrl: string }>(
    ctx,
    'POST',
    '/enrichment',
    {
      contacts: spec.reference ?? spec.contacts,
      fields_to_enrich: DEFAULT_FIELDS,
      ...(spec.dedupe === undefined ? {} : { dedupe: spec.dedupe }),
      ...(spec.callbackUrl === undefined ? {} : { callbackUrl: spec.callbackUrl }),
    },
    spec.key,
  );
  if (res.status !== 202)
    throw new Error(
      `${spec.label}: POST /enrichment answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`,
    );
  return { spec, t0, requestId: res.body.requestId, downloadUrl: res.body.downloadUrl };
}

/** The output as a client downloads it: the API's link (with the key), then the presigned URL (without). */
export async function download(url: string, key: string): Promise<OutputRow[]> {
  return (JSON.parse(await downloadText(url, key)) as { enriched_contacts: OutputRow[] }).enriched_contacts;
}

/** The output's text as a client downloads it (`url` may carry `?format=`). */
export async function downloadText(url: string, key: string): Promise<string> {
  const first = await fetch(url, { redirect: 'manual', headers: { 'x-api-key': key } });
  const location = first.headers.get('location');
  if (!location) throw new Error(`download ${url} answered ${first.status}: ${(await first.text()).slice(0, 300)}`);
  await first.body?.cancel();
  const res = await fetch(new URL(location, url));
  if (!res.ok) throw new Error(`download answered ${res.status}`);
  return res.text();
}

export async function finish(ctx: StackCtx & { opts: { timeoutSeconds: number } }, sub: Submitted): Promise<JobResult> {
  const { spec } = sub;
  const key = spec.key ?? ctx.keys[0];
  const waitingFor = new Set<string>();
  const deadline = sub.t0 + ctx.opts.timeoutSeconds * 1000;
  let errors = 0;
  let status: Status;
  for (;;) {
    const res = await api<Status>(ctx, 'GET', `/enrichment/${sub.requestId}`, undefined, key).catch((err: Error) => ({
      status: 0,
      body: err.message as unknown as Status,
    }));
    if (res.status !== 200) {
      // The edge's 504 or a refused connection under load: a few in a row are tolerated, as the scripts do.
      if (++errors >= 5) throw new Error(`${spec.label}: GET status answered ${res.status}: ${String(res.body)}`);
    } else {
      errors = 0;
      status = res.body;
      if (status.waitingFor) waitingFor.add(status.waitingFor);
      await spec.onPoll?.(status, (performance.now() - sub.t0) / 1000);
      if (!['processing', 'validating', 'cancelling'].includes(status.status)) break;
    }
    const seconds = (performance.now() - sub.t0) / 1000;
    if (spec.giveUpAfterSeconds !== undefined && seconds > spec.giveUpAfterSeconds && status!) {
      const problem = `still ${status.status} after ${s1(seconds)} (${status.processedBatches}/${status.totalBatches} batches)`;
      ctx.say(`  ${spec.label}: ${problem}: given up`);
      return {
        label: spec.label,
        requestId: sub.requestId,
        contacts: spec.contacts.length,
        seconds,
        status: `${status.status} (given up)`,
        summary: status.summary,
        failedBatches: status.failedBatches,
        usage: status.usage,
        waitingFor: [...waitingFor],
        check: { exact: false, counts: { enriched: 0, not_found: 0, failed: 0 }, problems: [problem] },
        rows: [],
      };
    }
    if (performance.now() > deadline)
      throw new Error(`${spec.label}: still running after ${ctx.opts.timeoutSeconds} s (--timeout-seconds)`);
    await sleep(500);
  }
  const seconds = (performance.now() - sub.t0) / 1000;
  const rows = await download(sub.downloadUrl, key);
  const check = checkExact(rows, spec.contacts, {
    summary: status.summary,
    mayFail: spec.mayFail,
    cancelled: spec.cancelled,
  });
  ctx.say(
    `  ${spec.label}: ${status.status} in ${seconds.toFixed(1)} s, ${JSON.stringify(status.summary)}${check.exact ? '' : `, NOT exact: ${check.problems.join('; ')}`}`,
  );
  return {
    label: spec.label,
    requestId: sub.requestId,
    contacts: spec.contacts.length,
    seconds,
    status: status.status,
    summary: status.summary,
    failedBatches: status.failedBatches,
    usage: status.usage,
    waitingFor: [...waitingFor],
    check,
    rows,
  };
}

interface Group {
  jobs: JobResult[];
  delta: MockCounters;
  byDialect: Record<string, number>;
  usage: ReturnType<typeof usageVersusMock>;
}

/**
 * Requests submitted in order, then run side by side; the mock's counters around them all. Their usage is compared
 * with the counters together (the mock cannot tell requests that run at once apart).
 */
async function runGroup(ctx: Ctx, specs: JobSpec[]): Promise<Group> {
  const before = await mockStats(ctx);
  const submitted: Submitted[] = [];
  for (const spec of specs) submitted.push(await submit(ctx, spec));
  const jobs = await Promise.all(submitted.map((s) => finish(ctx, s)));
  const after = await mockStats(ctx);
  const delta = counterDelta(before, after);
  const byDialect = Object.fromEntries(
    Object.keys(after.byDialect).map((d) => [d, (after.byDialect[d] ?? 0) - (before.byDialect[d] ?? 0)]),
  );
  return {
    jobs,
    delta,
    byDialect,
    usage: usageVersusMock(
      jobs.map((j) => j.usage),
      delta,
    ),
  };
}

export interface ScenarioRow {
  scenario: string;
  time: string;
  calls: number;
  throttled: number;
  creditErrors: number;
  serverErrors: number;
  matches: number;
  usage: string;
  exact: 'yes' | 'no';
  notes: string[];
  /** Environment the scenario's stack ran with (beyond the defaults). */
  env: Record<string, string>;
  groups: Array<Omit<Group, 'jobs'> & { jobs: Array<Omit<JobResult, 'rows'>> }>;
}

const sumDeltas = (groups: Group[]): MockCounters =>
  Object.fromEntries(COUNTERS.map((k) => [k, groups.reduce((a, g) => a + g.delta[k], 0)])) as never;

type ScenarioResult = Omit<ScenarioRow, 'env' | 'scenario'>;

/** The scenario's table row from its groups: counters summed, exact only if every request is and no problem is left. */
function rowOf(groups: Group[], time: string, notes: string[], problems: string[] = []): ScenarioResult {
  const d = sumDeltas(groups);
  const verdicts = groups.map((g) => g.usage.verdict);
  const usage = verdicts.includes('no')
    ? groups
        .filter((g) => g.usage.verdict === 'no')
        .map((g) => g.usage.text)
        .join('; ')
    : verdicts.every((v) => v === 'yes')
      ? 'yes'
      : 'n/a';
  const inexact = groups.flatMap((g) => g.jobs.filter((j) => !j.check.exact));
  return {
    time,
    calls: d.calls,
    throttled: d.throttled,
    creditErrors: d.creditErrors,
    serverErrors: d.serverErrors,
    matches: d.matches,
    usage,
    exact: inexact.length === 0 && problems.length === 0 ? 'yes' : 'no',
    notes: [
      ...notes,
      ...inexact.map((j) => `${j.label} NOT exact: ${j.check.problems.slice(0, 3).join('; ')}`),
      ...problems,
    ],
    groups: groups.map((g) => ({ ...g, jobs: g.jobs.map(({ rows: _rows, ...j }) => j) })),
  };
}

export const s1 = (seconds: number) => `${seconds.toFixed(1)} s`;
const pct = (part: number, whole: number) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : '0%');

type Scenario = (ctx: Ctx, n: (contacts: number) => number) => Promise<ScenarioResult>;

/** What each scenario's stack runs with, beyond `npm start`'s defaults. */
function scenarioEnv(name: ScenarioName, opts: Options): Record<string, string> {
  const scaled = (x: number) => String(Math.max(1, Math.round(x * opts.scale)));
  switch (name) {
    // The limiter alone: the cache off, whose writes cost the emulators as much as the job (its own rows: cache, and
    // bench/run.ts's off/cold/warm).
    case 'limit-on':
      return {
        MOCK_RATE_LIMIT: '600',
        MOCK_RATE_WINDOW_SECONDS: '60',
        PROVIDER_CALLS_PER_MINUTE: '600',
        CACHE_TTL_DAYS: '0',
      };
    case 'limit-off':
      return {
        MOCK_RATE_LIMIT: '600',
        MOCK_RATE_WINDOW_SECONDS: '60',
        PROVIDER_CALLS_PER_MINUTE: '0',
        CACHE_TTL_DAYS: '0',
      };
    case 'credits':
      return { MOCK_CREDITS: scaled(5000), PROVIDER_CREDIT_RETRY_SECONDS: '10' };
    case 'cache':
      return { CACHE_SCOPE: 'owner', CACHE_TTL_DAYS: '30' };
    case 'replay':
      return { MOCK_INVALID_MODE: 'call' };
    case 'outage':
      return {};
    case 'pdl':
      // The mock allows 40% of the request's calls per 10 s window and the fleet's limit is set above it (600/min, as
      // a key shared with another application would make it): 429s come, and the shared pause takes them. Credits for
      // 40% of the contacts: about 42% of the matches, so 402s come, then a top-up.
      return {
        ENRICHMENT_PROVIDER: 'peopledatalabs',
        MOCK_RATE_LIMIT: String(Math.max(2, Math.round(50 * opts.scale * 0.4))),
        MOCK_RATE_WINDOW_SECONDS: '10',
        PROVIDER_CALLS_PER_MINUTE: '600',
        MOCK_CREDITS: scaled(2000),
        PROVIDER_CREDIT_RETRY_SECONDS: '10',
      };
  }
}

/** One request with the shared limit on or off: its time and 429s against the targets. */
/**
 * The mock's calls over time, sampled every `everyMs` from just before the request's POST: when the first and the last
 * call went out (to a sample), and the calls per second in between, so the job's time splits into before the first
 * call (upload, fan-out), the calls, and after the last call (results, assembly).
 */
function callTimeline(ctx: Ctx, everyMs = 200) {
  const t0 = performance.now();
  const samples: { at: number; calls: number; throttled: number }[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const s = await mockStats(ctx).catch(() => undefined);
      if (s) samples.push({ at: (performance.now() - t0) / 1000, calls: s.calls, throttled: s.throttled });
      await sleep(everyMs);
    }
  })();
  return async () => {
    stopped = true;
    await done;
    const base = samples[0]?.calls ?? 0;
    const total = (samples[samples.length - 1]?.calls ?? base) - base;
    const first = samples.find((x) => x.calls > base)?.at;
    const last = samples.find((x) => x.calls - base >= total)?.at;
    // Calls seen by the end of each second (the last sample in it, or the one before), then their differences.
    const cumulative: number[] = [];
    for (const x of samples) cumulative[Math.floor(x.at)] = x.calls - base;
    for (let i = 0; i < cumulative.length; i++) cumulative[i] ??= i ? cumulative[i - 1] : 0;
    const bySecond = cumulative.map((v, i) => v - (i ? cumulative[i - 1] : 0));
    return { first, last, total, bySecond };
  };
}

const limitScenario =
  (on: boolean): Scenario =>
  async (ctx, n) => {
    const contacts = uniqueContacts(n(30_000), 1, new Set());
    const timeline = callTimeline(ctx);
    const g = await runGroup(ctx, [{ label: `${contacts.length} contacts`, contacts }]);
    const calls_ = await timeline();
    ctx.say(`  calls per second: ${calls_.bySecond.join(' ')}`);
    const job = g.jobs[0];
    const calls = Math.ceil(contacts.length / 100);
    // 600 calls per minute: the request's calls take calls / 10 seconds.
    const target = calls / 10;
    const inTarget = Math.abs(job.seconds - target) <= 0.15 * target;
    const share = g.delta.calls ? g.delta.throttled / g.delta.calls : 0;
    return rowOf([g], s1(job.seconds), [
      on
        ? `target ${s1(target)} ± 15%: ${inTarget ? 'met' : 'missed'}; 429 share ${pct(g.delta.throttled, g.delta.calls)} (≤ 2%: ${share <= 0.02 ? 'met' : 'missed'})`
        : `baseline, shared limit off: ${g.delta.throttled} 429s (${pct(g.delta.throttled, g.delta.calls)} of calls)`,
      `${calls} batches of 100; status ${job.status}`,
      calls_.first === undefined || calls_.last === undefined
        ? 'no call seen'
        : `first call by ${s1(calls_.first)}, last by ${s1(calls_.last)} (${((calls_.total - 1) / Math.max(0.001, calls_.last - calls_.first)).toFixed(1)} calls/s between), done ${s1(job.seconds - calls_.last)} after it`,
    ]);
  };

/**
 * Watches a request's calls after the mock's first 402: records what the status says and the calls and 402s made
 * for `pauseSeconds`, then tops the credits up by `topUp`.
 */
function creditWatch(ctx: Ctx, pauseSeconds: number, topUp: number, before: Stats) {
  const seen = {
    first402At: undefined as number | undefined,
    callsAt402: 0,
    creditErrorsAt402: 0,
    callsWhilePaused: 0,
    creditErrorsWhilePaused: 0,
    waitingFor: new Set<string>(),
    failedBatchesAtTopUp: 0,
    toppedUpAt: undefined as number | undefined,
  };
  const onPoll = async (status: Status, seconds: number) => {
    if (seen.toppedUpAt !== undefined) return;
    const stats = await mockStats(ctx);
    if (seen.first402At === undefined) {
      if (stats.creditErrors > before.creditErrors) {
        seen.first402At = seconds;
        seen.callsAt402 = stats.calls;
        seen.creditErrorsAt402 = stats.creditErrors;
        ctx.say(`  first 402 at ${s1(seconds)}: watching the calls for ${pauseSeconds} s`);
      }
      return;
    }
    seen.waitingFor.add(status.waitingFor ?? '(none)');
    if (seconds - seen.first402At < pauseSeconds) return;
    seen.callsWhilePaused = stats.calls - seen.callsAt402;
    seen.creditErrorsWhilePaused = stats.creditErrors - seen.creditErrorsAt402;
    seen.failedBatchesAtTopUp = status.failedBatches;
    await mockPost(ctx, '/mock/credits', { add: topUp });
    seen.toppedUpAt = seconds;
    ctx.say(`  topped up ${topUp} credits at ${s1(seconds)}`);
  };
  const notes = () =>
    seen.first402At === undefined
      ? ['no 402 before the request ended']
      : [
          `first 402 at ${s1(seen.first402At)}; in the ${pauseSeconds} s after it: ${seen.callsWhilePaused} calls, ${seen.creditErrorsWhilePaused} of them 402`,
          `waitingFor seen while paused: ${[...seen.waitingFor].join(', ')}`,
          seen.toppedUpAt === undefined
            ? 'the request ended before the top-up'
            : `+${topUp} credits at ${s1(seen.toppedUpAt)} (failed batches then: ${seen.failedBatchesAtTopUp})`,
        ];
  return { onPoll, notes, seen };
}

const creditsScenario: Scenario = async (ctx, n) => {
  const contacts = uniqueContacts(n(20_000), 2, new Set());
  const watch = creditWatch(ctx, ctx.opts.creditPauseSeconds, contacts.length, await mockStats(ctx));
  const g = await runGroup(ctx, [{ label: `${contacts.length} contacts`, contacts, onPoll: watch.onPoll }]);
  const job = g.jobs[0];
  return rowOf([g], s1(job.seconds), [...watch.notes(), `status ${job.status}, failed ${job.summary?.failed ?? '?'}`]);
};

const cacheScenario: Scenario = async (ctx, n) => {
  const taken = new Set<string>();
  const a = uniqueContacts(n(10_000), 3, taken);
  const fresh = uniqueContacts(Math.floor(a.length / 2), 4, taken);
  // Half of the first contacts and as many new ones, interleaved: every batch holds both.
  const half = fresh.flatMap((c, i) => [a[i], c]);
  const first = await runGroup(ctx, [{ label: 'first', contacts: a, dedupe: false }]);
  const second = await runGroup(ctx, [{ label: 'second (same contacts)', contacts: a, dedupe: false }]);
  const third = await runGroup(ctx, [{ label: 'third (50% new)', contacts: half, dedupe: false }]);
  const other = await runGroup(ctx, [
    { label: 'other API key (same contacts)', contacts: a, dedupe: false, key: ctx.keys[1] },
  ]);
  const [t1, t2] = [first.jobs[0].seconds, second.jobs[0].seconds];
  const problems: string[] = [];
  if (second.delta.calls !== 0) problems.push(`second job made ${second.delta.calls} provider calls, not 0`);
  const diff = firstDifference(first.jobs[0].rows, second.jobs[0].rows);
  if (diff) problems.push(`second job's rows differ from the first's: ${diff}`);
  const notCached = second.jobs[0].rows.filter((r) => r.source !== 'cache').length;
  if (notCached) problems.push(`${notCached} rows of the second job are not source: cache`);
  if (third.delta.contacts !== fresh.length)
    problems.push(`third job sent ${third.delta.contacts} contacts, not the ${fresh.length} new ones`);
  if (other.delta.contacts !== a.length)
    problems.push(`the other key's job sent ${other.delta.contacts} contacts, not its ${a.length}`);
  const hits = second.jobs[0].usage?.cacheHits;
  if (hits !== undefined && hits !== a.length) problems.push(`second job's usage.cacheHits ${hits}, not ${a.length}`);
  return rowOf(
    [first, second, third, other],
    `${s1(t1)} → ${s1(t2)} (${(t1 / t2).toFixed(1)}× faster)`,
    [
      `${a.length} contacts: calls ${first.delta.calls} → ${second.delta.calls}, rows equal apart from source/cachedAt: ${diff ? 'no' : 'yes'}`,
      `50% new: ${third.delta.contacts} contacts sent for ${fresh.length} new (${third.delta.calls} calls, ${s1(third.jobs[0].seconds)})`,
      `other key: ${other.delta.calls} calls, ${other.delta.contacts} contacts sent (${s1(other.jobs[0].seconds)})`,
    ],
    problems,
  );
};

/**
 * The issue's breaker case: a request of 100 contacts every call of which fails (MOCK_INVALID_MODE=call), and three
 * healthy 3k requests right behind it: those exact with none failed, the poison one exact with all 100 failed.
 */
const replayScenario: Scenario = async (ctx, n) => {
  const taken = new Set<string>();
  const poison = Array.from({ length: 100 }, (_, i) => ({
    first_name: 'Poison',
    last_name: `Contact${i}`,
    company_domain: `poison${i}.invalid`,
  }));
  const g = await runGroup(ctx, [
    {
      label: 'poison (100 .invalid)',
      contacts: poison,
      mayFail: (c) => c.company_domain.endsWith('.invalid'),
      giveUpAfterSeconds: ctx.opts.poisonTimeoutSeconds,
    },
    ...[5, 6, 7].map((seed, i) => ({ label: `healthy ${i + 1}`, contacts: uniqueContacts(n(3000), seed, taken) })),
  ]);
  const [bad, ...healthy] = g.jobs;
  return rowOf(
    [g],
    `3 × ${healthy[0].contacts}: ${healthy.map((j) => s1(j.seconds)).join(', ')}; poison ${s1(bad.seconds)}`,
    [
      `poison request ${bad.status}, ${bad.summary?.failed ?? '?'} failed of 100`,
      `healthy ones ${healthy.map((j) => `${j.status} (failed ${j.summary?.failed ?? '?'})`).join(', ')}`,
      `${g.delta.serverErrors} calls answered 500`,
    ],
  );
};

/** A request during which the mock answers 500 to every call for --outage-seconds (POST /mock/outage). */
const outageScenario: Scenario = async (ctx, n) => {
  const big = uniqueContacts(n(20_000), 8, new Set());
  let outageAt: number | undefined;
  const g = await runGroup(ctx, [
    {
      label: `${big.length} contacts through the outage`,
      contacts: big,
      // The outage starts once a tenth of the batches are recorded: mid-run.
      onPoll: async (status, seconds) => {
        if (outageAt !== undefined || status.processedBatches < Math.ceil((status.totalBatches ?? 1) / 10)) return;
        await mockPost(ctx, '/mock/outage', { seconds: ctx.opts.outageSeconds });
        outageAt = seconds;
        ctx.say(`  outage of ${ctx.opts.outageSeconds} s from ${s1(seconds)}`);
      },
    },
  ]);
  const job = g.jobs[0];
  return rowOf(
    [g],
    s1(job.seconds),
    [
      `outage ${ctx.opts.outageSeconds} s from ${outageAt === undefined ? '-' : s1(outageAt)}: ${g.delta.serverErrors} calls answered 500`,
      `${job.status}, failed ${job.summary?.failed ?? '?'}`,
    ],
    outageAt === undefined ? ['the outage never started (the request ended first)'] : [],
  );
};

const pdlScenario: Scenario = async (ctx, n) => {
  const contacts = uniqueContacts(n(5000), 9, new Set());
  const watch = creditWatch(ctx, Math.min(10, ctx.opts.creditPauseSeconds), contacts.length, await mockStats(ctx));
  const g = await runGroup(ctx, [{ label: `${contacts.length} contacts (PDL)`, contacts, onPoll: watch.onPoll }]);
  const job = g.jobs[0];
  const problems: string[] = [];
  if (!job.check.counts.not_found) problems.push('no 404 (not_found) in the run');
  if (!g.delta.throttled) problems.push('no 429 in the run');
  if (!g.delta.creditErrors) problems.push('no 402 in the run');
  if ((g.byDialect.peopledatalabs ?? 0) !== g.delta.calls)
    problems.push(`only ${g.byDialect.peopledatalabs} of ${g.delta.calls} calls in the PDL dialect`);
  return rowOf(
    [g],
    s1(job.seconds),
    [
      `PDL dialect calls ${g.byDialect.peopledatalabs ?? 0}; matches ${job.check.counts.enriched}, 404s ${job.check.counts.not_found}`,
      ...watch.notes(),
    ],
    problems,
  );
};

/** When a scenario's stack was ready, and the machine's load then and now (for its notes). */
export interface Started {
  readySeconds: number;
  loadBefore: string;
  /** `load 1.2 → 1.9 (1-min average), stack ready in 14.0 s`, the load read now. */
  note(): string;
}

/**
 * The stacks of a bench's scenarios, one at a time: `run` starts `npm start`'s stack in this process with the
 * scenario's environment and two fresh API keys on free ports, hands it to the scenario and stops it after (whatever
 * happens). Ctrl-C stops the stack under way before exiting (its serverless offline has a watchdog too).
 */
export function scenarioStacks(opts: { workers: number; logs: boolean }, say: (s: string) => void) {
  let current: Stack | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    say(`\n${signal}: stopping the stack…`);
    void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    async run<T>(name: string, env: Record<string, string>, scenario: (ctx: StackCtx, started: Started) => Promise<T>) {
      const loadBefore = loadavg()[0].toFixed(1);
      const shown = Object.entries(env).map(([k, v]) => `${k}=${v}`);
      say(`${name}: starting the stack (${shown.join(' ') || 'defaults'}), load ${loadBefore}`);
      const { keys, port, lambdaPort } = await stackAddress('bench');
      const t0 = performance.now();
      try {
        current = await startStack({
          ...stackOptionsFromEnv(),
          port,
          lambdaPort,
          s3SqsPort: 0,
          dynamodbPort: 0,
          workers: opts.workers,
          apiKeys: keys,
          stdio: opts.logs ? 'inherit' : 'ignore',
          env: { ...(opts.logs ? {} : { LOG_SILENT: 'true' }), ...env },
        });
        const readySeconds = (performance.now() - t0) / 1000;
        say(`${name}: stack ready in ${s1(readySeconds)} at ${current.apiUrl}`);
        return await scenario(
          { stack: current, keys, say },
          {
            readySeconds,
            loadBefore,
            note: () =>
              `load ${loadBefore} → ${loadavg()[0].toFixed(1)} (1-min average), stack ready in ${s1(readySeconds)}`,
          },
        );
      } catch (err) {
        say(`${name} failed: ${err instanceof Error ? err.stack : String(err)}`);
        throw err;
      } finally {
        await current?.stop();
        current = undefined;
      }
    },
    close() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

const RUN: Record<ScenarioName, Scenario> = {
  'limit-on': limitScenario(true),
  'limit-off': limitScenario(false),
  credits: creditsScenario,
  cache: cacheScenario,
  replay: replayScenario,
  outage: outageScenario,
  pdl: pdlScenario,
};

const HEADER = [
  'scenario',
  'time',
  'provider calls',
  '429s',
  '402s',
  '5xx',
  'matches',
  'usage vs mock',
  'exact',
  'notes',
];

export async function runProviderBench(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  const say = (s: string) => console.error(s);
  const rows: ScenarioRow[] = [];
  const stacks = scenarioStacks(opts, say);
  for (const name of opts.scenarios) {
    const env = scenarioEnv(name, opts);
    try {
      const row = await stacks.run(name, env, (base, started) =>
        RUN[name]({ ...base, opts }, (x) => Math.max(100, Math.round(x * opts.scale))).then((r) => ({
          ...r,
          notes: [...r.notes, started.note()],
        })),
      );
      rows.push({ ...row, scenario: name, env });
    } catch (err) {
      rows.push({
        scenario: name,
        time: '-',
        calls: 0,
        throttled: 0,
        creditErrors: 0,
        serverErrors: 0,
        matches: 0,
        usage: '-',
        exact: 'no',
        notes: [`error: ${err instanceof Error ? err.message : String(err)}`],
        env,
        groups: [],
      });
    }
    const last = rows[rows.length - 1];
    say(`${name}: ${last.time}, exact ${last.exact}; ${last.notes.join('; ')}`);
  }
  stacks.close();

  if (opts.json) console.log(JSON.stringify({ scale: opts.scale, workers: opts.workers, rows }, null, 2));
  else {
    console.log(
      `Provider scenarios (scale ${opts.scale}, LOCAL_WORKERS=${opts.workers}, outage ${opts.outageSeconds} s, ${new Date().toISOString()}):\n`,
    );
    console.log(markdownRow(HEADER));
    console.log(markdownRow(HEADER.map(() => '---')));
    for (const r of rows)
      console.log(
        markdownRow([
          r.scenario,
          r.time,
          r.calls,
          r.throttled,
          r.creditErrors,
          r.serverErrors,
          r.matches,
          r.usage,
          r.exact,
          r.notes.join('; '),
        ]),
      );
  }
  return rows.every((r) => r.exact === 'yes') ? 0 : 1;
}
