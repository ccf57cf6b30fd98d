import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import {
  countRow,
  emptyCounts,
  OUTPUT_CONTENT_TYPES,
  OUTPUT_FORMATS,
  rendererFor,
  rowsAsJson,
  type BatchGroupResult,
  type BatchResult,
  type OutputCounts,
  type OutputFormat,
} from './output';
import {
  noTracer,
  type Logger,
  type AssemblyQueue,
  type Clock,
  type FaultHooks,
  type Metrics,
  type ObjectStore,
  type StatusStore,
  type Tracer,
} from './ports';
import { finalStatus, isComplete, keys, outputKey } from './status';
import type { StatusRecord } from '../schemas/status';
import { addUsage, batchUsage, noUsage, priced } from './usage';
import { enqueueFinalEvent, type WebhookOutbox } from './webhooks';

export interface AssembleDeps {
  store: ObjectStore;
  status: StatusStore;
  clock: Clock;
  log: Logger;
  faults: FaultHooks;
  /** Custom metrics: none when unset. */
  metrics?: Metrics;
  /** Batch results fetched ahead of the writer. */
  prefetch?: number;
  /** The formats written (default: all). Only the bench leaves some out, to measure what they cost. */
  formats?: readonly OutputFormat[];
  /** The `enrichment.assembly` span: none when unset. */
  tracer?: Tracer;
  /** The provider's price per match (PROVIDER_PRICE_PER_MATCH): the final usage's estimatedCost. 0 when unset. */
  pricePerMatch?: number;
  /** Where a final request's completion webhook is queued (src/core/webhooks.ts): none when unset. */
  webhooks?: WebhookOutbox;
}

/** A batch's rows, and each as JSON: stringified once for both the JSON and the NDJSON output. */
interface RenderedBatch {
  rows: BatchResult['rows'];
  json: string[];
}

/**
 * Text buffered per output before the producer waits for that upload to take it (back-pressure): a
 * PassThrough holds up to this much on each of its sides, so about 1 MiB per format in all.
 */
const HIGH_WATER_MARK = 512 * 1024;

/**
 * One pass over the batches feeding several uploads: each batch is rendered in every format and
 * written to each upload's stream; when any stream is full the pass waits until it drains, so at most
 * about 2 × HIGH_WATER_MARK (plus the upload's own part buffers) is held per format. A failure on either
 * side (the pass, or any upload) destroys every stream, so each multipart upload aborts and the whole
 * thing rejects with the first error.
 */
async function writeAll(
  store: ObjectStore,
  outputs: { key: string; contentType: string; render: (batch: RenderedBatch | 'start' | 'end') => string }[],
  batches: AsyncIterable<RenderedBatch>,
): Promise<void> {
  const streams = outputs.map(() => new PassThrough({ highWaterMark: HIGH_WATER_MARK }));
  // Errors surface through the promises below; a listener keeps a destroyed stream from throwing them again.
  for (const s of streams) s.on('error', () => undefined);
  let failed: unknown;
  const fail = (err: unknown) => {
    failed ??= err;
    for (const s of streams) if (!s.destroyed) s.destroy(err as Error);
  };
  const uploads = outputs.map((o, i) =>
    store.upload(o.key, streams[i], o.contentType).catch((err) => {
      fail(err);
      throw err;
    }),
  );
  const write = async (what: RenderedBatch | 'start' | 'end') => {
    const full: Promise<unknown>[] = [];
    outputs.forEach((o, i) => {
      const text = o.render(what);
      if (text && !streams[i].write(text)) full.push(once(streams[i], 'drain'));
    });
    if (full.length) await Promise.all(full);
  };
  const produce = (async () => {
    try {
      await write('start');
      for await (const batch of batches) {
        if (failed) throw failed;
        await write(batch);
      }
      await write('end');
      for (const s of streams) s.end();
    } catch (err) {
      fail(err);
      throw err;
    }
  })();
  const results = await Promise.allSettled([produce, ...uploads]);
  if (failed) throw failed;
  const rejected = results.find((r) => r.status === 'rejected');
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
}

/** A recorded batch whose result is not stored: a bug, or another run finalized the request and deleted its results. */
class MissingBatchResult extends Error {}

/** A batch's worker result, or else the failure record written for it by the DLQ handler or the deadline. */
async function loadBatch(store: ObjectStore, requestId: string, index: number): Promise<BatchResult> {
  const result =
    (await store.getJson<BatchResult>(keys.batch(requestId, index))) ??
    (await store.getJson<BatchResult>(keys.failedBatch(requestId, index)));
  if (!result) throw new MissingBatchResult(`batch ${index} of ${requestId} is recorded but has no stored result`);
  return result;
}

