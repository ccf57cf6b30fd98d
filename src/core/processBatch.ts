import type { OutputRow } from '../schemas/contact';
import type { BatchMessage } from '../schemas/message';
import { requestAssembly, type AssemblyRouting } from './assembleOutput';
import { newGroupId, uncountedResult } from './batchGroups';
import { meeting, type Meeting, type Seat } from './meeting';
import {
  advanceEnrichment,
  callBudget,
  fitsBatch,
  freshProgress,
  type EnrichProgress,
  type EnrichStats,
  type StoppedBy,
} from './enrichBatch';
import { BatchOutOfTimeError, EnrichmentPausedError, EnrichmentUnavailableError } from './errors';
import { cancelledRow, failedRow, type BatchGroupResult, type BatchResult } from './output';
import {
  noTracer,
  type Logger,
  type BatchOutcome,
  type BatchQueue,
  type Clock,
  type EnrichmentApi,
  type FaultHooks,
  type Metrics,
  type ObjectStore,
  type ProviderGate,
  type RateLimiter,
  type RequestRef,
  type ShardState,
  type StatusStore,
  type TimeBudget,
  type Tracer,
} from './ports';
import { settleFromCache, storeInCache, type CacheContext, type CacheSettings } from './resultCache';
import type { RetryBudget, RetryPolicy } from './retry';
import { shardOf } from './shards';
import { isFinal, keys } from './status';
import { batchUsage, callUsageOf } from './usage';
import type { Contact, EnrichField } from '../schemas/contact';
import type { UsageCounts } from '../schemas/status';

/**
 * What recording a batch needs, without the provider: the dead-letter function (failBatch) and reconcile run on these
 * alone, so their wiring carries no provider adapter (src/handlers/workerWiring.ts has the worker's).
 */
export interface RecordingDeps extends AssemblyRouting {
  store: ObjectStore;
  status: StatusStore;
  clock: Clock;
  log: Logger;
  faults: FaultHooks;
  /** Custom metrics: none when unset. */
  metrics?: Metrics;
  /** Spans `enrichment.batch` and, inside it, `enrichment.api.call` and `enrichment.bisect`: none when unset. */
  tracer?: Tracer;
  /** PROVIDER_PRICE_PER_MATCH, for the usage's estimatedCost when this worker assembles the output: 0 when unset. */
  pricePerMatch?: number;
}

/** The worker's: recording's, and the provider with its retries, gate, limits, holds and cache. */
export interface WorkerDeps extends RecordingDeps {
  api: EnrichmentApi;
  retry: RetryPolicy;
  /** Time kept back from the invocation's budget to store and record what was done. 0 when unset. */
  timeReserveMs?: number;
  /** Enrichment calls a batch may make in all, per contact (callBudget): unlimited when unset. */
  callBudgetFactor?: number;
  /** The provider gate (fleet-wide breaker, 429 and credit pauses; src/core/providerGate.ts): none when unset. */
  gate?: ProviderGate;
  /** The provider's rate limits, shared by every worker: none when unset. */
  limiter?: RateLimiter;
  /** The batch queue, for holds (a batch re-sent with a delay instead of handed back): no holds when unset. */
  queue?: BatchQueue;
  /** The longest delay of a hold (SQS: at most 900 s); HOLD_MAX_DELAY_SECONDS when unset. */
  holdMaxDelaySeconds?: number;
  /** PROVIDER_OUTAGE_HOLD_SECONDS in ms: how long a batch is held through a provider outage. No bound when unset. */
  outageHoldMs?: number;
  /** The result cache (src/core/resultCache.ts): none when unset. */
  cache?: CacheSettings;
}

/** What the worker knows about the invocation that carries the message. */
export interface Invocation {
  /** The time the function has left; no limit when unset (direct calls in tests). */
  budget?: TimeBudget;
  /** SQS's ApproximateReceiveCount: only a redelivery can find progress kept by an earlier one. */
  receiveCount?: number;
  /** The message's seat in its invocation's recorder (invocationRecorder): each batch recorded alone without. */
  seat?: Seat<GroupedBatch, BatchHandling>;
}

/** An enriched batch, waiting to be stored and recorded with its invocation's others. */
export interface GroupedBatch {
  message: BatchMessage;
  request: WorkerRequest;
  result: BatchResult;
}

/** A batch's partial progress as stored between deliveries. */
export interface StoredProgress extends EnrichProgress {
  requestId: string;
  batchIndex: number;
}

export type BatchHandling =
  | 'recorded'
  | 'duplicate'
  | 'held'
  | 'cancelled'
  | 'request-final'
  | 'unknown-request'
  | 'out-of-range';

