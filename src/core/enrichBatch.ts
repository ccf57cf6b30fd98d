import type { Contact, EnrichField, OutputRow } from '../schemas/contact';
import { EnrichmentError } from './errors';
import { enrichedRow, failedRow, type EnrichmentResult } from './output';
import type { EnrichmentApi, GatePass, ProviderGate } from './ports';
import {
  withRetry,
  CallsStoppedError,
  HttpError,
  isOutOfCredits,
  isPermanent,
  isRetryable,
  OutOfTimeError,
  TimeoutError,
  type RetryBudget,
  type RetryPolicy,
} from './retry';
import { noTracer, type Metrics, type RateLimiter, type SpanTags, type Tracer } from './ports';
import { callUsageOf, noCallUsage, type CallUsage } from './usage';

export interface EnrichStats {
  calls: number;
  retries: number;
  bisections: number;
}

export function describeFailure(err: unknown): string {
  if (err instanceof HttpError) return `enrichment API answered ${err.status}`;
  if (err instanceof Error && err.name === 'TimeoutError') return 'enrichment API timed out';
  return 'enrichment API call failed';
}

/** The failure reason of a contact the API answered with a per-contact error (its text cut to 100 characters). */
export function describeContactError(error: string): string {
  const text = error.length > 100 ? `${error.slice(0, 100)}…` : error;
  return `enrichment API could not enrich the contact: ${text}`;
}

/** Calls a batch of `size` contacts may make in all, across deliveries: `factor` per contact, plus 10. */
export function callBudget(size: number, factor: number): number {
  return Math.ceil(factor * size) + 10;
}

export const budgetSpentReason = (budget: number) => `enrichment call budget spent (${budget} calls for the batch)`;

/** 4xx answers that speak about the request's content, so that splitting it can isolate the contact that causes them. */
const CONTENT_STATUSES = new Set([400, 413, 422]);

/**
 * The whole batch gets the full retry budget (a transient outage should not split it). Inside the
 * bisection a part that fails is split again at once rather than retried at length, which keeps
 * the path down to a bad contact short; only a single contact, the last word on it, gets the
 * extra attempts that keep a good contact from failing on bad luck.
 */
function attemptsFor(size: number, depth: number, policy: RetryPolicy): number {
  if (size === 1) return policy.singleContactMaxAttempts ?? policy.maxAttempts;
  if (depth === 0) return policy.maxAttempts;
  return Math.min(policy.maxAttempts, policy.subBatchMaxAttempts ?? policy.maxAttempts);
}

/** A part of the batch still to try: positions in the batch, its bisection depth and the attempts spent on it. */
export interface PendingPart {
  at: number[];
  depth: number;
  attempts: number;
}

/**
 * How far the enrichment of a batch got: a row for every settled contact (enriched, not_found, or
 * failed for good), null for the others, the parts of the bisection still to try, the enrichment
 * calls made so far (they count against the batch's call budget across deliveries), how many
 * contacts failed permanently (a per-contact error or a 4xx, not an outage) and what the provider calls of every
 * delivery so far cost (the request's usage; absent in progress kept before usage existed: zero).
 */
export interface EnrichProgress {
  rows: (OutputRow | null)[];
  pending: PendingPart[];
  callsSpent?: number;
  permanentFailures?: number;
  usage?: CallUsage;
}

/**
 * What stopped an advance before every contact was settled: its own time budget, the provider gate (`breaker`: open
 * for an outage; `credits`: the provider's credits are spent; `rate_limit`: the provider's 429 pause running past the
 * time budget), the shared rate limiter (`limit`: no tokens within the time budget, or a pause running past it), or
 * the request's cancel (`cancelled`: seen before a retry or a bisection's calls).
 */
export type StoppedBy = 'time' | 'breaker' | 'credits' | 'rate_limit' | 'limit' | 'cancelled';

