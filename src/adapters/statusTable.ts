import DataLoader from 'dataloader';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type BatchGetCommandOutput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { config } from '../config';
import type { DedupClaim, RequestHistory, ShardState, StatusStore } from '../core/ports';
import { batchAt, offsetIn, shardCount, shardOf, shardSize } from '../core/shards';
import { isComplete, isFinal } from '../core/status';
import { StatusRecordSchema, type StatusRecord, type UsageCounts } from '../schemas/status';
import { documentClient } from './clients';

export const isConditionFailure = (err: unknown) =>
  err instanceof ConditionalCheckFailedException ||
  (err as { name?: string })?.name === 'ConditionalCheckFailedException';

/** true when the conditional write happened, false when its condition failed (also the upload records'). */
export const conditional = (write: Promise<unknown>): Promise<boolean> =>
  write.then(
    () => true,
    (err) => {
      if (isConditionFailure(err)) return false;
      throw err;
    },
  );

const toRecord = (item: Record<string, unknown> | undefined): StatusRecord | undefined =>
  item ? StatusRecordSchema.parse(item) : undefined;

/** The sparse index of requests not final yet (serverless.yml): partition `running`, sort `createdAt`. */
const RUNNING_INDEX = 'running';
/** One partition: the index is written only when a request starts and ends, far below a partition's limit. */
const RUNNING = 1;

/**
 * The sparse index of requests by owner (serverless/resources/table.yml): partition `listOwner`, sort `listSort`
 * (`<createdAt>#<requestId>`, unique, so newest first is a total order and a page ends at one exact position). Only
 * status items carry the two attributes: shards, dedup, upload, tombstone, gate and rate-limit items never show up.
 */
const OWNER_INDEX = 'byOwner';
/** The partition of requests made without an API key (a stage without keys): owner ids are 32 hex digits. */
const NO_OWNER = '-';
const listKeysOf = (record: Pick<StatusRecord, 'owner' | 'createdAt' | 'requestId'>) => ({
  listOwner: record.owner ?? NO_OWNER,
  listSort: `${record.createdAt}#${record.requestId}`,
});
/** Items a list call reads at most (a status filter may skip many): then it answers a shorter page and a cursor. */
const LIST_READ_BUDGET = 2_000;
const LIST_FILTERED_PAGE = 500;

/**
 * What is left of a request once DynamoDB's TTL deleted its status item: `gone#<requestId>`, with its owner and
 * expiry, itself deleted TOMBSTONE_DAYS later. Until then a download answers 410 rather than 404.
 */
const tombstoneKey = (requestId: string) => `gone#${requestId}`;
export const TOMBSTONE_DAYS = 90;
const TombstoneSchema = z.object({ owner: z.string().optional(), requestExpiresAt: z.number().int() });

/**
 * The shard item's string set of batches whose results are stored together: `<offset>.<offset>…><groupId>`, one entry
 * per grouped record. The entries never share an offset: each was added by the update that counted its offsets.
 */
const TOGETHER = 'together';
const togetherEntry = (offsets: readonly number[], groupId: string) => `${offsets.join('.')}>${groupId}`;

/** A shard item shares the table with the status items: its `requestId` key is `shard#<requestId>#<shard>`. */
const shardKey = (requestId: string, shard: number) => `shard#${requestId}#${shard}`;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * The running usage (src/core/usage.ts) as top-level number attributes, ADDed by the updates that already count the
 * batches: recordBatch onto the shard item, promoteShard onto the status item. (ADD cannot reach into a map that may
 * not exist yet.) The final `usage` map that finalize sets is what a final request shows; these stay behind unread.
 */
const USAGE_ATTRIBUTES: Record<keyof UsageCounts, string> = {
  providerCalls: 'uCalls',
  contactsSent: 'uContacts',
  cacheHits: 'uCacheHits',
  matches: 'uMatches',
  notFound: 'uNotFound',
  failed: 'uFailed',
  rateLimitWaitMs: 'uWaitMs',
  cancelled: 'uCancelled',
};
const USAGE_KEYS = Object.keys(USAGE_ATTRIBUTES) as (keyof UsageCounts)[];

