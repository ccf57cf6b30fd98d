import type { Logger } from '../logger';
import { emptyCounts, renderOutput, type BatchResult, type OutputCounts } from './output';
import type { Clock, FaultHooks, ObjectStore, StatusStore } from './ports';
import { finalStatus, isComplete, keys } from './status';

export interface AssembleDeps {
  store: ObjectStore;
  status: StatusStore;
  clock: Clock;
  log: Logger;
  faults: FaultHooks;
  /** Batch results fetched ahead of the writer. */
  prefetch?: number;
}

/** A batch's worker result, or else the failure record written for it by the DLQ handler or the deadline. */
async function loadBatch(store: ObjectStore, requestId: string, index: number): Promise<BatchResult> {
  const result =
    (await store.getJson<BatchResult>(keys.batch(requestId, index))) ??
    (await store.getJson<BatchResult>(keys.failedBatch(requestId, index)));
  if (!result) throw new Error(`batch ${index} of ${requestId} is recorded but has no stored result`);
  return result;
}

/** Batch results in index order, with a few reads in flight ahead of the consumer. */
async function* batchesInOrder(store: ObjectStore, requestId: string, total: number, prefetch: number): AsyncGenerator<BatchResult> {
  const pending: Promise<BatchResult>[] = [];
  let next = 0;
  const fill = () => {
    while (next < total && pending.length < prefetch) {
      const p = loadBatch(store, requestId, next++);
      p.catch(() => undefined); // surfaced when awaited below
      pending.push(p);
    }
  };
  fill();
  while (pending.length) {
    const batch = await pending.shift()!;
    fill();
    yield batch;
  }
}

export type AssembleOutcome = 'finalized' | 'already-final' | 'incomplete' | 'unknown';

/**
 * Builds output.json from the batch results and sets the final status. Safe to run any number
 * of times and concurrently: each run writes the same whole object, and only one status update wins.
 */
export async function assembleOutput(requestId: string, deps: AssembleDeps): Promise<AssembleOutcome> {
  // 1. Re-read the status item: stop if it is final already or not every batch is recorded.
  // 2. Stream the batch results, in order, into output.json (multipart upload, flat memory).
  // 3. Set the final status with a conditional update (processing → final).
  const record = await deps.status.get(requestId);
  if (!record) return 'unknown';
  if (record.status !== 'processing') return 'already-final';
  if (!isComplete(record)) return 'incomplete';

  const counts: OutputCounts = emptyCounts();
  const log = deps.log.child({ requestId });
  const started = Date.now();
  const faults = deps.faults;
  async function* withCrashPoint(): AsyncGenerator<BatchResult> {
    let i = 0;
    for await (const batch of batchesInOrder(deps.store, requestId, record!.totalBatches, deps.prefetch ?? 8)) {
      if (i++ === Math.floor(record!.totalBatches / 2)) await faults.at('assembly:midway', { requestId });
      yield batch;
    }
  }
  await deps.store.upload(keys.output(requestId), renderOutput(requestId, withCrashPoint(), counts), 'application/json');
  await faults.at('assembly:after-upload', { requestId });

  const status = finalStatus(counts);
  const won = await deps.status.finalize(requestId, status, counts, deps.clock.now().toISOString());
  log.info(won ? 'request finalized' : 'request was finalized by another run', {
    status,
    ...counts,
    assemblyMs: Date.now() - started,
  });
  return won ? 'finalized' : 'already-final';
}
