import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../../src/adapters/clients';
import { dynamoUploadRecords, uploadRecordKey } from '../../../src/adapters/uploadRecords';
import { resetConfig } from '../../../src/config';
import type { UploadRecord } from '../../../src/core/ports';

const ddb = mockClient(DynamoDBDocumentClient);
beforeEach(() => {
  ddb.reset();
  resetConfig();
  resetClients();
});
afterAll(() => ddb.restore());

const UPLOAD_ID = 'VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA';
const KEY = `upload#${createHash('sha256').update(UPLOAD_ID).digest('hex')}`;
const record: UploadRecord = {
  uploadId: UPLOAD_ID,
  key: 'uploads/o/0b6c3f0e-6a57-4a1b-9d7f-2f1f7c1a9e11.csv',
  owner: 'o',
  size: 100,
  parts: 1,
  format: 'csv',
  createdAt: '2026-11-29T12:00:00.000Z',
  expiresAt: 1_800_000_000,
  state: 'open',
};
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'failed', $metadata: {} });

describe('dynamoUploadRecords', () => {
  it('keys a record by the hash of its upload id (not the id itself), written once', async () => {
    expect(uploadRecordKey(UPLOAD_ID)).toBe(KEY);
    ddb.on(PutCommand).resolves({});
    await dynamoUploadRecords('tbl').create(record);
    const { uploadId: _, ...rest } = record;
    expect(ddb.commandCalls(PutCommand)[0].args[0].input).toEqual({
      TableName: 'tbl',
      Item: { requestId: KEY, kind: 'upload', ...rest },
      ConditionExpression: 'attribute_not_exists(requestId)',
    });
  });

  it('reads it consistently, back to the record; none is undefined', async () => {
    const { uploadId: _, ...rest } = record;
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: { requestId: KEY, kind: 'upload', ...rest } })
      .resolvesOnce({});
    const store = dynamoUploadRecords('tbl');
    expect(await store.get(UPLOAD_ID)).toEqual(record);
    expect(await store.get(UPLOAD_ID)).toBeUndefined();
    expect(ddb.commandCalls(GetCommand)[0].args[0].input).toEqual({
      TableName: 'tbl',
      Key: { requestId: KEY },
      ConsistentRead: true,
    });
  });

  it('claims only an open record or a stale claim; a lost condition is false', async () => {
    ddb.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    const store = dynamoUploadRecords('tbl');
    expect(await store.claim(UPLOAD_ID, '2026-11-29T12:01:00.000Z', '2026-11-29T12:00:00.000Z')).toBe(true);
    expect(await store.claim(UPLOAD_ID, '2026-11-29T12:01:00.000Z', '2026-11-29T12:00:00.000Z')).toBe(false);
    expect(ddb.commandCalls(UpdateCommand)[0].args[0].input).toMatchObject({
      Key: { requestId: KEY },
      UpdateExpression: 'SET #state = :completing, claimedAt = :now',
      ConditionExpression:
        'attribute_exists(requestId) AND (#state = :open OR (#state = :completing AND claimedAt < :stale))',
      ExpressionAttributeValues: {
        ':completing': 'completing',
        ':open': 'open',
        ':now': '2026-11-29T12:01:00.000Z',
        ':stale': '2026-11-29T12:00:00.000Z',
      },
    });
  });

  it('finishes (with the errors of a rejection) and releases only under the same claim', async () => {
    ddb.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed()).rejectsOnce(conditionFailed());
    const store = dynamoUploadRecords('tbl');
    const errors = [{ path: 'size', message: 'm' }];
    expect(await store.finish(UPLOAD_ID, 'T', { state: 'rejected', errors })).toBe(true);
    expect(await store.finish(UPLOAD_ID, 'T', { state: 'completed' })).toBe(false);
    await store.release(UPLOAD_ID, 'T');
    const [rejected, completed, released] = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(rejected).toMatchObject({
      UpdateExpression: 'SET #state = :state, #errors = :errors',
      ConditionExpression: '#state = :completing AND claimedAt = :claimedAt',
      ExpressionAttributeValues: { ':state': 'rejected', ':errors': errors, ':claimedAt': 'T' },
    });
    expect(completed).toMatchObject({ UpdateExpression: 'SET #state = :state' });
    expect(released).toMatchObject({
      UpdateExpression: 'SET #state = :open',
      ConditionExpression: '#state = :completing AND claimedAt = :claimedAt',
    });
  });
});