/** The running usage an item holds; undefined when it holds none (nothing recorded with usage yet). */
function runningUsageOf(item: Record<string, unknown> | undefined): UsageCounts | undefined {
  if (!item || !USAGE_KEYS.some((k) => item[USAGE_ATTRIBUTES[k]] !== undefined)) return undefined;
  // `cancelled` only once a cancel left rows unsettled: a request never cancelled shows none.
  return Object.fromEntries(
    USAGE_KEYS.filter((k) => k !== 'cancelled' || item[USAGE_ATTRIBUTES[k]] !== undefined).map((k) => [
      k,
      Number(item[USAGE_ATTRIBUTES[k]] ?? 0),
    ]),
  ) as UsageCounts;
}

const sumUsage = (a: UsageCounts | undefined, b: UsageCounts | undefined): UsageCounts | undefined =>
  a && b
    ? (Object.fromEntries(
        USAGE_KEYS.filter((k) => a[k] !== undefined || b[k] !== undefined).map((k) => [k, (a[k] ?? 0) + (b[k] ?? 0)]),
      ) as UsageCounts)
    : (a ?? b);

/** `, #uProviderCalls :uProviderCalls, …` to join an ADD clause, with its names and values; nothing without usage. */
function addUsageClause(usage: UsageCounts | undefined) {
  if (!usage) return { clause: '', names: {}, values: {} };
  const names: Record<string, string> = {};
  const values: Record<string, number> = {};
  const parts = USAGE_KEYS.filter((k) => usage[k] !== undefined).map((k) => {
    names[`#u_${k}`] = USAGE_ATTRIBUTES[k];
    values[`:u_${k}`] = usage[k]!;
    return `#u_${k} :u_${k}`;
  });
  return { clause: `, ${parts.join(', ')}`, names, values };
}

const toShard = (
  requestId: string,
  shard: number,
  size: number,
  item: Record<string, unknown> | undefined,
): ShardState => {
  const usage = runningUsageOf(item);
  return {
    requestId,
    shard,
    size,
    done: (item?.done as Set<number> | undefined)?.size ?? 0,
    processed: Number(item?.processed ?? 0),
    failed: Number(item?.failed ?? 0),
    ...(usage ? { usage } : {}),
  };
};

/** A dedup item shares the table with the status items: its `requestId` key is `dedup#<sha256>`. */
const DedupItemSchema = z.object({
  requestId: z.string(),
  kind: z.literal('dedup'),
  forRequestId: z.string(),
  bodyHash: z.string(),
  claimedAt: z.string(),
  expiresAt: z.number().int(),
  released: z.boolean().optional(),
});

const dedupItem = (claim: DedupClaim) => ({
  requestId: claim.key,
  kind: 'dedup' as const,
  forRequestId: claim.requestId,
  bodyHash: claim.bodyHash,
  claimedAt: claim.claimedAt,
  expiresAt: claim.expiresAt,
  ...(claim.released ? { released: true } : {}),
});

const toClaim = (item: Record<string, unknown> | undefined): DedupClaim | undefined => {
  if (!item) return undefined;
  const d = DedupItemSchema.parse(item);
  return {
    key: d.requestId,
    requestId: d.forRequestId,
    bodyHash: d.bodyHash,
    claimedAt: d.claimedAt,
    expiresAt: d.expiresAt,
    released: d.released,
  };
};