/**
 * Reads the results stored together (StatusStore.storedTogether: batch index → group id) once per group: a group's
 * object is kept from its first batch's read until its last batch is taken.
 */
function groupReader(store: ObjectStore, requestId: string, together: Map<number, string>) {
  const left = new Map<string, number>();
  for (const groupId of together.values()) left.set(groupId, (left.get(groupId) ?? 0) + 1);
  const reads = new Map<string, Promise<BatchGroupResult | undefined>>();
  return async (index: number): Promise<BatchResult> => {
    const groupId = together.get(index);
    if (groupId === undefined) return loadBatch(store, requestId, index);
    let read = reads.get(groupId);
    if (!read) {
      read = store.getJson<BatchGroupResult>(keys.batchGroup(requestId, groupId));
      reads.set(groupId, read);
    }
    const remaining = (left.get(groupId) ?? 1) - 1;
    left.set(groupId, remaining);
    if (remaining === 0) reads.delete(groupId);
    const result = (await read)?.batches.find((b) => b.batchIndex === index);
    if (!result)
      throw new MissingBatchResult(`batch ${index} of ${requestId} is recorded in group ${groupId}, not stored`);
    return result;
  };
}

/**
 * Batch results read ahead of the writer: each GET waits on S3's latency (tens of ms), so a few in flight
 * would leave a 10M-contact assembly waiting on 100,000 reads one eighth at a time. 32 results are ~1 MB.
 */
const DEFAULT_PREFETCH = 32;