/** A batch is held at most this many times; then it is handed back to SQS as before (its receives, then the DLQ). */
export const MAX_BATCH_HOLDS = 100;
/**
 * A batch whose own failures paused the gate is held at most this many times (`ownHolds`), each at least the pause
 * left: long enough for the other workers to tell an outage (every batch fails: the fleet's gate opens, and the batch
 * is held like any other from then on) from a batch that fails alone, which is then handed back towards its DLQ.
 */
export const MAX_OWN_HOLDS = 4;
/** The first hold's delay; each further hold doubles it, up to the maximum. */
export const HOLD_BASE_DELAY_SECONDS = 5;
/** The longest backoff of an outage hold (the pause left may be longer): a minute after the outage, work goes on. */
export const OUTAGE_MAX_DELAY_SECONDS = 60;
/** SQS's largest DelaySeconds. */
export const HOLD_MAX_DELAY_SECONDS = 900;

export type HoldDecision =
  | { hold: true; holds: number; creditHolds?: number; ownHolds?: number; outageSince?: string; delaySeconds: number }
  | { hold: false; reason: 'own-time' | 'own-failures' | 'hold-limit' | 'outage-limit' };

/**
 * Whether a batch stopped before the end is held (re-sent with a delay, its receive not spent) or handed back to SQS.
 * Held: stopped by the shared limiter (no tokens within the budget, a provider's pause), by the provider's 429 pause,
 * by the credit pause, or by an open circuit when none of this delivery's own calls failed. Handed back: its own
 * time ran out, its own calls failed (a batch that opened the circuit itself must reach the DLQ as before), or it
 * was held MAX_BATCH_HOLDS times already. A credit hold counts apart (`creditHolds`) and has no bound: the batch waits
 * for a top-up as long as the pause lasts.
 * The delay: 5 s doubled per hold, at least `hintMs` (the pause left), at most `maxDelaySeconds`, with up to 20%
 * jitter so held batches do not all come back at once. A credit hold has no backoff: the pause left (the next trial
 * call) and up to half that again.
 */
export function holdDecision(input: {
  stoppedBy: StoppedBy | undefined;
  ownFailures: number;
  holds: number;
  creditHolds?: number;
  ownHolds?: number;
  /** The message's `outageSince`: when a worker first held it for a provider outage. */
  outageSince?: string;
  /** PROVIDER_OUTAGE_HOLD_SECONDS in ms: how long, from `outageSince`, outage holds go on. No bound when unset. */
  outageHoldMs?: number;
  nowMs?: number;
  hintMs?: number;
  maxDelaySeconds?: number;
  random?: () => number;
}): HoldDecision {
  const { stoppedBy, ownFailures, holds } = input;
  if (stoppedBy === undefined || stoppedBy === 'time') return { hold: false, reason: 'own-time' };
  const nowMs = input.nowMs ?? Date.now();
  let outageSince: string | undefined;
  if (stoppedBy === 'breaker') {
    // Every call failing looks the same from here whether the provider is down or the batch is one it always refuses
    // and nothing else is running: an outage is ridden out for so long, then the batch spends its receives again.
    const since = input.outageSince === undefined ? Number.NaN : Date.parse(input.outageSince);
    if (input.outageHoldMs !== undefined && nowMs - since >= input.outageHoldMs)
      return { hold: false, reason: 'outage-limit' };
    outageSince = Number.isNaN(since) ? new Date(nowMs).toISOString() : input.outageSince;
  }
  const max = Math.max(1, Math.min(HOLD_MAX_DELAY_SECONDS, input.maxDelaySeconds ?? HOLD_MAX_DELAY_SECONDS));
  const random = input.random ?? Math.random;
  const hintSeconds = Math.ceil((input.hintMs ?? 0) / 1000);
  if (stoppedBy === 'breaker' && ownFailures > 0) {
    // Its own calls failed and the gate paused: an outage this batch saw first, or contacts the provider always
    // refuses. Held a few times, each at least the pause left (counted apart), then handed back towards the DLQ.
    const ownHolds = input.ownHolds ?? 0;
    if (ownHolds >= MAX_OWN_HOLDS || holds >= MAX_BATCH_HOLDS) return { hold: false, reason: 'own-failures' };
    const base = Math.min(max, Math.max(HOLD_BASE_DELAY_SECONDS * 2 ** ownHolds, hintSeconds));
    const delaySeconds = Math.max(1, Math.min(max, base + Math.floor(random() * base * 0.2)));
    return { hold: true, holds, ownHolds: ownHolds + 1, outageSince, delaySeconds };
  }
  const credits = stoppedBy === 'credits';
  if (!credits && holds >= MAX_BATCH_HOLDS) return { hold: false, reason: 'hold-limit' };
  if (credits) {
    // Back right after the next trial call (the pause left), spread over half that again: a top-up is seen within
    // about 1.5 retry intervals, and the held batches do not all come back at once. No backoff: a batch waiting days
    // for a top-up must not come back days after it.
    const base = Math.min(max, Math.max(1, hintSeconds || HOLD_BASE_DELAY_SECONDS));
    const delaySeconds = Math.max(1, Math.min(max, base + Math.floor(random() * base * 0.5)));
    return { hold: true, holds, creditHolds: (input.creditHolds ?? 0) + 1, delaySeconds };
  }
  // An outage's backoff stops at OUTAGE_MAX_DELAY_SECONDS, so the held batches call again soon after it ends.
  const backoff = Math.min(
    HOLD_BASE_DELAY_SECONDS * 2 ** Math.min(holds, 20),
    stoppedBy === 'breaker' ? OUTAGE_MAX_DELAY_SECONDS : Number.POSITIVE_INFINITY,
  );
  const base = Math.min(max, Math.max(backoff, hintSeconds));
  const jitter = Math.floor(random() * base * 0.2);
  const delaySeconds = Math.max(1, Math.min(max, base + jitter));
  return { hold: true, holds: holds + 1, ...(outageSince ? { outageSince } : {}), delaySeconds };
}