/**
 * When parts stop for different reasons, the batch is held for the strongest: credits, then a rate limit, then any.
 * A cancel outranks them all: the batch is then not held but settled (src/core/processBatch.ts).
 */
const STOP_RANK: Record<StoppedBy, number> = { cancelled: 3, credits: 2, rate_limit: 1, limit: 0, breaker: 0, time: 0 };

/** A call the provider answered 429: not an attempt; call() makes it again once the gate lets it (or stops). */
class RateLimitedCall extends EnrichmentError<'calls_stopped'> {
  constructor() {
    super('enrichment API answered 429: paused until the provider said', { kind: 'calls_stopped' });
    this.name = 'RateLimitedCall';
  }
}

/** The longest shared pause a 429's Retry-After may set: a bogus header must not stop the fleet for a day. */
export const MAX_PROVIDER_PAUSE_MS = 15 * 60_000;
/** Waiting for tokens without a time budget (direct calls, tests) waits at most this long. */
const UNBUDGETED_MAX_WAIT_MS = 15 * 60_000;
/** What a gate's pause stops a part as. */
const STOPPED_BY_PAUSE = { outage: 'breaker', credits: 'credits', rate_limit: 'rate_limit' } as const;

/** Nothing tried yet: the whole batch is one part (with the calls, and their usage, of earlier deliveries). */
export function freshProgress(size: number, callsSpent = 0, usage: CallUsage = noCallUsage()): EnrichProgress {
  return {
    rows: Array.from({ length: size }, () => null),
    pending: [{ at: Array.from({ length: size }, (_, i) => i), depth: 0, attempts: 0 }],
    callsSpent,
    permanentFailures: 0,
    usage: callUsageOf(usage),
  };
}

/** A stored progress fits a batch when it has one row per contact and its parts point inside it. */
export function fitsBatch(progress: EnrichProgress | undefined, size: number): progress is EnrichProgress {
  return (
    !!progress &&
    Array.isArray(progress.rows) &&
    progress.rows.length === size &&
    Array.isArray(progress.pending) &&
    progress.pending.every(
      (p) =>
        p.at.length > 0 && p.at.every((i) => Number.isInteger(i) && i >= 0 && i < size && progress.rows[i] === null),
    ) &&
    (progress.callsSpent === undefined || (Number.isInteger(progress.callsSpent) && progress.callsSpent >= 0))
  );
}

export interface AdvanceOptions {
  budget?: RetryBudget;
  stats?: EnrichStats;
  /** Calls the batch may make in all (progress.callsSpent included); unlimited when unset. */
  callBudget?: number;
  /**
   * The provider gate (src/core/providerGate.ts): the fleet-wide circuit breaker, the provider's 429 pause and the
   * credit pause. With it a 429 and a 402 are pauses, never an attempt nor the batch's own failure. None when unset
   * (then a 429 and a 402 are retried as transient failures).
   */
  gate?: ProviderGate;
  /** The batch's name for the gate (`<requestId>#<batchIndex>`): a pause its own failures alone caused is its own. */
  gateKey?: string;
  /**
   * The provider's shared rate limits: tokens are taken before each call, waiting only within the time budget (less
   * one call's timeout); a 429 with Retry-After pauses every worker through it. None when unset.
   */
  limiter?: RateLimiter;
  /**
   * Told of each call that failed transiently (timeout, network, 408, 5xx; without a gate 429 and 402 too): the
   * batch's own failures.
   */
  onTransientFailure?: () => void;
  /** Spans `enrichment.api.call` and `enrichment.bisect`, with `tags` (the request id and batch index) on each. */
  tracer?: Tracer;
  /** One `apiCall` point per enrichment API call: its latency, tagged by outcome and status code. */
  metrics?: Metrics;
  tags?: SpanTags;
  /** The clock the time taking rate-limiter tokens is measured with (usage.rateLimitWaitMs); Date.now when unset. */
  now?: () => number;
  /**
   * Asked before a retry and before each call of a bisection (never before a part's first call: the healthy path
   * asks nothing): true stops the part, pending, with `stoppedBy: 'cancelled'`.
   */
  cancelled?: () => Promise<boolean>;
}

