import type { BatchMessage } from '../schemas/message';
import type { StatusRecord } from '../schemas/status';
import { assemblesInline, requestAssembly } from './assembleOutput';
import { inputOf, readInputBatches } from './inputFile';
import { noTracer, type BatchOutcome, type BatchQueue, type PauseReason, type ProviderGateStore } from './ports';
import { isClosed } from './providerGate';
import { cancelledResult, emitContactOutcomes, failureResult, type RecordingDeps } from './processBatch';
import { batchUsage } from './usage';
import type { UsageCounts } from '../schemas/status';
import { groupOfKey, resultsInGroups } from './batchGroups';
import { isComplete, keys } from './status';

export interface ReconcileDeps extends RecordingDeps {
  queue: BatchQueue;
  batchSize: number;
  stallSeconds: number;
  /**
   * The assembleOutput function's timeout: a complete request whose assembly was queued is queued again
   * only once it made no progress for this long (or the stall window, if longer), so a running assembly
   * is not doubled.
   */
  assemblyTimeoutSeconds?: number;
  /** The provider gate's item: each run reports it (the gateOpen metric), so a pause shows with no worker running. */
  gateStore?: ProviderGateStore;
}

export type ReconcileAction = 'none' | 'assembled' | 'resent' | 'recounted' | 'expired' | 'cancelled';

export interface ReconcileReport {
  requestId: string;
  action: ReconcileAction;
  resentBatches: number[];
  recoveredBatches: number[];
  expiredBatches: number[];
  /** A cancelled request's batches recorded by this pass instead of re-sent (only on such a pass). */
  cancelledBatches?: number[];
  /** Where the output's assembly went, when this pass asked for it: inline, or queued for the assembleOutput function. */
  assembly?: 'inline' | 'queued';
}

const BATCH_KEY = /\/batches\/(\d+)(\.failed)?\.json$/;

/** Batch indexes with a result stored under their own key, by kind, and the objects holding several batches. */
async function storedResults(deps: ReconcileDeps, requestId: string) {
  const processed = new Set<number>();
  const failed = new Set<number>();
  const groups: { groupId: string; first: number }[] = [];
  for (const key of await deps.store.listKeys(keys.batchPrefix(requestId))) {
    const m = BATCH_KEY.exec(key);
    if (m) (m[2] ? failed : processed).add(Number(m[1]));
    const group = groupOfKey(key);
    if (group) groups.push(group);
  }
  return { processed, failed, groups };
}

/**
 * Drives one stalled request to the end: re-counts batches whose results are in S3 but were
 * never recorded, re-sends batches that have no result, and past the deadline marks the rest failed.
 * Every count goes through the same once-only conditional update as the workers use.
 */