/** The batchHeld metric's reason for what stopped a held batch. */
const HOLD_REASON: Record<Exclude<StoppedBy, 'time' | 'cancelled'>, string> = {
  limit: 'tokens',
  rate_limit: 'rate_limit',
  breaker: 'outage',
  credits: 'credits',
};

/**
 * Counts a batch on its shard (exactly once), promotes the shard to the status item if that filled it,
 * and has the output assembled if the promotion found every batch counted (inline for a small request, else
 * by the assembleOutput function). A duplicate repeats the promotion,
 * which repairs a crash between the two updates.
 */
async function recordAndFinish(
  message: BatchMessage,
  outcome: BatchOutcome,
  request: RequestRef,
  deps: RecordingDeps,
  /** The rows the batch settles: counted in the metrics only by the run that records the batch. */
  rows?: readonly OutputRow[],
  /** The batch's usage: added to the running usage by the same once-only update that counts the batch. */
  usage?: UsageCounts,
): Promise<BatchHandling> {
  const { requestId, batchIndex } = message;
  const now = () => deps.clock.now().toISOString();
  const result = await deps.status.recordBatch(requestId, batchIndex, outcome, now(), request, usage);
  if (!result) return 'unknown-request';
  if (result.recorded && rows) emitContactOutcomes(rows, deps.metrics);
  await deps.faults.at('worker:after-shard-record', { requestId, batchIndex });
  const complete = await promoteIfFull(result.shard, now(), deps);
  if (complete === undefined) return 'unknown-request';
  await deps.faults.at('worker:after-record', { requestId, batchIndex });
  if (complete) await requestAssembly(requestId, request.totalBatches, deps);
  return result.recorded ? 'recorded' : 'duplicate';
}

/** false for a shard not full yet; undefined for an unknown request. */
async function promoteIfFull(shard: ShardState, now: string, deps: RecordingDeps): Promise<boolean | undefined> {
  if (shard.done < shard.size) return false;
  return (await deps.status.promoteShard(shard, now))?.complete;
}

/** Stores a batch's result under its own key, then counts it as recordAndFinish does. */
async function storeAndRecord(batch: GroupedBatch, deps: WorkerDeps): Promise<BatchHandling> {
  const { message, request, result } = batch;
  const { requestId, batchIndex } = message;
  await deps.store.putJson(keys.batch(requestId, batchIndex), result);
  await deps.faults.at('worker:after-result-write', { requestId, batchIndex });
  return recordAndFinish(message, 'processed', request, deps, result.rows, batchUsage(result));
}

/**
 * The recorder of one invocation's batches: the enriched batches meet (src/core/meeting.ts) once
 * every message of the invocation is stored or done some other way, or once the work budget is spent, and those of
 * one shard are counted by one update (recordTogether).
 */
export function invocationRecorder(deps: WorkerDeps, budget?: TimeBudget): Meeting<GroupedBatch, BatchHandling> {
  const reserveMs = deps.timeReserveMs ?? 0;
  return meeting((batches) => recordTogether(batches, deps), budget && (() => budget.remainingMs() - reserveMs));
}

/**
 * Stores and records an invocation's enriched batches, one outcome each (a failure is that batch's alone).
 * 1. Group them by request and shard; a batch alone in its shard is stored under its own key and recorded as ever.
 * 2. Store a shard's batches in one object (keys.batchGroup) and count them with one conditional update
 *    (StatusStore.recordBatches) that also notes where their results are. If the write fails, one of them was counted
 *    before (a redelivery) or the update fails, store and record each alone instead: recordBatch stays what counts
 *    exactly once, and a group object no update names is never read (the request's prefix goes with it).
 * 3. Then each batch goes on as if recorded alone; the one with the highest index promotes the shard if full and has
 *    the output assembled if that completed the request (a duplicate's redelivery repairs either, as before).
 */
