import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../../src/adapters/clients';
import { dynamoStatusStore } from '../../../src/adapters/statusTable';
import { resetConfig } from '../../../src/config';
import { statusRecordOf } from '../fakes';
import type { StatusRecord } from '../../../src/schemas/status';

const ID = '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b';
const NOW = '2024-05-01T12:00:05.000Z';
const item: StatusRecord = statusRecordOf(ID);
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const ddb = mockClient(DynamoDBDocumentClient);

beforeEach(() => {
  ddb.reset();
  resetConfig();
  resetClients();
});
afterAll(() => ddb.restore());

describe('dynamoStatusStore.recordBatch', () => {
  it('sends one conditional update: ADD the index to the set and 1 to the counter, unless the set holds it', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { ...item, processedBatches: 1, doneBatches: new Set([2]), updatedAt: NOW } });
    const result = await dynamoStatusStore().recordBatch(ID, 2, 'processed', NOW);

    expect(result).toEqual({ recorded: true, record: expect.objectContaining({ processedBatches: 1, doneBatches: new Set([2]) }) });
    const calls = ddb.commandCalls(UpdateCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0].args[0].input;
    expect(input).toMatchObject({ TableName: 'unit-table', Key: { requestId: ID }, ReturnValues: 'ALL_NEW' });
    expect(input.UpdateExpression).toMatch(/^ADD doneBatches :idxSet, processedBatches :one SET updatedAt = :now$/);
    expect(input.ConditionExpression).toContain('NOT contains(doneBatches, :idx)');
    expect(input.ConditionExpression).toContain('#status = :processing');
    // Batches of a request still validating are counted too (the intake sends them before its move to processing).
    expect(input.ConditionExpression).toContain('#status = :validating');
    expect(input.ConditionExpression).toContain('attribute_exists(requestId)');
    expect(input.ExpressionAttributeNames).toEqual({ '#status': 'status' });
    expect(input.ExpressionAttributeValues).toEqual({
      ':idxSet': new Set([2]),
      ':idx': 2,
      ':one': 1,
      ':now': NOW,
      ':processing': 'processing',
      ':validating': 'validating',
    });
  });

  it('counts a failed batch in failedBatches', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { ...item, failedBatches: 1, doneBatches: new Set([0]) } });
    await dynamoStatusStore().recordBatch(ID, 0, 'failed', NOW);
    expect(ddb.commandCalls(UpdateCommand)[0].args[0].input.UpdateExpression).toBe('ADD doneBatches :idxSet, failedBatches :one SET updatedAt = :now');
  });

  it('returns recorded:false with the fresh record when the batch was counted before', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    const fresh = { ...item, processedBatches: 1, doneBatches: new Set([2]) };
    ddb.on(GetCommand).resolves({ Item: fresh });
    const result = await dynamoStatusStore().recordBatch(ID, 2, 'processed', NOW);
    expect(result).toEqual({ recorded: false, record: { ...fresh } });
    expect(ddb.commandCalls(GetCommand)[0].args[0].input).toEqual({ TableName: 'unit-table', Key: { requestId: ID }, ConsistentRead: true });
  });

  it('recognises a condition failure by name too (errors crossing SDK copies)', async () => {
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('x'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand).resolves({ Item: { ...item, status: 'completed' } });
    expect(await dynamoStatusStore().recordBatch(ID, 1, 'processed', NOW)).toMatchObject({ recorded: false, record: { status: 'completed' } });
  });

  it('returns undefined for an unknown request', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({});
    expect(await dynamoStatusStore().recordBatch(ID, 0, 'processed', NOW)).toBeUndefined();
  });

  it('passes other errors on', async () => {
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceeded'));
    await expect(dynamoStatusStore().recordBatch(ID, 0, 'processed', NOW)).rejects.toThrow('ProvisionedThroughputExceeded');
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });
});

describe('dynamoStatusStore.finalize', () => {
  const counts = { enriched: 240, not_found: 9, failed: 1 };

  it('sets the final status and summary only while processing', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await dynamoStatusStore().finalize(ID, 'completed_with_errors', counts, NOW)).toBe(true);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.ConditionExpression).toBe('#status = :processing');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':status': 'completed_with_errors',
      ':now': NOW,
      ':e': 240,
      ':n': 9,
      ':f': 1,
      ':processing': 'processing',
    });
    expect(input.UpdateExpression).toMatch(/#status = :status/);
    expect(input.UpdateExpression).toMatch(/completedAt = :now/);
  });

  it('returns false when another run finalized first', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await dynamoStatusStore().finalize(ID, 'completed', counts, NOW)).toBe(false);
  });

  it('passes other errors on', async () => {
    ddb.on(UpdateCommand).rejects(new Error('boom'));
    await expect(dynamoStatusStore().finalize(ID, 'completed', counts, NOW)).rejects.toThrow('boom');
  });
});

describe('dynamoStatusStore: create, get, touch, listProcessing', () => {
  it('creates the item only if it does not exist', async () => {
    ddb.on(PutCommand).resolves({});
    await dynamoStatusStore().create(item);
    expect(ddb.commandCalls(PutCommand)[0].args[0].input).toEqual({
      TableName: 'unit-table',
      Item: item,
      ConditionExpression: 'attribute_not_exists(requestId)',
    });
  });

  it('gets and validates an item, undefined when absent', async () => {
    ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({ Item: item });
    ddb.on(GetCommand, { Key: { requestId: 'other' } }).resolves({});
    expect(await dynamoStatusStore().get(ID)).toEqual(item);
    expect(await dynamoStatusStore().get('other')).toBeUndefined();
  });

  it('rejects a malformed item instead of returning it', async () => {
    ddb.on(GetCommand).resolves({ Item: { requestId: ID, status: 'weird' } });
    await expect(dynamoStatusStore().get(ID)).rejects.toThrow();
  });

  it('touch ignores a request that is no longer processing', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    await expect(dynamoStatusStore().touch(ID, NOW)).resolves.toBeUndefined();
    ddb.on(UpdateCommand).rejects(new Error('boom'));
    await expect(dynamoStatusStore().touch(ID, NOW)).rejects.toThrow('boom');
  });

  it('lists processing requests across scan pages', async () => {
    ddb
      .on(ScanCommand)
      .resolvesOnce({ Items: [item], LastEvaluatedKey: { requestId: ID } })
      .resolvesOnce({ Items: [{ ...item, requestId: 'b' }] });
    const ids: string[] = [];
    for await (const r of dynamoStatusStore().listProcessing()) ids.push(r.requestId);
    expect(ids).toEqual([ID, 'b']);
    const calls = ddb.commandCalls(ScanCommand);
    expect(calls[0].args[0].input.ExclusiveStartKey).toBeUndefined();
    expect(calls[1].args[0].input.ExclusiveStartKey).toEqual({ requestId: ID });
    expect(calls[0].args[0].input.ExpressionAttributeValues).toEqual({ ':processing': 'processing' });
  });
});