export async function reconcileRequest(record: StatusRecord, deps: ReconcileDeps): Promise<ReconcileReport> {
  // 1. Skip requests that made progress within the stall window (the record's updatedAt includes its shards');
  //    a complete one whose assembly goes to the queue waits at least the assembly function's timeout.
  // 2. Complete ones only need assembly (a crash after the last count, or a queued assembly that failed).
  // 3. Read the shards for the batches recorded; record results that reached S3 but were never counted (one left only
  //    in an object of several batches is first stored under its own key).
  // 4. Past the deadline: write and record the missing batches as failed (keeping the rows a worker settled), then assemble.
  // 5. Cancelled: record the missing batches as cancelled (no re-send), then assemble.
  // 6. Otherwise re-send the missing batches from input.json and note the visit.
  const { requestId } = record;
  const report: ReconcileReport = {
    requestId,
    action: 'none',
    resentBatches: [],
    recoveredBatches: [],
    expiredBatches: [],
  };
  const now = deps.clock.now();
  const queued = !assemblesInline(record.totalBatches, deps);
  const quietSeconds =
    isComplete(record) && queued ? Math.max(deps.stallSeconds, deps.assemblyTimeoutSeconds ?? 0) : deps.stallSeconds;
  if (now.getTime() - Date.parse(record.updatedAt) < quietSeconds * 1000) return report;
  const log = deps.log.child({ requestId });
  /** Has the complete request assembled; a queued assembly is noted as a visit, so the next re-drive waits again. */
  const assemble = async (): Promise<'inline' | 'queued'> => {
    if ((await requestAssembly(requestId, record.totalBatches, deps)) !== 'queued') return 'inline';
    await deps.status.touch(requestId, now.toISOString());
    if (isComplete(record) && now.getTime() >= Date.parse(record.deadlineAt)) {
      log.error(
        'a complete request is still not assembled past its deadline; its assembly was queued again (see the assembly dead-letter queue)',
      );
    }
    return 'queued';
  };
  const request = { totalBatches: record.totalBatches, expiresAt: record.expiresAt };
  /** Records a batch on its shard and promotes the shard if that filled it, as the worker does. */
  const count = async (index: number, outcome: BatchOutcome, usage?: UsageCounts) => {
    const r = await deps.status.recordBatch(requestId, index, outcome, now.toISOString(), request, usage);
    if (r && r.shard.done >= r.shard.size) await deps.status.promoteShard(r.shard, now.toISOString());
    return r;
  };

  if (isComplete(record)) return { ...report, action: 'assembled', assembly: await assemble() };

  const done = await deps.status.doneBatches(record);
  const stored = await storedResults(deps, requestId);
  // A result left only in an object of several batches is stored under its batch's own key first: the assembly
  // reads a batch from a group object only when the update that counted it named that object.
  const unstored = new Set<number>();
  for (let i = 0; i < record.totalBatches; i++)
    if (!done.has(i) && !stored.processed.has(i) && !stored.failed.has(i)) unstored.add(i);
  if (unstored.size && stored.groups.length) {
    for (const [index, result] of await resultsInGroups(deps.store, requestId, stored.groups, unstored)) {
      await deps.store.putJson(keys.batch(requestId, index), result);
      stored.processed.add(index);
    }
  }
  for (let i = 0; i < record.totalBatches; i++) {
    if (done.has(i)) continue;
    const outcome = stored.processed.has(i) ? 'processed' : stored.failed.has(i) ? 'failed' : undefined;
    if (!outcome) continue;
    const r = await count(i, outcome);
    if (r) done.add(i);
    if (r?.recorded) report.recoveredBatches.push(i);
  }
  if (report.recoveredBatches.length) deps.metrics?.emit('reconcileRecounted', report.recoveredBatches.length);
  const missing = new Set<number>();
  for (let i = 0; i < record.totalBatches; i++) if (!done.has(i)) missing.add(i);

  if (missing.size > 0 && now.getTime() >= Date.parse(record.deadlineAt)) {
    const contacts = await readInputBatches(deps.store, inputOf(record), record.batchSize ?? deps.batchSize, missing);
    for (const index of missing) {
      // As the DLQ handler does: the rows a worker settled before (its kept progress) stay, the others fail.
      const { result } = await failureResult(
        { requestId, batchIndex: index, contacts: contacts.get(index) ?? [], fields: record.fields },
        'request deadline passed before the batch was processed',
        deps.store,
      );
      await deps.store.putJson(keys.failedBatch(requestId, index), result);
      const r = await count(index, 'failed', batchUsage(result));
      if (r?.recorded) {
        report.expiredBatches.push(index);
        emitContactOutcomes(result.rows, deps.metrics);
      }
    }
    log.warn('request deadline passed; unprocessed batches marked failed', { batches: report.expiredBatches.length });
    deps.metrics?.emit('reconcileExpired', report.expiredBatches.length);
    return { ...report, action: 'expired', assembly: await assemble() };
  }

  if (missing.size === 0) return { ...report, action: 'assembled', assembly: await assemble() };

  if (record.cancelRequestedAt) {
    // Cancelled and quiet for the stall window: nothing is re-sent; the batches still missing are recorded as the
    // workers would (the rows settled before kept, the others cancelled), and the request is assembled.
    const cancelledBatches: number[] = [];
    const contacts = await readInputBatches(deps.store, inputOf(record), record.batchSize ?? deps.batchSize, missing);
    for (const index of missing) {
      const { result } = await cancelledResult(
        { requestId, batchIndex: index, contacts: contacts.get(index) ?? [], fields: record.fields },
        deps.store,
      );
      await deps.store.putJson(keys.batch(requestId, index), result);
      const r = await count(index, 'processed', batchUsage(result));
      if (r?.recorded) {
        cancelledBatches.push(index);
        emitContactOutcomes(result.rows, deps.metrics);
      }
    }
    log.info('cancelled request finished: its missing batches recorded as cancelled', {
      batches: cancelledBatches.length,
    });
    return { ...report, action: 'cancelled', cancelledBatches, assembly: await assemble() };
  }

  const contacts = await readInputBatches(deps.store, inputOf(record), record.batchSize ?? deps.batchSize, missing);
  const messages: BatchMessage[] = [...missing].map((batchIndex) => ({
    requestId,
    batchIndex,
    fields: record.fields,
    contacts: contacts.get(batchIndex) ?? [],
  }));
  await deps.queue.send(messages.filter((m) => m.contacts.length > 0));
  await deps.status.touch(requestId, now.toISOString());
  report.resentBatches = [...missing];
  log.warn('stalled request re-driven', { resent: missing.size, recovered: report.recoveredBatches.length });
  deps.metrics?.emit('reconcileResent', missing.size);
  return { ...report, action: report.recoveredBatches.length ? 'recounted' : 'resent' };
}

