import type { StatusRecord } from '../schemas/status';
import { EnrichmentError } from './errors';
import { visibleTo } from './owner';
import type { Clock, RequestHistory, StatusStore } from './ports';
import { expiresAtIso, isExpired } from './status';

export interface LiveRequestDeps {
  status: StatusStore;
  history: RequestHistory;
  clock: Clock;
}

const gone = (requestId: string, expiresAt: number) =>
  new EnrichmentError(
    `Request ${requestId} expired at ${expiresAtIso({ expiresAt })}: its outputs and status are deleted after RESULT_TTL_DAYS; submit the contacts again`,
    { kind: 'gone' },
  );

/**
 * The caller's request while its outputs exist (a download): 410 once expired, 404 for one that is unknown or
 * another key's.
 */
export async function liveRequest(
  requestId: string,
  owner: string | undefined,
  deps: LiveRequestDeps,
): Promise<StatusRecord> {
  // 1. The status item, if the caller may see it: another key's request is as unknown as a missing one.
  // 2. Past its expiresAt: gone (410), even while the item is still there (DynamoDB's TTL deletes it up to days
  //    later, and the bucket's lifecycle rule the outputs at the next midnight UTC).
  // 3. No status item: its tombstone (kept TOMBSTONE_DAYS after expiry) tells an expired request (410) from one that
  //    never was the caller's (404).
  const notFound = new EnrichmentError(`No enrichment request with id ${requestId}`, { kind: 'not_found' });
  const now = deps.clock.now();
  const record = await deps.status.get(requestId);
  if (record) {
    if (!visibleTo(record, owner)) throw notFound;
    if (isExpired(record, now)) throw gone(requestId, record.expiresAt);
    return record;
  }
  const tomb = await deps.history.tombstone(requestId);
  if (tomb && visibleTo(tomb, owner) && isExpired(tomb, now)) throw gone(requestId, tomb.expiresAt);
  throw notFound;
}
