import { randomBytes } from 'node:crypto';
import type { BatchGroupResult, BatchResult } from './output';
import type { Logger, ObjectStore } from './ports';
import { shardOf } from './shards';
import { keys } from './status';

/**
 * The results of an invocation's batches of one shard, stored in one object (keys.batchGroup) and counted by one
 * update that names it for exactly the batches it counts (StatusStore.storedTogether). An object no update named (a
 * crash between its write and the update) is read only by those who recover a batch's uncounted result.
 */

/** A new id per write (`<first index>-<random>`): a duplicate delivery never overwrites an object an update named. */
export const newGroupId = (first: number) => `${String(first).padStart(6, '0')}-${randomBytes(6).toString('hex')}`;

const GROUP_KEY = /\/batches\/g((\d+)-[0-9a-f]+)\.json$/;

/** A group object's id and first batch index, from its key; undefined for any other key. */
export function groupOfKey(key: string): { groupId: string; first: number } | undefined {
  const m = GROUP_KEY.exec(key);
  return m ? { groupId: m[1], first: Number(m[2]) } : undefined;
}

/**
 * The results of the `wanted` batches that group objects hold (the first found for each), reading only the objects
 * that may hold one: a group's batches are of one shard, from the first index of its id on.
 */
export async function resultsInGroups(
  store: ObjectStore,
  requestId: string,
  groups: readonly { groupId: string; first: number }[],
  wanted: ReadonlySet<number>,
): Promise<Map<number, BatchResult>> {
  const found = new Map<number, BatchResult>();
  for (const { groupId, first } of groups) {
    if (![...wanted].some((i) => !found.has(i) && i >= first && shardOf(i) === shardOf(first))) continue;
    const group = await store.getJson<BatchGroupResult>(keys.batchGroup(requestId, groupId));
    for (const batch of group?.batches ?? [])
      if (wanted.has(batch.batchIndex) && !found.has(batch.batchIndex)) found.set(batch.batchIndex, batch);
  }
  return found;
}

/**
 * A result a delivery stored for a batch it never counted: under the batch's own key, else in a group object (one
 * LIST of the request's group objects). The DLQ handler counts it as processed rather than failing the batch. The
 * group lookup is best effort: if it fails (logged), the batch is treated as having no result, so the handler still
 * ends it (as failed, its contacts once).
 */
export async function uncountedResult(
  store: ObjectStore,
  requestId: string,
  batchIndex: number,
  log: Logger,
): Promise<{ result: BatchResult; grouped: boolean } | undefined> {
  const own = await store.getJson<BatchResult>(keys.batch(requestId, batchIndex));
  if (own) return { result: own, grouped: false };
  try {
    const groups = (await store.listKeys(`${keys.batchPrefix(requestId)}g`)).flatMap((k) => groupOfKey(k) ?? []);
    const result = (await resultsInGroups(store, requestId, groups, new Set([batchIndex]))).get(batchIndex);
    return result && { result, grouped: true };
  } catch (err) {
    log.warn('could not look for the batch in group objects; treated as having no result', {
      requestId,
      batchIndex,
      err,
    });
    return undefined;
  }
}
