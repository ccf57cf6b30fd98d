import { EnrichmentError } from './errors';
import { visibleTo } from './owner';
import type { Clock, Logger, Metrics, StatusStore } from './ports';
import { isFinal } from './status';
import type { StatusRecord } from '../schemas/status';

export interface CancelDeps {
  status: StatusStore;
  clock: Clock;
  log: Logger;
  /** Custom metrics: none when unset. */
  metrics?: Metrics;
}

/** `accepted`: marked cancelling now; `cancelling`: marked before, still running; `cancelled`: done. */
export type CancelOutcome = 'accepted' | 'cancelling' | 'cancelled';

/**
 * POST /enrichment/{id}/cancel. What it marks, everyone else honours: the workers settle a batch of a cancelled
 * request without the provider (src/core/processBatch.ts), the intake records the batches it has not sent yet
 * (src/core/intake.ts), reconcile records the batches still missing once the request is quiet (src/core/reconcile.ts),
 * and the assembly ends it `cancelled`, every contact in its output once.
 */
export async function cancelEnrichment(
  requestId: string,
  owner: string | undefined,
  deps: CancelDeps,
): Promise<{ outcome: CancelOutcome; record: StatusRecord }> {
  // 1. Read the request: another key's, or none, is not found.
  // 2. Running and not marked yet: mark it (one conditional write); a lost race reads it again below.
  // 3. Answer from the request as it is now: cancelling (marked, running), cancelled, or any other final status a
  //    conflict naming it.
  const notFound = () => new EnrichmentError(`No enrichment request with id ${requestId}`, { kind: 'not_found' });
  let record = await deps.status.get(requestId);
  if (!record || !visibleTo(record, owner)) throw notFound();
  let accepted = false;
  if (!isFinal(record.status) && !record.cancelRequestedAt) {
    accepted = await deps.status.requestCancel(requestId, deps.clock.now().toISOString());
    record = await deps.status.get(requestId);
    if (!record) throw notFound();
  }
  if (accepted) {
    deps.metrics?.emit('requestCancel', 1, { result: 'accepted' });
    deps.log.info('request cancel asked for', { requestId, status: record.status });
    // The mark is written: the answer is `cancelling` (or `cancelled`, if the request ended in between).
    return { outcome: record.status === 'cancelled' ? 'cancelled' : 'accepted', record: withMark(record) };
  }
  if (record.status === 'cancelled' || (!isFinal(record.status) && record.cancelRequestedAt)) {
    deps.metrics?.emit('requestCancel', 1, { result: 'repeated' });
    return { outcome: record.status === 'cancelled' ? 'cancelled' : 'cancelling', record };
  }
  deps.metrics?.emit('requestCancel', 1, { result: 'final' });
  throw new EnrichmentError(`The enrichment request is ${record.status}: only a running request can be cancelled`, {
    kind: 'request_final',
  });
}

/** The request as the cancel left it: marked, in case a read racing the write did not show the mark yet. */
const withMark = (record: StatusRecord): StatusRecord =>
  record.cancelRequestedAt || isFinal(record.status) ? record : { ...record, cancelRequestedAt: record.updatedAt };