function recordTogether(batches: GroupedBatch[], deps: WorkerDeps): Promise<BatchHandling>[] {
  const alone = (b: GroupedBatch) => storeAndRecord(b, deps);
  const groups = new Map<string, number[]>();
  batches.forEach((b, i) => {
    const key = `${b.message.requestId}#${shardOf(b.message.batchIndex)}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const outcomes: Promise<BatchHandling>[] = [];
  for (const members of groups.values()) {
    // The same batch twice (concurrent duplicates): the copies are recorded alone once the first is.
    const seen = new Set<number>();
    const first = members.filter(
      (i) => !seen.has(batches[i].message.batchIndex) && seen.add(batches[i].message.batchIndex),
    );
    const copies = members.filter((i) => !first.includes(i));
    const firsts =
      first.length === 1 || !deps.status.recordBatches
        ? first.map((i) => alone(batches[i]))
        : recordShard(
            first.map((i) => batches[i]),
            deps,
            alone,
          );
    first.forEach((i, k) => {
      outcomes[i] = firsts[k];
    });
    const settled = Promise.allSettled(firsts);
    for (const i of copies) outcomes[i] = settled.then(() => alone(batches[i]));
  }
  return outcomes;
}

function recordShard(
  batches: GroupedBatch[],
  deps: WorkerDeps,
  alone: (b: GroupedBatch) => Promise<BatchHandling>,
): Promise<BatchHandling>[] {
  const { requestId } = batches[0].message;
  const shard = shardOf(batches[0].message.batchIndex);
  const now = () => deps.clock.now().toISOString();
  const first = Math.min(...batches.map((b) => b.message.batchIndex));
  const groupId = newGroupId(first);
  const group: BatchGroupResult = { requestId, groupId, batches: batches.map((b) => b.result) };
  const stored = deps.store.putJson(keys.batchGroup(requestId, groupId), group).then(
    () => true,
    (err: unknown) => {
      deps.log.warn('storing batch results together failed; each stored alone', { requestId, shard, err });
      return false;
    },
  );
  // Each batch passes its own fault point after the write: one crashing there is left out of the update.
  const passed = batches.map(async (b) => {
    if (!(await stored)) return false;
    await deps.faults.at('worker:after-result-write', { requestId, batchIndex: b.message.batchIndex });
    return true;
  });
  const written = Promise.allSettled(passed).then(async (settled) => {
    const members = batches.filter((_, k) => settled[k].status === 'fulfilled' && settled[k].value);
    if (!members.length) return { recorded: false as const };
    const result = await deps.status.recordBatches!(
      requestId,
      shard,
      members.map((b) => ({
        batchIndex: b.message.batchIndex,
        outcome: 'processed' as const,
        usage: batchUsage(b.result),
      })),
      now(),
      members[0].request,
      groupId,
    ).catch((err: unknown) => {
      deps.log.warn('grouped shard record failed; each batch recorded alone', { requestId, shard, err });
      return { recorded: false as const };
    });
    return { ...result, last: Math.max(...members.map((b) => b.message.batchIndex)) };
  });
  return batches.map(async (b, k) => {
    if (!(await stored)) return alone(b);
    await passed[k];
    const result = await written;
    if (!result.recorded) return alone(b);
    const { batchIndex } = b.message;
    emitContactOutcomes(b.result.rows, deps.metrics);
    await deps.faults.at('worker:after-shard-record', { requestId, batchIndex });
    const complete = batchIndex === result.last ? await promoteIfFull(result.shard, now(), deps) : false;
    if (complete === undefined) return 'unknown-request';
    await deps.faults.at('worker:after-record', { requestId, batchIndex });
    if (complete) await requestAssembly(requestId, b.request.totalBatches, deps);
    return 'recorded';
  });
}

/**
 * What makes a batch message need no work, shared by the worker and the DLQ handler: an unknown
 * request, an index outside it, a final request, or a batch recorded before (whose redelivery only
 * re-drives the promotion of its shard and the assembly, either of which may have crashed).
 * Otherwise what recording the batch needs of its request.
 */
async function alreadyHandled(message: BatchMessage, deps: RecordingDeps): Promise<BatchHandling | WorkerRequest> {
  const { requestId, batchIndex } = message;
  const found = await deps.status.lookupBatch(requestId, batchIndex);
  if (!found) {
    deps.log.warn('batch for an unknown request dropped', { requestId, batchIndex });
    return 'unknown-request';
  }
  const { record } = found;
  if (batchIndex >= record.totalBatches) {
    deps.log.warn('batch index outside the request dropped', {
      requestId,
      batchIndex,
      totalBatches: record.totalBatches,
    });
    return 'out-of-range';
  }
  // A request still `validating` takes its batches: the intake sends them before it moves it to processing.
  if (isFinal(record.status)) return 'request-final';
  if (found.batchDone) {
    if (await promoteIfFull(found.shard, deps.clock.now().toISOString(), deps))
      await requestAssembly(requestId, record.totalBatches, deps);
    return 'duplicate';
  }
  return {
    totalBatches: record.totalBatches,
    expiresAt: record.expiresAt,
    ...(record.owner ? { owner: record.owner } : {}),
    ...(record.refresh ? { refresh: true } : {}),
    ...(record.cancelRequestedAt ? { cancelled: true } : {}),
  };
}

/**
 * What the worker needs of its request's status item: what recording needs, whose results it may reuse, and whether
 * its caller cancelled it (then the batch makes no provider call).
 */
interface WorkerRequest extends RequestRef {
  owner?: string;
  refresh?: boolean;
  cancelled?: boolean;
}

/**
 * A batch of a cancelled request, settled without the provider: a result a delivery stored before (its count was
 * lost) is recorded as it is; otherwise the rows an earlier delivery settled (its kept progress, with its calls'
 * usage) are kept and the others are `cancelled`. Recorded once, like any batch: the last one has the output assembled.
 */
async function settleCancelled(
  message: BatchMessage,
  request: WorkerRequest,
  deps: RecordingDeps,
): Promise<BatchHandling> {
  const { requestId, batchIndex } = message;
  const stored = await deps.store.getJson<BatchResult>(keys.batch(requestId, batchIndex));
  const result = stored ?? (await cancelledResult(message, deps.store)).result;
  if (!stored) await deps.store.putJson(keys.batch(requestId, batchIndex), result);
  const cancelled = result.rows.filter((r) => r.enrichment_status === 'cancelled').length;
  deps.log.info('batch of a cancelled request recorded without provider calls', {
    requestId,
    batchIndex,
    contacts: result.rows.length,
    cancelledContacts: cancelled,
  });
  const handling = await recordAndFinish(message, 'processed', request, deps, result.rows, batchUsage(result));
  return handling === 'recorded' ? 'cancelled' : handling;
}

/**
 * Handles one batch message. Safe under redelivery and concurrent duplicates: the batch result
 * is an idempotent overwrite and the batch is counted by one conditional update.
 */
export async function processBatch(
  message: BatchMessage,
  deps: WorkerDeps,
  invocation: Invocation = {},
): Promise<BatchHandling> {
  const tags = batchTags(message);
  return (deps.tracer ?? noTracer).span(
    'enrichment.batch',
    { ...tags, 'enrichment.contacts': message.contacts.length },
    async (span) => {
      try {
        const handling = await enrichAndRecord(message, deps, invocation).finally(() => invocation.seat?.leave());
        span.setTag('enrichment.handling', handling);
        deps.metrics?.emit('batchDelivery', 1, {
          result:
            handling === 'recorded' || handling === 'duplicate' || handling === 'held' || handling === 'cancelled'
              ? handling
              : 'skipped',
        });
        return handling;
      } catch (err) {
        const result =
          err instanceof BatchOutOfTimeError
            ? 'out_of_time'
            : err instanceof EnrichmentPausedError
              ? 'circuit_open'
              : err instanceof EnrichmentUnavailableError
                ? 'unavailable'
                : 'error';
        deps.metrics?.emit('batchDelivery', 1, { result });
        throw err;
      }
    },
  );
}

/** The tags every span of a batch carries: ids only. */
const batchTags = (message: BatchMessage) => ({
  'enrichment.request_id': message.requestId,
  'enrichment.batch_index': message.batchIndex,
});

async function enrichAndRecord(
  message: BatchMessage,
  deps: WorkerDeps,
  invocation: Invocation,
): Promise<BatchHandling> {
  // 1. Look up the status item and the batch's shard (one read): skip unknown or finished requests; a cancelled one's
  //    batch is recorded at once, its unsettled contacts `cancelled` (settleCancelled).
  // 2. A batch recorded before (redelivery) only re-drives its shard's promotion and the assembly, which may have crashed.
  // 3. On a redelivery, pick up the progress an earlier delivery kept when its time ran out (with the usage of its calls).
  // 4. Enrich the contacts within the time budget and the batch's call budget, bisecting a failing
  //    batch so only the bad contacts fail. Out of time, or the provider gate open by the batch's own failures: keep
  //    the progress and throw, so SQS redelivers the message to go on. Stopped by a pause that is not the batch's own
  //    doing (no tokens, the provider's 429 pause, the credit pause, a gate its own calls did not open): keep the
  //    progress and hold it, re-sent with a delay before this message is acknowledged, so no receive is spent
  //    (holdDecision; a credit hold has no bound). A cancel seen before a retry, a bisection's calls or a hold (the
  //    flag read again only then): the progress kept, the batch settled at once as a cancelled request's.
  // 5. If all of them failed and none for good (an outage), keep the calls spent and throw so SQS
  //    redelivers the message (and in the end dead-letters it).
  // 6. Store the batch result, with the usage of every delivery's calls, under its own key (overwrite); in an
  //    invocation, with the batches of the same shard that got here too, in one object (invocationRecorder).
  // 7. Record the batch (and add its usage to the running usage) exactly once on its shard; promote a full shard; if
  //    that was the last one, assemble output.json and finalize. In an invocation, with the batches of the same shard
  //    that got here too (one update for them all, which notes where their results are).
  const { requestId, batchIndex } = message;
  const log = deps.log.child({ requestId, batchIndex });
  const request = await alreadyHandled(message, deps);
  if (typeof request === 'string') return request;
  // Cancelled: no provider call (a held copy or a redelivery coming back later lands here too).
  if (request.cancelled) return settleCancelled(message, request, deps);

  const started = Date.now();
  const size = message.contacts.length;
  let start = freshProgress(size);
  // A redelivery or a held copy: an earlier delivery may have kept progress.
  if ((invocation.receiveCount ?? 1) > 1 || message.holds || message.creditHolds || message.ownHolds) {
    const kept = await deps.store.getJson<StoredProgress>(keys.batchProgress(requestId, batchIndex));
    if (fitsBatch(kept, size))
      start = {
        rows: kept.rows,
        pending: kept.pending,
        callsSpent: kept.callsSpent,
        permanentFailures: kept.permanentFailures,
        usage: callUsageOf(kept.usage),
      };
  }
  // ── Result cache, before the provider calls: a batch not started yet settles its cached contacts at once. ──
  const cache: CacheContext | undefined = deps.cache && {
    ...deps.cache,
    owner: request.owner,
    refresh: request.refresh,
    now: () => deps.clock.now(),
    log,
    metrics: deps.metrics,
  };
  if (cache && start.rows.every((row) => row === null))
    start = await settleFromCache(message.contacts, message.fields, start, cache);
  const beforeCalls = start;
  // ── end of the cache step ──
  const budget = workBudget(invocation.budget, deps.timeReserveMs ?? 0);
  const callTimeoutMs = deps.retry.callTimeoutMs;
  if (budget && callTimeoutMs && budget.availableMs() < 2 * callTimeoutMs) {
    log.warn(
      'the time budget fits fewer than two enrichment calls; keep ENRICHMENT_TIMEOUT_MS well under the worker timeout',
      {
        availableMs: budget.availableMs(),
        callTimeoutMs,
      },
    );
  }
  const stats: EnrichStats = { calls: 0, retries: 0, bisections: 0 };
  // The cancel flag read again (the same one read as at the start), only where the batch would call the provider again
  // or wait: before a retry or a bisection's calls (advanceEnrichment asks then), and before a hold.
  const cancelRequested = async () =>
    Boolean((await deps.status.lookupBatch(requestId, batchIndex))?.record.cancelRequestedAt);
  const maxCalls = deps.callBudgetFactor === undefined ? undefined : callBudget(size, deps.callBudgetFactor);
  let ownFailures = 0;
  const { stoppedBy, reopensInMs, ...progress } = await advanceEnrichment(
    message.contacts,
    message.fields,
    deps.api,
    deps.retry,
    start,
    {
      budget,
      stats,
      callBudget: maxCalls,
      gate: deps.gate,
      gateKey: `${requestId}#${batchIndex}`,
      limiter: deps.limiter,
      onTransientFailure: () => {
        ownFailures += 1;
      },
      tracer: deps.tracer,
      metrics: deps.metrics,
      tags: batchTags(message),
      now: () => deps.clock.now().getTime(),
      cancelled: cancelRequested,
    },
  );
  // This delivery's wait for the shared limiter's tokens: one point when it waited at all.
  const waitedMs = callUsageOf(progress.usage).rateLimitWaitMs - callUsageOf(start.usage).rateLimitWaitMs;
  if (waitedMs > 0) deps.metrics?.emit('rateLimitWait', waitedMs);
  // ── Result cache, after the provider calls: the results they settled are kept for later requests (never throws). ──
  if (cache) await storeInCache(message.contacts, message.fields, beforeCalls, progress, cache);
  // ── end of the cache step ──
  const keep = (kept: EnrichProgress) =>
    deps.store.putJson(keys.batchProgress(requestId, batchIndex), {
      requestId,
      batchIndex,
      ...kept,
    } satisfies StoredProgress);
  if (progress.pending.length) {
    const pending = progress.pending.reduce((n, p) => n + p.at.length, 0);
    await keep(progress);
    const fields = {
      settled: size - pending,
      pending,
      callsSpent: progress.callsSpent,
      ...stats,
      durationMs: Date.now() - started,
    };
    // Cancelled meanwhile: settled now, its unsettled contacts `cancelled`, instead of a hold or a redelivery.
    if (stoppedBy === 'cancelled' || (stoppedBy !== undefined && stoppedBy !== 'time' && (await cancelRequested()))) {
      log.info("batch stopped by its request's cancel", fields);
      return settleCancelled(message, request, deps);
    }
    if (stoppedBy === 'breaker') deps.metrics?.emit('batchCircuitOpen', 1);
    const decision = holdDecision({
      stoppedBy,
      ownFailures,
      holds: message.holds ?? 0,
      creditHolds: message.creditHolds ?? 0,
      ownHolds: message.ownHolds ?? 0,
      outageSince: message.outageSince,
      outageHoldMs: deps.outageHoldMs,
      nowMs: deps.clock.now().getTime(),
      hintMs: reopensInMs,
      maxDelaySeconds: deps.holdMaxDelaySeconds,
    });
    if (deps.queue && decision.hold) {
      // The request counts as active (reconcile neither re-sends nor expires it while its batches are held), then
      // the copy is queued, and only then is this message acknowledged: a crash in between leaves a duplicate,
      // which the batch's idempotent result and once-only count absorb.
      await deps.status.touch(requestId, deps.clock.now().toISOString());
      const copy: BatchMessage = { ...message, ...(decision.holds ? { holds: decision.holds } : {}) };
      if (decision.creditHolds) copy.creditHolds = decision.creditHolds;
      if (decision.ownHolds) copy.ownHolds = decision.ownHolds;
      if (decision.outageSince) copy.outageSince = decision.outageSince;
      await deps.queue.send([copy], { delaySeconds: decision.delaySeconds });
      deps.metrics?.emit('batchHeld', 1, {
        reason: HOLD_REASON[stoppedBy as Exclude<StoppedBy, 'time' | 'cancelled'>],
      });
      log.warn('batch held: re-sent with a delay, its progress kept', {
        ...fields,
        stoppedBy,
        holds: decision.holds,
        ...(decision.creditHolds ? { creditHolds: decision.creditHolds } : {}),
        ...(decision.ownHolds ? { ownHolds: decision.ownHolds } : {}),
        delaySeconds: decision.delaySeconds,
      });
      return 'held';
    }
    if (stoppedBy && stoppedBy !== 'time') {
      log.warn(
        stoppedBy === 'limit'
          ? 'no provider tokens within the time budget: batch handed back with its progress'
          : stoppedBy === 'breaker'
            ? 'enrichment API keeps failing: circuit open, batch handed back with its progress'
            : 'the provider paused the calls: batch handed back with its progress',
        { ...fields, stoppedBy, holds: message.holds ?? 0, ...(decision.hold ? {} : { reason: decision.reason }) },
      );
      throw new EnrichmentPausedError(size - pending, pending);
    }
    log.warn('batch out of time; progress kept for the redelivery', fields);
    deps.metrics?.emit('batchOutOfTime', 1);
    throw new BatchOutOfTimeError(size - pending, pending);
  }
  const rows = progress.rows as OutputRow[];
  // An outage fails every contact sent to the provider; SQS redelivers the message later instead of failing them
  // for good. The calls spent (and their usage) are kept, so the redeliveries share the batch's call budget; the
  // cache hits are kept settled, so a redelivery neither reads nor pays for them again.
  const called = rows.flatMap((r, i) => (r.source === 'cache' ? [] : [i]));
  if (called.length > 1 && !progress.permanentFailures && called.every((i) => rows[i].enrichment_status === 'failed')) {
    await keep(
      called.length === size
        ? freshProgress(size, progress.callsSpent, progress.usage)
        : {
            rows: rows.map((r) => (r.source === 'cache' ? r : null)),
            pending: [{ at: called, depth: 0, attempts: 0 }],
            callsSpent: progress.callsSpent,
            permanentFailures: 0,
            usage: progress.usage,
          },
    );
    log.warn('every contact of the batch failed: left for redelivery', { callsSpent: progress.callsSpent, ...stats });
    throw new EnrichmentUnavailableError(rows.length);
  }
  await deps.faults.at('worker:after-enrich', { requestId, batchIndex });

  const result: BatchResult = { requestId, batchIndex, rows, usage: callUsageOf(progress.usage) };
  const failed = rows.filter((r) => r.enrichment_status === 'failed').length;
  log.info('batch enriched', {
    contacts: rows.length,
    failedContacts: failed,
    callsSpent: progress.callsSpent,
    ...stats,
    durationMs: Date.now() - started,
  });
  deps.metrics?.emit('batchDuration', Date.now() - started);
  deps.metrics?.emit('contactsFailed', failed);
  deps.metrics?.emit('apiRetries', stats.retries);
  if (invocation.seat) return invocation.seat.arrive({ message, request, result });
  return storeAndRecord({ message, request, result }, deps);
}

