import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { config } from '../config';
import type { DedupClaim, StatusStore } from '../core/ports';
import { StatusRecordSchema, type StatusRecord } from '../schemas/status';
import { documentClient } from './clients';

const isConditionFailure = (err: unknown) =>
  err instanceof ConditionalCheckFailedException || (err as { name?: string })?.name === 'ConditionalCheckFailedException';

/** true when the conditional write happened, false when its condition failed. */
const conditional = (write: Promise<unknown>): Promise<boolean> =>
  write.then(
    () => true,
    (err) => {
      if (isConditionFailure(err)) return false;
      throw err;
    },
  );

const toRecord = (item: Record<string, unknown> | undefined): StatusRecord | undefined =>
  item ? StatusRecordSchema.parse(item) : undefined;

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
  return { key: d.requestId, requestId: d.forRequestId, bodyHash: d.bodyHash, claimedAt: d.claimedAt, expiresAt: d.expiresAt, released: d.released };
};

export function dynamoStatusStore(table = config().TABLE_NAME, db = documentClient()): StatusStore {
  const get = async (requestId: string) =>
    toRecord((await db.send(new GetCommand({ TableName: table, Key: { requestId }, ConsistentRead: true }))).Item);

  return {
    async create(record) {
      await db.send(
        new PutCommand({ TableName: table, Item: record, ConditionExpression: 'attribute_not_exists(requestId)' }),
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
        const res = await db.send(new GetCommand({ TableName: table, Key: { requestId: claim.key }, ConsistentRead: true }));
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
    async recordBatch(requestId, batchIndex, outcome, now) {
      const counter = outcome === 'processed' ? 'processedBatches' : 'failedBatches';
      try {
        // One item, one conditional update: the index joins the set and the counter moves, or neither happens.
        const res = await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: `ADD doneBatches :idxSet, ${counter} :one SET updatedAt = :now`,
            // A request still `validating` counts its batches too: the intake sends them before its move to processing.
            ConditionExpression: 'attribute_exists(requestId) AND (#status = :processing OR #status = :validating) AND NOT contains(doneBatches, :idx)',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':idxSet': new Set([batchIndex]),
              ':idx': batchIndex,
              ':one': 1,
              ':now': now,
              ':processing': 'processing',
              ':validating': 'validating',
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { recorded: true, record: toRecord(res.Attributes)! };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        const record = await get(requestId);
        return record ? { recorded: false, record } : undefined;
      }
    },
    async finalize(requestId, status, counts, now) {
      try {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression:
              'SET #status = :status, updatedAt = :now, completedAt = :now, enrichedContacts = :e, notFoundContacts = :n, failedContacts = :f',
            ConditionExpression: '#status = :processing',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':status': status,
              ':now': now,
              ':e': counts.enriched,
              ':n': counts.not_found,
              ':f': counts.failed,
              ':processing': 'processing',
            },
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailure(err)) return false;
        throw err;
      }
    },
    async touch(requestId, now) {
      await db.send(
        new UpdateCommand({
          TableName: table,
          Key: { requestId },
          UpdateExpression: 'SET updatedAt = :now',
          ConditionExpression: '#status = :processing',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':now': now, ':processing': 'processing' },
        }),
      ).catch((err) => {
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
            UpdateExpression: 'SET #status = :rejected, errors = :errors, updatedAt = :now, completedAt = :now REMOVE intake',
            ConditionExpression: '#status = :validating',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':rejected': 'rejected', ':errors': errors, ':now': now, ':validating': 'validating' },
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
            Item: { ...rest, status: 'rejected', errors, updatedAt: now, completedAt: now },
            ConditionExpression: '#status = :validating',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':validating': 'validating' },
          }),
        ),
      );
    },
    async startProcessing(requestId, now) {
      return conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: 'SET #status = :processing, updatedAt = :now REMOVE intake',
            ConditionExpression: '#status = :validating',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':processing': 'processing', ':now': now, ':validating': 'validating' },
          }),
        ),
      );
    },
    async *listProcessing() {
      let start: Record<string, unknown> | undefined;
      do {
        const res = await db.send(
          new ScanCommand({
            TableName: table,
            FilterExpression: '#status = :processing',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':processing': 'processing' },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of res.Items ?? []) yield toRecord(item)!;
        start = res.LastEvaluatedKey;
      } while (start);
    },
  };
}
