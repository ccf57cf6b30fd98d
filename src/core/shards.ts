/**
 * Counting is sharded: batch i is recorded on the item of shard floor(i / SHARD_BATCHES), which holds the
 * shard-relative offsets done so far and its own counts; a full shard's counts move to the status item once.
 * 256 batches keep a shard item under 1 KB (offsets are 1–3 digits), so a record costs 1 write unit.
 */
const SHARD_BATCHES = 256;

export const shardOf = (batchIndex: number) => Math.floor(batchIndex / SHARD_BATCHES);
export const offsetIn = (batchIndex: number) => batchIndex % SHARD_BATCHES;
export const shardCount = (totalBatches: number) => Math.ceil(totalBatches / SHARD_BATCHES);
/** Batches shard k covers: SHARD_BATCHES, but fewer for the last shard of a request. */
export const shardSize = (shard: number, totalBatches: number) =>
  Math.max(0, Math.min(SHARD_BATCHES, totalBatches - shard * SHARD_BATCHES));
export const batchAt = (shard: number, offset: number) => shard * SHARD_BATCHES + offset;