/** Contacts settled, one point per outcome present (its count). */
export function emitContactOutcomes(
  rows: readonly { enrichment_status: string }[],
  metrics: Metrics | undefined,
): void {
  if (!metrics) return;
  const byOutcome = new Map<string, number>();
  for (const row of rows) byOutcome.set(row.enrichment_status, (byOutcome.get(row.enrichment_status) ?? 0) + 1);
  for (const [outcome, n] of byOutcome) metrics.emit('contacts', n, { outcome });
}

/** The time left for enrichment calls: the invocation's remaining time less the reserve. */
function workBudget(budget: TimeBudget | undefined, reserveMs: number): RetryBudget | undefined {
  return budget && { availableMs: () => budget.remainingMs() - reserveMs };
}

/**
 * Handles a batch that reached the dead-letter queue: its contacts are written as failed
 * and the batch is counted as failed, once, unless a worker recorded it in the meantime.
 */
export async function failBatch(message: BatchMessage, reason: string, deps: RecordingDeps): Promise<BatchHandling> {
  // 1. Look up the status item and shard: skip unknown or finished requests, re-drive promotion and assembly for recorded
  //    batches; a cancelled request's batch is recorded as a worker records it (settleCancelled).
  // 2. A worker result already in S3 (only its count kept failing; one in a group object no update named is first
  //    stored under its own key) is counted as processed, as reconcile does.
  // 3. Otherwise write the failure result under the batch's failure key: the rows a worker settled
  //    before its time ran out are kept, only the contacts it never settled fail; its calls' usage stays counted.
  // 4. Record the batch exactly once; assemble if it was the last one.
  const { requestId, batchIndex } = message;
  const request = await alreadyHandled(message, deps);
  if (typeof request === 'string') return request;
  // A cancelled request's batch is not failed: its unsettled contacts are cancelled, as a worker records them.
  if (request.cancelled) return settleCancelled(message, request, deps);
  const stored = await uncountedResult(deps.store, requestId, batchIndex, deps.log);
  if (stored) {
    deps.log.warn('dead-lettered batch has a stored result; counted as processed', { requestId, batchIndex });
    // One found in a group object goes under its own key: the assembly reads a group only for the batches it counts.
    if (stored.grouped) await deps.store.putJson(keys.batch(requestId, batchIndex), stored.result);
    return recordAndFinish(message, 'processed', request, deps, undefined, batchUsage(stored.result));
  }
  const { result, keptRows } = await failureResult(message, reason, deps.store);
  await deps.store.putJson(keys.failedBatch(requestId, batchIndex), result);
  const failed = result.rows.filter((r) => r.enrichment_status === 'failed').length;
  deps.log.warn('batch failed', {
    requestId,
    batchIndex,
    contacts: result.rows.length,
    failedContacts: failed,
    keptRows,
    reason,
  });
  deps.metrics?.emit('batchFailed', 1);
  return recordAndFinish(message, 'failed', request, deps, result.rows, batchUsage(result));
}