/**
 * Takes the enrichment of a batch as far as the time budget, the call budget and the circuit
 * breaker allow. Each pending part is called as a whole, retrying transient errors; a part that
 * keeps failing is split in halves, each tried on its own, down to single contacts, so only the
 * contacts that really fail are marked failed. A per-contact error in an answer fails that contact
 * at once; a permanent 4xx is never retried (and split only when it speaks about the content).
 * A part the time budget or an open circuit stops stays pending with the attempts it really spent,
 * so a later invocation goes on where this one stopped; once the call budget is spent, the contacts
 * still unsettled fail.
 */
export async function advanceEnrichment(
  contacts: Contact[],
  fields: EnrichField[],
  api: EnrichmentApi,
  policy: RetryPolicy,
  progress: EnrichProgress,
  opts: AdvanceOptions = {},
): Promise<EnrichProgress & { stoppedBy?: StoppedBy; reopensInMs?: number }> {
  const stats = opts.stats ?? { calls: 0, retries: 0, bisections: 0 };
  const rows = [...progress.rows];
  const pending: PendingPart[] = [];
  const maxCalls = opts.callBudget ?? Infinity;
  const gate = opts.gate;
  const tracer = opts.tracer ?? noTracer;
  let callsSpent = progress.callsSpent ?? 0;
  let permanentFailures = progress.permanentFailures ?? 0;
  let stoppedBy: StoppedBy | undefined;
  const usage = callUsageOf(progress.usage);
  const now = opts.now ?? Date.now;
  /** The longest a gate that stopped a part said it stays shut: the hold's delay. */
  let reopensInMs: number | undefined;

  const failAll = (part: PendingPart, reason: string, permanent: boolean) => {
    for (const position of part.at) rows[position] = failedRow(contacts[position], fields, reason);
    if (permanent) permanentFailures += part.at.length;
  };

  /** How long a call may wait for the gate (a 429's pause): what the budget leaves after one whole call. */
  const gateWaitMs = () =>
    opts.budget ? Math.max(0, opts.budget.availableMs() - (policy.callTimeoutMs ?? 0)) : UNBUDGETED_MAX_WAIT_MS;

  /** One attempt: a 429 is the provider's pause, not an attempt, so the call is made again once the gate lets it. */
  async function call(group: Contact[], timeoutMs: number | undefined, attempt: number): Promise<EnrichmentResult[]> {
    for (;;) {
      try {
        return await callOnce(group, timeoutMs, attempt);
      } catch (err) {
        if (!(err instanceof RateLimitedCall)) throw err;
      }
    }
  }

  async function callOnce(
    group: Contact[],
    timeoutMs: number | undefined,
    attempt: number,
  ): Promise<EnrichmentResult[]> {
    if (callsSpent >= maxCalls) throw new CallsStoppedError('budget');
    // Taken before the wait on the gate: parts that wait at the same time must not all pass the check.
    callsSpent += 1;
    const pass: GatePass = gate ? await gate.acquire(gateWaitMs(), opts.gateKey) : { allowed: true, trial: false };
    // A provider's 429 pause waited out inside the gate is rate-limit waiting too.
    if (pass.allowed) usage.rateLimitWaitMs += pass.pausedMs ?? 0;
    if (!pass.allowed) {
      callsSpent -= 1;
      // Paused by this batch's own failures alone: its own doing, so it goes back to SQS (towards the DLQ), not held.
      if (pass.own) opts.onTransientFailure?.();
      throw new CallsStoppedError(STOPPED_BY_PAUSE[pass.reason], 0, pass.reopensInMs);
    }
    // A rate-limit pause waited out took time: the call gets at most what is left.
    if (gate && opts.budget) timeoutMs = Math.min(timeoutMs ?? Infinity, opts.budget.availableMs());
    if (opts.limiter) {
      // Wait for the tokens only as long as the budget leaves a whole call after the wait.
      const maxWaitMs = opts.budget
        ? Math.max(0, opts.budget.availableMs() - (policy.callTimeoutMs ?? 0))
        : UNBUDGETED_MAX_WAIT_MS;
      let granted: boolean;
      const askedAt = now();
      try {
        granted = await opts.limiter.take(group.length, maxWaitMs);
      } catch (err) {
        callsSpent -= 1;
        await gate?.release(pass);
        throw err;
      }
      usage.rateLimitWaitMs += now() - askedAt;
      if (!granted) {
        callsSpent -= 1;
        await gate?.release(pass);
        throw new CallsStoppedError('limit');
      }
      // The wait took time: the call gets at most what is left.
      if (opts.budget) {
        const left = opts.budget.availableMs();
        timeoutMs = timeoutMs === undefined ? left : Math.min(timeoutMs, left);
      }
    }
    stats.calls += 1;
    // What the provider counts: every call that goes out, whatever it is answered (429, 402, 5xx included).
    usage.providerCalls += 1;
    usage.contactsSent += group.length;
    try {
      const tags = {
        ...opts.tags,
        'enrichment.attempt': attempt,
        'enrichment.retry': String(attempt > 1),
        'enrichment.contacts': group.length,
      };
      const started = Date.now();
      const results = await tracer.span('enrichment.api.call', tags, async (span) => {
        try {
          const answer = await api.enrich(group, fields, { timeoutMs });
          span.setTag('http.status_code', 200);
          opts.metrics?.emit('apiCall', Date.now() - started, { outcome: 'ok', status_code: '200' });
          return answer;
        } catch (err) {
          if (err instanceof HttpError) span.setTag('http.status_code', err.status);
          if (err instanceof TimeoutError) span.setTag('enrichment.timeout', true);
          const statusCode =
            err instanceof HttpError ? String(err.status) : err instanceof TimeoutError ? 'timeout' : 'other';
          opts.metrics?.emit('apiCall', Date.now() - started, { outcome: 'error', status_code: statusCode });
          throw err;
        }
      });
      if (results.length !== group.length) {
        throw new Error(`enrichment API returned ${results.length} results for ${group.length} contacts`);
      }
      await gate?.success(pass);
      return results;
    } catch (err) {
      const rateLimited = err instanceof HttpError && err.status === 429;
      // The provider said when to come back: every worker waits till then, not only this one.
      if (opts.limiter && rateLimited && err.retryAfterMs !== undefined) {
        await opts.limiter.pause(Date.now() + Math.min(err.retryAfterMs, MAX_PROVIDER_PAUSE_MS)).catch(() => undefined);
      }
      if (gate && (rateLimited || isOutOfCredits(err))) {
        // A pause, not the contacts' doing: no attempt, no own failure, and no share of the batch's call budget.
        callsSpent -= 1;
        if (rateLimited) {
          await gate.rateLimited(Math.min(err.retryAfterMs ?? 0, MAX_PROVIDER_PAUSE_MS), pass);
          throw new RateLimitedCall();
        }
        throw new CallsStoppedError('credits', 0, await gate.outOfCredits(pass));
      }
      // A call cut short by the deadline says nothing about the API; a permanent answer means it is up.
      const cutShort =
        err instanceof TimeoutError && timeoutMs !== undefined && timeoutMs < (policy.callTimeoutMs ?? Infinity);
      if (isRetryable(err) && !cutShort) {
        const reopens = await gate?.failure(pass);
        // The batch's own failure, unless it made the fleet's trial: failures of several batches paused the fleet, and
        // the trial failing says the outage goes on, not that these contacts are bad (the batch is held, no receive
        // spent). A failed trial is never an attempt of its contacts.
        const fleetTrial = pass.allowed && pass.trial && pass.fleet === true;
        if (!fleetTrial) opts.onTransientFailure?.();
        if (pass.allowed && pass.trial) throw new CallsStoppedError('breaker', 0, reopens);
      } else if (isPermanent(err)) await gate?.answered(pass);
      else await gate?.release(pass);
      throw err;
    }
  }

  async function split(part: PendingPart): Promise<void> {
    stats.bisections += 1;
    const mid = Math.ceil(part.at.length / 2);
    const tags = { ...opts.tags, 'enrichment.depth': part.depth + 1, 'enrichment.contacts': part.at.length };
    await tracer.span('enrichment.bisect', tags, () =>
      Promise.all([
        run({ at: part.at.slice(0, mid), depth: part.depth + 1, attempts: 0 }),
        run({ at: part.at.slice(mid), depth: part.depth + 1, attempts: 0 }),
      ]),
    );
  }

  async function run(part: PendingPart): Promise<void> {
    const group = part.at.map((i) => contacts[i]);
    const callPolicy = { ...policy, maxAttempts: attemptsFor(group.length, part.depth, policy) };
    let results: EnrichmentResult[];
    try {
      results = await withRetry(
        (attempt, timeoutMs) =>
          opts.cancelled && (attempt > 1 || part.depth > 0)
            ? opts.cancelled().then((stop) => {
                if (stop) throw new CallsStoppedError('cancelled');
                return call(group, timeoutMs, attempt);
              })
            : call(group, timeoutMs, attempt),
        callPolicy,
        () => {
          stats.retries += 1;
        },
        { budget: opts.budget, attemptsSpent: part.attempts },
      );
    } catch (err) {
      if (err instanceof OutOfTimeError || (err instanceof CallsStoppedError && err.reason !== 'budget')) {
        const by: StoppedBy = err instanceof OutOfTimeError ? 'time' : (err.reason as StoppedBy);
        if (!stoppedBy || STOP_RANK[by] > STOP_RANK[stoppedBy]) stoppedBy = by;
        if (err instanceof CallsStoppedError && err.reopensInMs !== undefined)
          reopensInMs = Math.max(reopensInMs ?? 0, err.reopensInMs);
        pending.push({ ...part, attempts: err.attempts });
        return;
      }
      if (err instanceof CallsStoppedError) return failAll(part, budgetSpentReason(maxCalls), false);
      if (isPermanent(err)) {
        if (group.length > 1 && CONTENT_STATUSES.has((err as HttpError).status)) return split(part);
        return failAll(part, describeFailure(err), true);
      }
      if (group.length === 1) return failAll(part, describeFailure(err), false);
      return split(part);
    }
    part.at.forEach((position, k) => {
      const result = results[k];
      if (result.enrichment_status === 'error') {
        rows[position] = failedRow(group[k], fields, describeContactError(result.error));
        permanentFailures += 1;
      } else rows[position] = enrichedRow(group[k], fields, result);
    });
  }

  await Promise.all(progress.pending.map(run));
  pending.sort((a, b) => a.at[0] - b.at[0]);
  return {
    rows,
    pending,
    callsSpent,
    permanentFailures,
    usage,
    ...(pending.length ? { stoppedBy, ...(reopensInMs !== undefined ? { reopensInMs } : {}) } : {}),
  };
}

/** The whole bisection with no time limit: one row per contact, in order. */
export async function enrichWithBisection(
  contacts: Contact[],
  fields: EnrichField[],
  api: EnrichmentApi,
  policy: RetryPolicy,
  stats: EnrichStats = { calls: 0, retries: 0, bisections: 0 },
): Promise<OutputRow[]> {
  const { rows } = await advanceEnrichment(contacts, fields, api, policy, freshProgress(contacts.length), { stats });
  return rows as OutputRow[];
}