async function* batchesInOrder(
  store: ObjectStore,
  requestId: string,
  total: number,
  prefetch: number,
  together: Map<number, string>,
): AsyncGenerator<BatchResult> {
  const load = groupReader(store, requestId, together);
  const pending: Promise<BatchResult>[] = [];
  let next = 0;
  const fill = () => {
    while (next < total && pending.length < prefetch) {
      const p = load(next++);
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
 * Builds output.json, output.ndjson and output.csv from the batch results and sets the final status.
 * Safe to run any number of times and concurrently: each run writes the same whole objects, and only
 * one status update wins.
 */
export async function assembleOutput(requestId: string, deps: AssembleDeps): Promise<AssembleOutcome> {
  return (deps.tracer ?? noTracer).span('enrichment.assembly', { 'enrichment.request_id': requestId }, () =>
    assemble(requestId, deps),
  );
}

async function assemble(requestId: string, deps: AssembleDeps): Promise<AssembleOutcome> {
  // 1. Re-read the status item: stop if it is final already or not every batch is recorded.
  // 2. Read the batch results once, in order (those stored together: their group's object once, per the shards),
  //    rendering each into JSON, NDJSON and CSV, each streamed into its own multipart upload (flat memory), and
  //    summing the usage (calls kept with each result, rows by source and status); wait until all of them are stored.
  // 3. Set the final status and the usage, priced, with a conditional update (processing → final): the outputs
  //    exist by then.
  // 4. The run that set the status deletes what only the assembly read: the batch results (and a worker's kept
  //    progress), and the service's own copy of inline contacts (an upload is the caller's: its lifecycle rule expires
  //    it). A run that finds them gone meanwhile finds the request final: nothing to assemble.
  // 5. A request with a callbackUrl: queue its event (once: src/core/webhooks.ts), whichever run set the status; a
  //    run that finds the request final already queues it too, should the run that finalized it have crashed before.
  const record = await deps.status.get(requestId);
  if (!record) return 'unknown';
  if (record.status !== 'processing') {
    await enqueueFinalEvent(record, deps.webhooks, deps.log);
    return 'already-final';
  }
  if (!isComplete(record)) return 'incomplete';

  // A cancelled request's summary always carries its `cancelled` count, none left unsettled included.
  const counts: OutputCounts = record.cancelRequestedAt ? { ...emptyCounts(), cancelled: 0 } : emptyCounts();
  let usage = noUsage();
  const log = deps.log.child({ requestId });
  const started = Date.now();
  const faults = deps.faults;
  const together = (await deps.status.storedTogether?.(record)) ?? new Map<number, string>();
  async function* withCrashPoint(): AsyncGenerator<BatchResult> {
    let i = 0;
    for await (const batch of batchesInOrder(
      deps.store,
      requestId,
      record!.totalBatches,
      deps.prefetch ?? DEFAULT_PREFETCH,
      together,
    )) {
      if (i++ === Math.floor(record!.totalBatches / 2)) await faults.at('assembly:midway', { requestId });
      yield batch;
    }
  }
  const outputs = (deps.formats ?? OUTPUT_FORMATS).map((format) => {
    const renderer = rendererFor(format, requestId, record.fields);
    return {
      key: outputKey(requestId, format),
      contentType: OUTPUT_CONTENT_TYPES[format],
      render: (what: RenderedBatch | 'start' | 'end') =>
        what === 'start'
          ? renderer.start()
          : what === 'end'
            ? renderer.end(counts)
            : renderer.rows(what.rows, what.json),
    };
  });
  const needsJson = (deps.formats ?? OUTPUT_FORMATS).some((f) => f !== 'csv');
  async function* counted(): AsyncGenerator<RenderedBatch> {
    for await (const batch of withCrashPoint()) {
      for (const row of batch.rows) countRow(counts, row.enrichment_status);
      usage = addUsage(usage, batchUsage(batch));
      yield { rows: batch.rows, json: needsJson ? rowsAsJson(batch.rows) : [] };
    }
  }
  try {
    await writeAll(deps.store, outputs, counted());
  } catch (err) {
    // Another run finalized the request and deleted its batch results while this one read them: its outputs stand.
    if (!(err instanceof MissingBatchResult)) throw err;
    const now = await deps.status.get(requestId);
    if (!now || now.status === 'processing') throw err;
    log.info('request was finalized by another run while this one read its batch results', { status: now.status });
    return 'already-final';
  }
  await faults.at('assembly:after-upload', { requestId });

  const status = finalStatus(counts, !!record.cancelRequestedAt);
  const final = priced(usage, deps.pricePerMatch ?? 0);
  const won = await deps.status.finalize(requestId, status, counts, deps.clock.now().toISOString(), final);
  log.info(won ? 'request finalized' : 'request was finalized by another run', {
    status,
    ...counts,
    usage: final,
    assemblyMs: Date.now() - started,
  });
  if (won) {
    deps.metrics?.emit('requestFinalized', 1, { status });
    await dropWorkFiles(record, deps.store, log);
  }
  if (record.webhook && deps.webhooks) await enqueueFinalEvent(await deps.status.get(requestId), deps.webhooks, log);
  return won ? 'finalized' : 'already-final';
}

/**
 * Deletes a final request's batch results and its inline input (the outputs hold every row). Best effort: a failure is
 * logged, and the bucket's lifecycle rule expires whatever is left with the request.
 */
async function dropWorkFiles(record: StatusRecord, store: ObjectStore, log: Logger): Promise<void> {
  if (!store.deleteKeys) return;
  try {
    const drop = await store.listKeys(keys.batchPrefix(record.requestId));
    if (record.inputFileKey === keys.input(record.requestId)) drop.push(record.inputFileKey);
    await store.deleteKeys(drop);
  } catch (err) {
    log.warn('deleting the batch results of a final request failed; the lifecycle rule expires them', { err });
  }
}

/** Where a complete request's assembly runs: inline, or in the assembleOutput function through its queue. */
export interface AssemblyRouting {
  /** Unset: every assembly runs inline (unit tests, the bench). */
  assemblyQueue?: AssemblyQueue;
  /** Requests of at most this many batches are assembled inline (default: all). */
  assemblyInlineMaxBatches?: number;
  /** An inline assembly's webhook outbox (AssembleDeps.webhooks), carried by the deps of those who assemble inline. */
  webhooks?: WebhookOutbox;
}

export const assemblesInline = (totalBatches: number, routing: AssemblyRouting): boolean =>
  !routing.assemblyQueue || totalBatches <= (routing.assemblyInlineMaxBatches ?? Infinity);

/**
 * Has a complete request assembled: at once in this invocation when it is small enough, else by the
 * assembleOutput function (one message; a duplicate is harmless, the assembly checks the status first).
 */
export async function requestAssembly(
  requestId: string,
  totalBatches: number,
  deps: AssembleDeps & AssemblyRouting,
): Promise<AssembleOutcome | 'queued'> {
  // 1. Small request: assemble here. 2. Otherwise queue one message for the assembleOutput function.
  if (assemblesInline(totalBatches, deps)) return assembleOutput(requestId, deps);
  await deps.assemblyQueue!.send({ requestId });
  deps.log.info('assembly queued for the assembleOutput function', { requestId, totalBatches });
  return 'queued';
}