/** Reads of status items and their shards, shared by the status store and the request history. */
function shardReads(table: string, db: ReturnType<typeof documentClient>) {
  /** Items by key, 100 keys a call, unprocessed keys retried. */
  async function batchGet(keys: string[], consistent: boolean): Promise<Map<string, Record<string, unknown>>> {
    const found = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Record<string, unknown>[] | undefined = keys.slice(i, i + 100).map((requestId) => ({ requestId }));
      for (let attempt = 0; pending?.length; attempt++) {
        if (attempt) await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** attempt)));
        const res: BatchGetCommandOutput = await db.send(
          new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: consistent } } }),
        );
        for (const item of res.Responses?.[table] ?? []) found.set(String(item.requestId), item);
        pending = res.UnprocessedKeys?.[table]?.Keys;
      }
    }
    return found;
  }

  const readShards = async (requestId: string, shards: number[]) => {
    const items = await batchGet(
      shards.map((k) => shardKey(requestId, k)),
      true,
    );
    return shards.map((shard) => ({ shard, item: items.get(shardKey(requestId, shard)) }));
  };

  /** A status item as a record; a processing one with the counts of its shards not promoted yet summed in. */
  async function withShards(statusItem: Record<string, unknown>): Promise<StatusRecord> {
    const record = toRecord(statusItem)!;
    // Only a request in processing shows batch counts; one still validating shows no totals yet (docs/api.md: GET /enrichment/{id}).
    if (record.status !== 'processing') return record;
    let usage = runningUsageOf(statusItem);
    const pending = range(shardCount(record.totalBatches)).filter((k) => !record.fullShards?.has(k));
    for (const { item } of pending.length ? await readShards(record.requestId, pending) : []) {
      if (!item) continue;
      record.processedBatches += Number(item.processed ?? 0);
      record.failedBatches += Number(item.failed ?? 0);
      usage = sumUsage(usage, runningUsageOf(item));
      if (typeof item.updatedAt === 'string' && item.updatedAt > record.updatedAt) record.updatedAt = item.updatedAt;
    }
    if (usage) record.usage = usage;
    return record;
  }

  return { batchGet, readShards, withShards };
}

