import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { config } from '../config';
import type { UploadRecord, UploadRecords } from '../core/ports';
import { documentClient } from './clients';
import { conditional } from './statusTable';

/**
 * An upload record shares the table with the status items: its `requestId` key is `upload#<sha256 of the upload id>`
 * (upload ids are up to 1,024 characters; the hash keeps the key short and the id out of the table).
 */
export const uploadRecordKey = (uploadId: string) =>
  `upload#${createHash('sha256').update(uploadId, 'utf8').digest('hex')}`;

const UploadItemSchema = z.object({
  requestId: z.string(),
  kind: z.literal('upload'),
  key: z.string(),
  owner: z.string().optional(),
  size: z.number().int(),
  parts: z.number().int(),
  format: z.string(),
  createdAt: z.string(),
  expiresAt: z.number().int(),
  state: z.enum(['open', 'completing', 'completed', 'rejected']),
  claimedAt: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export function dynamoUploadRecords(table = config().TABLE_NAME, db = documentClient()): UploadRecords {
  return {
    async create(record) {
      const { uploadId, ...rest } = record;
      await db.send(
        new PutCommand({
          TableName: table,
          Item: { requestId: uploadRecordKey(uploadId), kind: 'upload', ...rest },
          ConditionExpression: 'attribute_not_exists(requestId)',
        }),
      );
    },
    async get(uploadId) {
      const res = await db.send(
        new GetCommand({ TableName: table, Key: { requestId: uploadRecordKey(uploadId) }, ConsistentRead: true }),
      );
      if (!res.Item) return undefined;
      const { requestId: _, kind: __, ...item } = UploadItemSchema.parse(res.Item);
      return { uploadId, ...item } satisfies UploadRecord;
    },
    claim(uploadId, now, staleBefore) {
      return conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: uploadRecordKey(uploadId) },
            UpdateExpression: 'SET #state = :completing, claimedAt = :now',
            ConditionExpression:
              'attribute_exists(requestId) AND (#state = :open OR (#state = :completing AND claimedAt < :stale))',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':completing': 'completing',
              ':open': 'open',
              ':now': now,
              ':stale': staleBefore,
            },
          }),
        ),
      );
    },
    async release(uploadId, claimedAt) {
      await conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: uploadRecordKey(uploadId) },
            UpdateExpression: 'SET #state = :open',
            ConditionExpression: '#state = :completing AND claimedAt = :claimedAt',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':open': 'open', ':completing': 'completing', ':claimedAt': claimedAt },
          }),
        ),
      );
    },
    finish(uploadId, claimedAt, outcome) {
      const rejected = outcome.state === 'rejected';
      return conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: uploadRecordKey(uploadId) },
            UpdateExpression: rejected ? 'SET #state = :state, #errors = :errors' : 'SET #state = :state',
            ConditionExpression: '#state = :completing AND claimedAt = :claimedAt',
            ExpressionAttributeNames: { '#state': 'state', ...(rejected ? { '#errors': 'errors' } : {}) },
            ExpressionAttributeValues: {
              ':state': outcome.state,
              ':completing': 'completing',
              ':claimedAt': claimedAt,
              ...(rejected ? { ':errors': outcome.errors } : {}),
            },
          }),
        ),
      );
    },
  };
}