/**
 * The failure result of a batch that gets no more deliveries (dead-lettered, or expired at the request's deadline):
 * the rows a worker settled before (its kept progress) are kept and only the others fail with `reason`; the usage of
 * its deliveries' calls stays counted, so the request's usage still adds up to what the provider saw.
 */
export async function failureResult(
  batch: { requestId: string; batchIndex: number; contacts: readonly Contact[]; fields: readonly EnrichField[] },
  reason: string,
  store: ObjectStore,
): Promise<{ result: BatchResult; keptRows: number }> {
  return settledOr(batch, store, (contact) => failedRow(contact, batch.fields, reason));
}

/** A cancelled request's batch that gets no more deliveries: the rows settled before kept, the others `cancelled`. */
export async function cancelledResult(
  batch: { requestId: string; batchIndex: number; contacts: readonly Contact[]; fields: readonly EnrichField[] },
  store: ObjectStore,
): Promise<{ result: BatchResult; keptRows: number }> {
  return settledOr(batch, store, (contact) => cancelledRow(contact, batch.fields));
}

/** The batch's rows an earlier delivery settled (its kept progress, with its calls' usage), `unsettled` for the rest. */
async function settledOr(
  batch: { requestId: string; batchIndex: number; contacts: readonly Contact[] },
  store: ObjectStore,
  unsettled: (contact: Contact) => OutputRow,
): Promise<{ result: BatchResult; keptRows: number }> {
  const { requestId, batchIndex } = batch;
  const kept = await store.getJson<StoredProgress>(keys.batchProgress(requestId, batchIndex));
  const fits = fitsBatch(kept, batch.contacts.length);
  const settled = fits ? kept.rows : [];
  const rows = batch.contacts.map((c, i) => settled[i] ?? unsettled(c));
  return {
    result: { requestId, batchIndex, rows, usage: callUsageOf(kept?.usage) },
    keptRows: settled.filter(Boolean).length,
  };
}