export function dynamoStatusStore(
  table = config().TABLE_NAME,
  db = documentClient(),
): StatusStore & Required<Pick<StatusStore, 'recordBatches' | 'storedTogether'>> {
  const getItem = async (requestId: string, consistent: boolean) =>
    toRecord(
      (await db.send(new GetCommand({ TableName: table, Key: { requestId }, ConsistentRead: consistent }))).Item,
    );

  const { batchGet, readShards, withShards } = shardReads(table, db);
  /**
   * The workers' lookups (status item + shard), gathered until the event loop turns and read in one BatchGetItem:
   * the messages of one invocation start together, so its 10 batches cost one read instead of 10. Nothing is kept
   * between reads (no cache): each lookup sees the table as it is when its read is made.
   */
  const lookups = new DataLoader<string, Record<string, unknown> | undefined>(
    async (keys) => {
      try {
        const items = await batchGet([...new Set(keys)], false);
        return keys.map((key) => items.get(key));
      } catch {
        // One message's failure stays its own: a failed shared read is made again per key, and only the lookups
        // whose own read fails fail (their messages are handed back alone).
        return Promise.all(
          keys.map((key) =>
            batchGet([key], false).then(
              (items) => items.get(key),
              (err: Error) => err,
            ),
          ),
        );
      }
    },
    { cache: false, batchScheduleFn: (run) => setImmediate(run) },
  );

  /** The status item with the counts, running usage and latest update of the shards not promoted yet added in. */
  async function get(requestId: string): Promise<StatusRecord | undefined> {
    const statusItem = (await db.send(new GetCommand({ TableName: table, Key: { requestId }, ConsistentRead: true })))
      .Item;
    return statusItem && withShards(statusItem);
  }

  return {
    async create(record) {
      // The tombstone first: alone (should the status item's write fail) it only turns a 404 into a 410 once expired.
      await db.send(
        new PutCommand({
          TableName: table,
          Item: {
            requestId: tombstoneKey(record.requestId),
            ...(record.owner ? { owner: record.owner } : {}),
            requestExpiresAt: record.expiresAt,
            expiresAt: record.expiresAt + TOMBSTONE_DAYS * 86_400,
          },
        }),
      );
      // Not final yet: the item joins the sparse index reconcile reads (finalize removes `running`). Every status
      // item joins the owner index.
      const listed = { ...record, ...listKeysOf(record) };
      const item = isFinal(record.status) ? listed : { ...listed, running: RUNNING };
      await db.send(
        new PutCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(requestId)' }),
      );
    },
    get,
    async claimDedup(claim, replaces) {
      try {
        await db.send(
          new PutCommand({
            TableName: table,
            Item: dedupItem(claim),
            // DynamoDB's TTL deletes expired items late (and dynalite never): an expired claim counts as none.
            ...(replaces
              ? { ConditionExpression: 'forRequestId = :prev', ExpressionAttributeValues: { ':prev': replaces } }
              : {
                  ConditionExpression: 'attribute_not_exists(requestId) OR expiresAt < :now',
                  ExpressionAttributeValues: { ':now': Math.floor(Date.parse(claim.claimedAt) / 1000) },
                }),
          }),
        );
        return { claimed: true };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        const res = await db.send(
          new GetCommand({ TableName: table, Key: { requestId: claim.key }, ConsistentRead: true }),
        );
        return { claimed: false, current: toClaim(res.Item) };
      }
    },
    async releaseDedup(claim) {
      await db
        .send(
          new PutCommand({
            TableName: table,
            Item: dedupItem({ ...claim, released: true }),
            ConditionExpression: 'forRequestId = :mine',
            ExpressionAttributeValues: { ':mine': claim.requestId },
          }),
        )
        .catch((err) => {
          if (!isConditionFailure(err)) throw err;
        });
    },
    async recordBatch(requestId, batchIndex, outcome, now, request, usage) {
      const ref = request ?? (await getItem(requestId, true));
      if (!ref) return undefined;
      const shard = shardOf(batchIndex);
      const size = shardSize(shard, ref.totalBatches);
      const counter = outcome === 'processed' ? 'processed' : 'failed';
      const added = addUsageClause(usage);
      try {
        // One shard item, one conditional update: the offset joins the set and the counter (and the running usage)
        // moves, or nothing happens.
        const res = await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: shardKey(requestId, shard) },
            UpdateExpression: `ADD #done :offSet, #counter :one${added.clause} SET updatedAt = :now, expiresAt = :exp`,
            ConditionExpression: 'NOT contains(#done, :off)',
            // Both names are DynamoDB reserved words.
            ExpressionAttributeNames: { '#done': 'done', '#counter': counter, ...added.names },
            ExpressionAttributeValues: {
              ':offSet': new Set([offsetIn(batchIndex)]),
              ':off': offsetIn(batchIndex),
              ':one': 1,
              ':now': now,
              ':exp': ref.expiresAt,
              ...added.values,
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { recorded: true, shard: toShard(requestId, shard, size, res.Attributes) };
      } catch (err) {
        // dynalite has no ReturnValuesOnConditionCheckFailure: a duplicate re-reads its shard.
        if (!isConditionFailure(err)) throw err;
        const res = await db.send(
          new GetCommand({ TableName: table, Key: { requestId: shardKey(requestId, shard) }, ConsistentRead: true }),
        );
        return { recorded: false, shard: toShard(requestId, shard, size, res.Item) };
      }
    },
    async recordBatches(requestId, shard, batches, now, request, groupId) {
      const offsets = batches.map((b) => {
        if (shardOf(b.batchIndex) !== shard) throw new Error(`batch ${b.batchIndex} is not on shard ${shard}`);
        return offsetIn(b.batchIndex);
      });
      if (new Set(offsets).size !== offsets.length) throw new Error('recordBatches takes distinct batches');
      const processed = batches.filter((b) => b.outcome === 'processed').length;
      const failed = batches.length - processed;
      const added = addUsageClause(batches.reduce<UsageCounts | undefined>((u, b) => sumUsage(u, b.usage), undefined));
      const counters = [processed ? ', #processed :p' : '', failed ? ', #failed :f' : ''].join('');
      try {
        // recordBatch's update for several offsets at once: all of them join the set and the counters (and the
        // running usage) move by their sums, or, if any offset is there already, nothing happens.
        const res = await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: shardKey(requestId, shard) },
            UpdateExpression: `ADD #done :offSet${groupId ? ', #together :group' : ''}${counters}${added.clause} SET updatedAt = :now, expiresAt = :exp`,
            ConditionExpression: offsets.map((_, i) => `NOT contains(#done, :off${i})`).join(' AND '),
            ExpressionAttributeNames: {
              '#done': 'done',
              ...(groupId ? { '#together': TOGETHER } : {}),
              ...(processed ? { '#processed': 'processed' } : {}),
              ...(failed ? { '#failed': 'failed' } : {}),
              ...added.names,
            },
            ExpressionAttributeValues: {
              ':offSet': new Set(offsets),
              ...(groupId ? { ':group': new Set([togetherEntry(offsets, groupId)]) } : {}),
              ...Object.fromEntries(offsets.map((o, i) => [`:off${i}`, o])),
              ...(processed ? { ':p': processed } : {}),
              ...(failed ? { ':f': failed } : {}),
              ':now': now,
              ':exp': request.expiresAt,
              ...added.values,
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return {
          recorded: true,
          shard: toShard(requestId, shard, shardSize(shard, request.totalBatches), res.Attributes),
        };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        return { recorded: false };
      }
    },
    async promoteShard(shard, now) {
      const added = addUsageClause(shard.usage);
      try {
        const res = await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: shard.requestId },
            UpdateExpression: `ADD fullShards :kSet, processedBatches :p, failedBatches :f${added.clause} SET updatedAt = :now`,
            // A request still `validating` promotes too: the intake sends its batches before the move to processing.
            ConditionExpression: '(#status = :processing OR #status = :validating) AND NOT contains(fullShards, :k)',
            ExpressionAttributeNames: { '#status': 'status', ...added.names },
            ExpressionAttributeValues: {
              ':kSet': new Set([shard.shard]),
              ':k': shard.shard,
              ':p': shard.processed,
              ':f': shard.failed,
              ':now': now,
              ':processing': 'processing',
              ':validating': 'validating',
              ...added.values,
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        const record = toRecord(res.Attributes)!;
        // Only a request in processing finishes here; one still validating finishes after its move (the intake's nudge).
        return { complete: record.status === 'processing' && isComplete(record) };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        // Promoted before (a redelivery repairing a crash, or a race), final, or unknown.
        const record = await getItem(shard.requestId, true);
        if (!record) return undefined;
        return {
          complete: record.status === 'processing' && !!record.fullShards?.has(shard.shard) && isComplete(record),
        };
      }
    },
    async lookupBatch(requestId, batchIndex) {
      const shard = shardOf(batchIndex);
      const [statusItem, shardItem] = await Promise.all([
        lookups.load(requestId),
        lookups.load(shardKey(requestId, shard)),
      ]);
      // An eventually consistent read may miss a request created a moment ago: confirm before dropping its batch.
      const record = toRecord(statusItem) ?? (await getItem(requestId, true));
      if (!record) return undefined;
      return {
        record,
        batchDone: !!(shardItem?.done as Set<number> | undefined)?.has(offsetIn(batchIndex)),
        shard: toShard(requestId, shard, shardSize(shard, record.totalBatches), shardItem),
      };
    },
    async storedTogether(record) {
      const groups = new Map<number, string>();
      for (const s of await readShards(record.requestId, range(shardCount(record.totalBatches)))) {
        for (const entry of (s.item?.[TOGETHER] as Set<string> | undefined) ?? []) {
          const [offsets, groupId] = entry.split('>');
          for (const offset of offsets.split('.')) groups.set(batchAt(s.shard, Number(offset)), groupId);
        }
      }
      return groups;
    },
    async doneBatches(record) {
      const done = new Set<number>();
      for (const s of await readShards(record.requestId, range(shardCount(record.totalBatches)))) {
        for (const offset of (s.item?.done as Set<number> | undefined) ?? []) done.add(batchAt(s.shard, offset));
      }
      return done;
    },
    async finalize(requestId, status, counts, now, usage) {
      // Two tries: a cancel that lands between the read and the write makes the first one fail its condition.
      for (let attempt = 0; attempt < 2; attempt++) {
        const record = await getItem(requestId, true);
        if (record?.status !== 'processing') return false;
        const cancelled = !!record.cancelRequestedAt;
        // The final counts come from every shard: a promotion lost in a crash still counts.
        let processed = 0;
        let failed = 0;
        for (const s of await readShards(requestId, range(shardCount(record.totalBatches)))) {
          processed += Number(s.item?.processed ?? 0);
          failed += Number(s.item?.failed ?? 0);
        }
        const withCancelled = cancelled || counts.cancelled !== undefined;
        try {
          await db.send(
            new UpdateCommand({
              TableName: table,
              Key: { requestId },
              UpdateExpression: `SET #status = :status, updatedAt = :now, completedAt = :now, enrichedContacts = :e, notFoundContacts = :n, failedContacts = :f, ${withCancelled ? 'cancelledContacts = :c, ' : ''}${usage ? '#usage = :usage, ' : ''}processedBatches = :pb, failedBatches = :fb REMOVE fullShards, running`,
              // The cancel flag as read: one set since makes this try fail, and the next one ends it `cancelled`.
              ConditionExpression: `#status = :processing AND ${cancelled ? 'attribute_exists' : 'attribute_not_exists'}(cancelRequestedAt)`,
              // `usage` is a DynamoDB reserved word.
              ExpressionAttributeNames: { '#status': 'status', ...(usage ? { '#usage': 'usage' } : {}) },
              ExpressionAttributeValues: {
                ...(usage ? { ':usage': usage } : {}),
                ...(withCancelled ? { ':c': counts.cancelled ?? 0 } : {}),
                ':status': cancelled ? 'cancelled' : status,
                ':now': now,
                ':e': counts.enriched,
                ':n': counts.not_found,
                ':f': counts.failed,
                ':pb': processed,
                ':fb': failed,
                ':processing': 'processing',
              },
            }),
          );
          return true;
        } catch (err) {
          if (!isConditionFailure(err)) throw err;
        }
      }
      return false;
    },
    async requestCancel(requestId, now) {
      return conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: 'SET cancelRequestedAt = :now, updatedAt = :now',
            ConditionExpression:
              '(#status = :processing OR #status = :validating) AND attribute_not_exists(cancelRequestedAt)',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':now': now, ':processing': 'processing', ':validating': 'validating' },
          }),
        ),
      );
    },
    async touch(requestId, now) {
      await db
        .send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: 'SET updatedAt = :now',
            ConditionExpression: '#status = :processing',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':now': now, ':processing': 'processing' },
          }),
        )
        .catch((err) => {
          if (!isConditionFailure(err)) throw err;
        });
    },
    async saveIntake(requestId, update, now) {
      const totals = update.totalBatches === undefined ? '' : ', totalContacts = :tc, totalBatches = :tb';
      return conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: `SET intake = :intake, updatedAt = :now${totals}`,
            ConditionExpression: '#status = :validating',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':intake': JSON.parse(JSON.stringify(update.intake)),
              ':now': now,
              ':validating': 'validating',
              ...(update.totalBatches === undefined ? {} : { ':tc': update.totalContacts, ':tb': update.totalBatches }),
            },
          }),
        ),
      );
    },
    async reject(requestId, errors, now) {
      return conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression:
              'SET #status = :rejected, errors = :errors, updatedAt = :now, completedAt = :now REMOVE intake, running',
            ConditionExpression: '#status = :validating',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':rejected': 'rejected',
              ':errors': errors,
              ':now': now,
              ':validating': 'validating',
            },
          }),
        ),
      );
    },
    async abandon(record, errors, now) {
      const { intake: _intake, ...rest } = record;
      return conditional(
        db.send(
          new PutCommand({
            TableName: table,
            Item: { ...rest, ...listKeysOf(record), status: 'rejected', errors, updatedAt: now, completedAt: now },
            ConditionExpression: '#status = :validating',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':validating': 'validating' },
          }),
        ),
      );
    },
    async startProcessing(requestId, now) {
      try {
        const res = await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: 'SET #status = :processing, updatedAt = :now REMOVE intake',
            ConditionExpression: '#status = :validating',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':processing': 'processing', ':now': now, ':validating': 'validating' },
            ReturnValues: 'ALL_NEW',
          }),
        );
        // The counts of the shards promoted so far, read in the same write: a promotion after it sees `processing`.
        return { complete: isComplete(toRecord(res.Attributes)!) };
      } catch (err) {
        if (isConditionFailure(err)) return undefined;
        throw err;
      }
    },
    async *listProcessing() {
      // The sparse index holds only requests not final yet (running is removed by finalize): no Scan.
      let start: Record<string, unknown> | undefined;
      do {
        const res = await db.send(
          new QueryCommand({
            TableName: table,
            IndexName: RUNNING_INDEX,
            KeyConditionExpression: 'running = :running',
            ExpressionAttributeValues: { ':running': RUNNING },
            ExclusiveStartKey: start,
          }),
        );
        for (const key of res.Items ?? []) {
          const record = await get(String(key.requestId));
          if (record?.status === 'processing') yield record;
        }
        start = res.LastEvaluatedKey;
      } while (start);
    },
  };
}