/**
 * One reconcile pass over every request still processing; it also reports how many there are, the oldest one's age
 * and the provider gate.
 */
export async function reconcileAll(deps: ReconcileDeps): Promise<ReconcileReport[]> {
  return (deps.tracer ?? noTracer).span('enrichment.reconcile', {}, async (span) => {
    await reportGate(deps);
    const reports = await reconcileEach(deps);
    span.setTag('enrichment.reconciled', reports.length);
    return reports;
  });
}

const PAUSE_REASONS: readonly PauseReason[] = ['outage', 'credits', 'rate_limit'];

/** One gateOpen point per reason: 1 while the gate is not closed for it (open or waiting for its trial), else 0. */
async function reportGate(deps: ReconcileDeps): Promise<void> {
  if (!deps.gateStore) return;
  try {
    const state = await deps.gateStore.read();
    const now = deps.clock.now().getTime();
    const pausedFor = isClosed(state, now) ? undefined : (state.reason ?? 'outage');
    for (const reason of PAUSE_REASONS) deps.metrics?.emit('gateOpen', reason === pausedFor ? 1 : 0, { reason });
    if (pausedFor)
      deps.log.warn('the provider gate is open: provider calls are paused', {
        reason: pausedFor,
        since: state.since === undefined ? undefined : new Date(state.since).toISOString(),
        openUntil: new Date(state.openUntil!).toISOString(),
      });
  } catch (err) {
    deps.log.error('reading the provider gate failed', { err });
  }
}

async function reconcileEach(deps: ReconcileDeps): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  const now = deps.clock.now().getTime();
  let open = 0;
  let oldestMs = 0;
  for await (const record of deps.status.listProcessing()) {
    open++;
    oldestMs = Math.max(oldestMs, now - Date.parse(record.createdAt));
    try {
      const report = await reconcileRequest(record, deps);
      if (report.action !== 'none') reports.push(report);
    } catch (err) {
      deps.log.error('reconcile failed for a request', { requestId: record.requestId, err });
    }
  }
  deps.metrics?.emit('requestsProcessing', open);
  deps.metrics?.emit('oldestProcessingAge', Math.round(oldestMs / 1000));
  return reports;
}
