import type { BatchMessage } from '../schemas/message';
import type { Logger } from '../logger';
import { assembleOutput } from './assembleOutput';
import { enrichWithBisection, type EnrichmentApi, type EnrichStats } from './enrichBatch';
import { EnrichmentUnavailableError } from './errors';
import { failedRow, type BatchResult } from './output';
import type { BatchOutcome, Clock, FaultHooks, ObjectStore, StatusStore } from './ports';
import type { RetryPolicy } from './retry';
import { isComplete, keys } from './status';

export interface WorkerDeps {
  store: ObjectStore;
  status: StatusStore;
  clock: Clock;
  log: Logger;
  faults: FaultHooks;
  api: EnrichmentApi;
  retry: RetryPolicy;
  metric?: (name: string, value: number, tags?: string[]) => void;
}

export type BatchHandling = 'recorded' | 'duplicate' | 'request-final' | 'unknown-request' | 'out-of-range';

/** After a batch is (or was already) recorded: the run that sees the last batch assembles the output. */
async function finishIfComplete(requestId: string, deps: WorkerDeps): Promise<void> {
  await assembleOutput(requestId, deps);
}

async function recordAndFinish(
  message: BatchMessage,
  outcome: BatchOutcome,
  deps: WorkerDeps,
): Promise<BatchHandling> {
  const { requestId, batchIndex } = message;
  const result = await deps.status.recordBatch(requestId, batchIndex, outcome, deps.clock.now().toISOString());
  if (!result) return 'unknown-request';
  await deps.faults.at('worker:after-record', { requestId, batchIndex });
  if (result.record.status === 'processing' && isComplete(result.record)) await finishIfComplete(requestId, deps);
  return result.recorded ? 'recorded' : 'duplicate';
}

/**
 * What makes a batch message need no work, shared by the worker and the DLQ handler: an unknown
 * request, an index outside it, a final request, or a batch recorded before (whose redelivery only
 * re-drives the assembly, which may have crashed). undefined when the batch is still to be handled.
 */
async function alreadyHandled(message: BatchMessage, deps: WorkerDeps): Promise<BatchHandling | undefined> {
  const { requestId, batchIndex } = message;
  const record = await deps.status.get(requestId);
  if (!record) {
    deps.log.warn('batch for an unknown request dropped', { requestId, batchIndex });
    return 'unknown-request';
  }
  if (batchIndex >= record.totalBatches) {
    deps.log.warn('batch index outside the request dropped', { requestId, batchIndex, totalBatches: record.totalBatches });
    return 'out-of-range';
  }
  if (record.status !== 'processing') return 'request-final';
  if (record.doneBatches?.has(batchIndex)) {
    if (isComplete(record)) await finishIfComplete(requestId, deps);
    return 'duplicate';
  }
  return undefined;
}

/**
 * Handles one batch message. Safe under redelivery and concurrent duplicates: the batch result
 * is an idempotent overwrite and the batch is counted by one conditional update.
 */
export async function processBatch(message: BatchMessage, deps: WorkerDeps): Promise<BatchHandling> {
  // 1. Load the status item: skip unknown or finished requests.
  // 2. A batch recorded before (redelivery) only re-drives assembly, which may have crashed.
  // 3. Enrich the contacts, bisecting a failing batch so only the bad contacts fail; if all of them
  //    fail, throw so SQS redelivers the message (and in the end dead-letters it).
  // 4. Store the batch result under its own key (overwrite).
  // 5. Record the batch exactly once; if that was the last one, assemble output.json and finalize.
  const { requestId, batchIndex } = message;
  const log = deps.log.child({ requestId, batchIndex });
  const skip = await alreadyHandled(message, deps);
  if (skip) return skip;

  const started = Date.now();
  const stats: EnrichStats = { calls: 0, retries: 0, bisections: 0 };
  const rows = await enrichWithBisection(message.contacts, message.fields, deps.api, deps.retry, stats);
  // An outage fails every contact; SQS redelivers the message later instead of failing them for good.
  if (rows.length > 1 && rows.every((r) => r.enrichment_status === 'failed')) throw new EnrichmentUnavailableError(rows.length);
  await deps.faults.at('worker:after-enrich', { requestId, batchIndex });

  const result: BatchResult = { requestId, batchIndex, rows };
  await deps.store.putJson(keys.batch(requestId, batchIndex), result);
  await deps.faults.at('worker:after-result-write', { requestId, batchIndex });

  const failed = rows.filter((r) => r.enrichment_status === 'failed').length;
  log.info('batch enriched', { contacts: rows.length, failedContacts: failed, ...stats, durationMs: Date.now() - started });
  deps.metric?.('enrichment.batch.duration_ms', Date.now() - started);
  deps.metric?.('enrichment.contacts.failed', failed);
  deps.metric?.('enrichment.api.retries', stats.retries);
  return recordAndFinish(message, 'processed', deps);
}

/**
 * Handles a batch that reached the dead-letter queue: its contacts are written as failed
 * and the batch is counted as failed, once, unless a worker recorded it in the meantime.
 */
export async function failBatch(message: BatchMessage, reason: string, deps: WorkerDeps): Promise<BatchHandling> {
  // 1. Load the status item: skip unknown or finished requests, re-drive assembly for recorded batches.
  // 2. A worker result already in S3 (only its count kept failing) is counted as processed, as reconcile does.
  // 3. Otherwise write the failure result under the batch's failure key.
  // 4. Record the batch exactly once; assemble if it was the last one.
  const { requestId, batchIndex } = message;
  const skip = await alreadyHandled(message, deps);
  if (skip) return skip;
  if (await deps.store.getJson<BatchResult>(keys.batch(requestId, batchIndex))) {
    deps.log.warn('dead-lettered batch has a stored result; counted as processed', { requestId, batchIndex });
    return recordAndFinish(message, 'processed', deps);
  }
  const rows = message.contacts.map((c) => failedRow(c, message.fields, reason));
  await deps.store.putJson(keys.failedBatch(requestId, batchIndex), { requestId, batchIndex, rows } satisfies BatchResult);
  deps.log.warn('batch failed', { requestId, batchIndex, contacts: rows.length, reason });
  deps.metric?.('enrichment.batch.failed', 1);
  return recordAndFinish(message, 'failed', deps);
}