/** The owner index and the tombstones of the status table (RequestHistory). */
export function dynamoRequestHistory(table = config().TABLE_NAME, db = documentClient()): RequestHistory {
  // The index projects whole items: a processing one gets its shards' counts summed in, as GET /enrichment/{id}.
  const { withShards } = shardReads(table, db);
  return {
    async listOwned(owner, { limit, status, after, now }) {
      // Reads until limit + 1 matches: a next page exists only if one more follows (no empty last page behind a
      // cursor), or until the read budget is spent (then a shorter page and a cursor where the reading stopped).
      const listOwner = owner ?? NO_OWNER;
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined = after
        ? { listOwner, listSort: after, requestId: after.slice(after.indexOf('#') + 1) }
        : undefined;
      let read = 0;
      for (;;) {
        const res: QueryCommandOutput = await db.send(
          new QueryCommand({
            TableName: table,
            IndexName: OWNER_INDEX,
            KeyConditionExpression: 'listOwner = :owner',
            // The TTL deletes late (dynalite never): an expired request leaves the list at its expiresAt.
            FilterExpression: `expiresAt > :now${status ? ' AND #status = :status' : ''}`,
            ExpressionAttributeNames: status ? { '#status': 'status' } : undefined,
            ExpressionAttributeValues: {
              ':owner': listOwner,
              ':now': Math.floor(now.getTime() / 1000),
              ...(status ? { ':status': status } : {}),
            },
            ScanIndexForward: false,
            // Without a status filter nearly every item read is listed; with one, wider pages.
            Limit: status ? LIST_FILTERED_PAGE : limit + 1,
            ExclusiveStartKey: start,
          }),
        );
        read += res.ScannedCount ?? 0;
        items.push(...(res.Items ?? []));
        start = res.LastEvaluatedKey;
        if (items.length > limit || !start) break;
        if (read >= LIST_READ_BUDGET)
          return { records: await Promise.all(items.map(withShards)), next: String(start.listSort) };
      }
      const page = await Promise.all(items.slice(0, limit).map(withShards));
      return items.length > limit ? { records: page, next: String(items[limit - 1].listSort) } : { records: page };
    },
    async tombstone(requestId) {
      const { Item } = await db.send(new GetCommand({ TableName: table, Key: { requestId: tombstoneKey(requestId) } }));
      if (!Item) return undefined;
      const t = TombstoneSchema.parse(Item);
      return { ...(t.owner ? { owner: t.owner } : {}), expiresAt: t.requestExpiresAt };
    },
  };
}
