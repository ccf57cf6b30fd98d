import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../../src/adapters/clients';
import { dynamoStatusStore } from '../../../src/adapters/statusTable';
import { resetConfig } from '../../../src/config';
import { statusRecordOf } from '../../support/fakes';
import type { StatusRecord } from '../../../src/schemas/status';

const ID = '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b';
const NOW = '2024-05-01T12:00:05.000Z';
const item: StatusRecord = statusRecordOf(ID);
const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const ddb = mockClient(DynamoDBDocumentClient);

beforeEach(() => {
  ddb.reset();
  resetConfig();
  resetClients();
});
afterAll(() => ddb.restore());

const SHARD0 = `shard#${ID}#0`;
const REF = { totalBatches: 3, expiresAt: 1_700_000_000 };

describe('dynamoStatusStore.recordBatch', () => {
  it("sends one conditional update of the batch's shard: ADD the offset to the set and 1 to the counter, unless the set holds it", async () => {
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: { requestId: SHARD0, done: new Set([2]), processed: 1, updatedAt: NOW } });
    const result = await dynamoStatusStore().recordBatch(ID, 2, 'processed', NOW, REF);

    expect(result).toEqual({
      recorded: true,
      shard: { requestId: ID, shard: 0, size: 3, done: 1, processed: 1, failed: 0 },
    });
    const calls = ddb.commandCalls(UpdateCommand);
    expect(calls).toHaveLength(1);
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0); // the request was given: no status read
    const input = calls[0].args[0].input;
    expect(input).toMatchObject({ TableName: 'unit-table', Key: { requestId: SHARD0 }, ReturnValues: 'ALL_NEW' });
    expect(input.UpdateExpression).toBe('ADD #done :offSet, #counter :one SET updatedAt = :now, expiresAt = :exp');
    expect(input.ConditionExpression).toBe('NOT contains(#done, :off)');
    expect(input.ExpressionAttributeNames).toEqual({ '#done': 'done', '#counter': 'processed' });
    expect(input.ExpressionAttributeValues).toEqual({
      ':offSet': new Set([2]),
      ':off': 2,
      ':one': 1,
      ':now': NOW,
      ':exp': REF.expiresAt,
    });
  });

  it('puts batch 600 on shard 2 at offset 88, and counts a failed batch in failed', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { requestId: `shard#${ID}#2`, done: new Set([88]), failed: 1 } });
    const result = await dynamoStatusStore().recordBatch(ID, 600, 'failed', NOW, { ...REF, totalBatches: 700 });
    expect(result?.shard).toEqual({ requestId: ID, shard: 2, size: 700 - 512, done: 1, processed: 0, failed: 1 });
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.Key).toEqual({ requestId: `shard#${ID}#2` });
    expect(input.ExpressionAttributeNames).toEqual({ '#done': 'done', '#counter': 'failed' });
    expect(input.ExpressionAttributeValues).toMatchObject({ ':off': 88 });
  });

  it('reads the status item first when the request is not given, and returns undefined for an unknown one', async () => {
    ddb.on(GetCommand).resolves({});
    expect(await dynamoStatusStore().recordBatch(ID, 0, 'processed', NOW)).toBeUndefined();
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('returns recorded:false with the shard re-read consistently when the batch was counted before', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({ Item: { requestId: SHARD0, done: new Set([0, 1, 2]), processed: 3 } });
    const result = await dynamoStatusStore().recordBatch(ID, 2, 'processed', NOW, REF);
    expect(result).toEqual({
      recorded: false,
      shard: { requestId: ID, shard: 0, size: 3, done: 3, processed: 3, failed: 0 },
    });
    expect(ddb.commandCalls(GetCommand)[0].args[0].input).toEqual({
      TableName: 'unit-table',
      Key: { requestId: SHARD0 },
      ConsistentRead: true,
    });
  });

  it('recognises a condition failure by name too (errors crossing SDK copies)', async () => {
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('x'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand).resolves({ Item: { requestId: SHARD0, done: new Set([1]), processed: 1 } });
    expect(await dynamoStatusStore().recordBatch(ID, 1, 'processed', NOW, REF)).toMatchObject({ recorded: false });
  });

  it('passes other errors on', async () => {
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceeded'));
    await expect(dynamoStatusStore().recordBatch(ID, 0, 'processed', NOW, REF)).rejects.toThrow(
      'ProvisionedThroughputExceeded',
    );
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });
});

describe('dynamoStatusStore.recordBatches', () => {
  const REF10 = { totalBatches: 10, expiresAt: 1_700_000_000 };
  it('counts several batches of a shard in one conditional update: their offsets, summed counters and usage, unless the set holds any', async () => {
    ddb.on(UpdateCommand).resolves({
      Attributes: { requestId: SHARD0, done: new Set([2, 3, 7]), processed: 2, failed: 1, uCalls: 3, uContacts: 300 },
    });
    const usage = (calls: number) => ({
      providerCalls: calls,
      contactsSent: 100 * calls,
      cacheHits: 0,
      matches: 0,
      notFound: 0,
      failed: 0,
      rateLimitWaitMs: 0,
    });
    const result = await dynamoStatusStore().recordBatches(
      ID,
      0,
      [
        { batchIndex: 2, outcome: 'processed', usage: usage(1) },
        { batchIndex: 7, outcome: 'failed', usage: usage(2) },
        { batchIndex: 3, outcome: 'processed' },
      ],
      NOW,
      REF10,
    );
    expect(result).toEqual({
      recorded: true,
      shard: {
        requestId: ID,
        shard: 0,
        size: 10,
        done: 3,
        processed: 2,
        failed: 1,
        usage: expect.objectContaining({ providerCalls: 3, contactsSent: 300 }),
      },
    });
    const calls = ddb.commandCalls(UpdateCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0].args[0].input;
    expect(input).toMatchObject({ TableName: 'unit-table', Key: { requestId: SHARD0 }, ReturnValues: 'ALL_NEW' });
    expect(input.UpdateExpression).toBe(
      'ADD #done :offSet, #processed :p, #failed :f, #u_providerCalls :u_providerCalls, #u_contactsSent :u_contactsSent, #u_cacheHits :u_cacheHits, #u_matches :u_matches, #u_notFound :u_notFound, #u_failed :u_failed, #u_rateLimitWaitMs :u_rateLimitWaitMs SET updatedAt = :now, expiresAt = :exp',
    );
    expect(input.ConditionExpression).toBe(
      'NOT contains(#done, :off0) AND NOT contains(#done, :off1) AND NOT contains(#done, :off2)',
    );
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':offSet': new Set([2, 7, 3]),
      ':off0': 2,
      ':off1': 7,
      ':off2': 3,
      ':p': 2,
      ':f': 1,
      ':u_providerCalls': 3,
      ':u_contactsSent': 300,
      ':now': NOW,
      ':exp': REF10.expiresAt,
    });
  });

  it('returns recorded:false, without a re-read, when one of the batches was counted before', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    const batches = [0, 1].map((batchIndex) => ({ batchIndex, outcome: 'processed' as const }));
    expect(await dynamoStatusStore().recordBatches(ID, 0, batches, NOW, REF10)).toEqual({ recorded: false });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toBe('ADD #done :offSet, #processed :p SET updatedAt = :now, expiresAt = :exp');
  });

  it('with a group id, the same update notes which batches its object holds; storedTogether reads them back', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { requestId: SHARD0, done: new Set([4, 9]), processed: 2 } });
    const batches = [9, 4].map((batchIndex) => ({ batchIndex, outcome: 'processed' as const }));
    await dynamoStatusStore().recordBatches(ID, 0, batches, NOW, { totalBatches: 300, expiresAt: 1 }, '000004-abc');
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toBe(
      'ADD #done :offSet, #together :group, #processed :p SET updatedAt = :now, expiresAt = :exp',
    );
    expect(input.ConditionExpression).toBe('NOT contains(#done, :off0) AND NOT contains(#done, :off1)');
    expect(input.ExpressionAttributeNames).toMatchObject({ '#together': 'together' });
    expect(input.ExpressionAttributeValues).toMatchObject({ ':group': new Set(['9.4>000004-abc']) });

    // Two shards of a 300-batch request: each entry maps its offsets, on its own shard, to its group.
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        'unit-table': [
          { requestId: SHARD0, done: new Set([4, 9, 10]), together: new Set(['9.4>000004-abc']) },
          { requestId: `shard#${ID}#1`, done: new Set([0, 1, 2]), together: new Set(['0.2>000256-def']) },
        ],
      },
    });
    const record = { ...item, status: 'processing' as const, totalBatches: 300 };
    expect(await dynamoStatusStore().storedTogether(record)).toEqual(
      new Map([
        [9, '000004-abc'],
        [4, '000004-abc'],
        [256, '000256-def'],
        [258, '000256-def'],
      ]),
    );
  });

  it('passes other errors on, and refuses batches of another shard or the same batch twice', async () => {
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceeded'));
    const store = dynamoStatusStore();
    const ref = { totalBatches: 700, expiresAt: 1 };
    const batch = (batchIndex: number) => ({ batchIndex, outcome: 'processed' as const });
    await expect(store.recordBatches(ID, 0, [batch(0), batch(1)], NOW, ref)).rejects.toThrow('Provisioned');
    await expect(store.recordBatches(ID, 0, [batch(0), batch(256)], NOW, ref)).rejects.toThrow('not on shard 0');
    await expect(store.recordBatches(ID, 0, [batch(1), batch(1)], NOW, ref)).rejects.toThrow('distinct');
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
  });
});

describe('dynamoStatusStore.promoteShard', () => {
  const full = { requestId: ID, shard: 1, size: 256, done: 256, processed: 250, failed: 6 };

  it("adds a full shard's counts to the status item once: its number joins fullShards, only while processing", async () => {
    ddb.on(UpdateCommand).resolves({
      Attributes: {
        ...item,
        totalBatches: 512,
        processedBatches: 500,
        failedBatches: 12,
        fullShards: new Set([0, 1]),
      },
    });
    expect(await dynamoStatusStore().promoteShard(full, NOW)).toEqual({ complete: true });
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.Key).toEqual({ requestId: ID });
    expect(input.UpdateExpression).toBe(
      'ADD fullShards :kSet, processedBatches :p, failedBatches :f SET updatedAt = :now',
    );
    // A request still validating promotes too (the intake sends batches before its move to processing).
    expect(input.ConditionExpression).toBe(
      '(#status = :processing OR #status = :validating) AND NOT contains(fullShards, :k)',
    );
    expect(input.ExpressionAttributeValues).toEqual({
      ':kSet': new Set([1]),
      ':k': 1,
      ':p': 250,
      ':f': 6,
      ':now': NOW,
      ':processing': 'processing',
      ':validating': 'validating',
    });
  });

  it('a request still validating counts the promotion but is not complete: the intake finishes it after its move', async () => {
    ddb.on(UpdateCommand).resolves({
      Attributes: {
        ...item,
        status: 'validating',
        totalBatches: 512,
        processedBatches: 500,
        failedBatches: 12,
        fullShards: new Set([0, 1]),
      },
    });
    expect(await dynamoStatusStore().promoteShard(full, NOW)).toEqual({ complete: false });
  });

  it('is not complete while batches are missing', async () => {
    ddb.on(UpdateCommand).resolves({
      Attributes: {
        ...item,
        totalBatches: 700,
        processedBatches: 500,
        failedBatches: 12,
        fullShards: new Set([0, 1]),
      },
    });
    expect(await dynamoStatusStore().promoteShard(full, NOW)).toEqual({ complete: false });
  });

  it('after a promotion done before, reads the status item: complete only if processing with every batch counted', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    const promoted = {
      ...item,
      totalBatches: 512,
      processedBatches: 500,
      failedBatches: 12,
      fullShards: new Set([0, 1]),
    };
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: promoted })
      .resolvesOnce({ Item: { ...promoted, status: 'completed' } })
      .resolvesOnce({});
    expect(await dynamoStatusStore().promoteShard(full, NOW)).toEqual({ complete: true });
    expect(await dynamoStatusStore().promoteShard(full, NOW)).toEqual({ complete: false });
    expect(await dynamoStatusStore().promoteShard(full, NOW)).toBeUndefined();
    expect(ddb.commandCalls(GetCommand)[0].args[0].input).toEqual({
      TableName: 'unit-table',
      Key: { requestId: ID },
      ConsistentRead: true,
    });
  });
});

describe('dynamoStatusStore: get sums the shards, lookupBatch reads once', () => {
  it('adds the counts and latest update of the shards not promoted yet, read consistently in one call', async () => {
    const running = { ...item, totalBatches: 600, processedBatches: 250, failedBatches: 6, fullShards: new Set([0]) };
    ddb.on(GetCommand).resolves({ Item: running });
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        'unit-table': [
          {
            requestId: `shard#${ID}#2`,
            done: new Set([0, 1]),
            processed: 1,
            failed: 1,
            updatedAt: '2024-05-01T12:09:00.000Z',
          },
        ],
      },
    });
    expect(await dynamoStatusStore().get(ID)).toMatchObject({
      processedBatches: 251,
      failedBatches: 7,
      updatedAt: '2024-05-01T12:09:00.000Z',
    });
    expect(ddb.commandCalls(BatchGetCommand)[0].args[0].input).toEqual({
      RequestItems: {
        'unit-table': { Keys: [{ requestId: `shard#${ID}#1` }, { requestId: `shard#${ID}#2` }], ConsistentRead: true },
      },
    });
  });

  it('reads no shard for a final request', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...item, status: 'completed', processedBatches: 3 } });
    expect(await dynamoStatusStore().get(ID)).toMatchObject({ processedBatches: 3 });
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(0);
  });

  it("lookupBatch: the status item and the batch's shard in one eventually consistent call", async () => {
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { 'unit-table': [item, { requestId: SHARD0, done: new Set([1]), processed: 1 }] } });
    const found = await dynamoStatusStore().lookupBatch(ID, 1);
    expect(found).toEqual({
      record: item,
      batchDone: true,
      shard: { requestId: ID, shard: 0, size: 3, done: 1, processed: 1, failed: 0 },
    });
    expect(await dynamoStatusStore().lookupBatch(ID, 2)).toMatchObject({ batchDone: false });
    expect(ddb.commandCalls(BatchGetCommand)[0].args[0].input).toEqual({
      RequestItems: { 'unit-table': { Keys: [{ requestId: ID }, { requestId: SHARD0 }], ConsistentRead: false } },
    });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('lookupBatch confirms a missing status item with a consistent read before calling the request unknown', async () => {
    ddb.on(BatchGetCommand).resolves({ Responses: { 'unit-table': [] } });
    ddb.on(GetCommand).resolvesOnce({ Item: item }).resolvesOnce({});
    expect(await dynamoStatusStore().lookupBatch(ID, 0)).toMatchObject({ record: item, batchDone: false });
    expect(await dynamoStatusStore().lookupBatch(ID, 0)).toBeUndefined();
    expect(ddb.commandCalls(GetCommand)[0].args[0].input).toMatchObject({ ConsistentRead: true });
  });

  it('retries the keys a BatchGetItem left unprocessed', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...item, totalBatches: 600 } });
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { 'unit-table': [] },
        UnprocessedKeys: { 'unit-table': { Keys: [{ requestId: `shard#${ID}#1` }] } },
      })
      .resolvesOnce({ Responses: { 'unit-table': [{ requestId: `shard#${ID}#1`, processed: 4 }] } });
    expect(await dynamoStatusStore().get(ID)).toMatchObject({ processedBatches: 4 });
    expect(ddb.commandCalls(BatchGetCommand)[1].args[0].input.RequestItems?.['unit-table'].Keys).toEqual([
      { requestId: `shard#${ID}#1` },
    ]);
  });

  it('doneBatches lists the batch indexes of every shard', async () => {
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        'unit-table': [
          { requestId: SHARD0, done: new Set([0, 255]) },
          { requestId: `shard#${ID}#2`, done: new Set([3]) },
        ],
      },
    });
    expect([...(await dynamoStatusStore().doneBatches({ ...item, totalBatches: 600 }))].sort((a, b) => a - b)).toEqual([
      0, 255, 515,
    ]);
  });
});

describe('dynamoStatusStore.finalize', () => {
  const counts = { enriched: 240, not_found: 9, failed: 1 };
  beforeEach(() => {
    ddb.on(GetCommand).resolves({ Item: item });
    ddb.on(BatchGetCommand).resolves({
      Responses: { 'unit-table': [{ requestId: SHARD0, done: new Set([0, 1, 2]), processed: 2, failed: 1 }] },
    });
  });

  it('takes the batch counts from every shard, and removes the promoted-shard set and the index key', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await dynamoStatusStore().finalize(ID, 'completed_with_errors', counts, NOW)).toBe(true);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.ExpressionAttributeValues).toMatchObject({ ':pb': 2, ':fb': 1 });
    expect(input.UpdateExpression).toMatch(/processedBatches = :pb, failedBatches = :fb REMOVE fullShards, running$/);
  });

  it('does nothing for a request that is not processing', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...item, status: 'completed' } });
    expect(await dynamoStatusStore().finalize(ID, 'completed', counts, NOW)).toBe(false);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('sets the final status and summary only while processing', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await dynamoStatusStore().finalize(ID, 'completed_with_errors', counts, NOW)).toBe(true);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    // Only while not cancelled either: a cancel marked since the read makes it fail, and the next try ends it cancelled.
    expect(input.ConditionExpression).toBe('#status = :processing AND attribute_not_exists(cancelRequestedAt)');
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

  it('ends a request marked cancelled `cancelled`, with its cancelled count, whatever status it was given', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...item, cancelRequestedAt: NOW } });
    ddb.on(UpdateCommand).resolves({});
    expect(await dynamoStatusStore().finalize(ID, 'completed', { ...counts, cancelled: 0 }, NOW)).toBe(true);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.ConditionExpression).toBe('#status = :processing AND attribute_exists(cancelRequestedAt)');
    expect(input.ExpressionAttributeValues).toMatchObject({ ':status': 'cancelled', ':c': 0 });
    expect(input.UpdateExpression).toMatch(/cancelledContacts = :c/);
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
    // [0] is its tombstone (test/unit/adapters/requestHistory.test.ts).
    expect(ddb.commandCalls(PutCommand)[1].args[0].input).toEqual({
      TableName: 'unit-table',
      // In the sparse index of running requests, and in the owner index (no key: the `-` partition).
      Item: { ...item, running: 1, listOwner: '-', listSort: `${item.createdAt}#${ID}` },
      ConditionExpression: 'attribute_not_exists(requestId)',
    });
  });

  it('gets and validates an item, undefined when absent', async () => {
    ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({ Item: item });
    ddb.on(GetCommand, { Key: { requestId: 'other' } }).resolves({});
    ddb.on(BatchGetCommand).resolves({ Responses: {} }); // no shard recorded yet
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

  it('lists processing requests from the sparse index across query pages, no Scan', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ requestId: ID, running: 1, createdAt: 'c' }],
        LastEvaluatedKey: { requestId: ID, running: 1, createdAt: 'c' },
      })
      .resolvesOnce({ Items: [{ requestId: 'b' }, { requestId: 'gone' }] });
    ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({ Item: item });
    ddb.on(GetCommand, { Key: { requestId: 'b' } }).resolves({ Item: { ...item, requestId: 'b' } });
    ddb.on(GetCommand, { Key: { requestId: 'gone' } }).resolves({});
    ddb.on(BatchGetCommand).resolves({ Responses: {} });
    const ids: string[] = [];
    for await (const r of dynamoStatusStore().listProcessing()) ids.push(r.requestId);
    expect(ids).toEqual([ID, 'b']);
    const calls = ddb.commandCalls(QueryCommand);
    expect(calls[0].args[0].input).toEqual({
      TableName: 'unit-table',
      IndexName: 'running',
      KeyConditionExpression: 'running = :running',
      ExpressionAttributeValues: { ':running': 1 },
      ExclusiveStartKey: undefined,
    });
    expect(calls[1].args[0].input.ExclusiveStartKey).toEqual({ requestId: ID, running: 1, createdAt: 'c' });
  });
});

describe('dynamoStatusStore: the running usage rides on the updates that count the batches (no call of its own)', () => {
  const usage = {
    providerCalls: 3,
    contactsSent: 250,
    cacheHits: 10,
    matches: 60,
    notFound: 29,
    failed: 1,
    rateLimitWaitMs: 420,
  };
  const attributes = {
    uCalls: 3,
    uContacts: 250,
    uCacheHits: 10,
    uMatches: 60,
    uNotFound: 29,
    uFailed: 1,
    uWaitMs: 420,
  };
  const names = Object.fromEntries(Object.entries(attributes).map(([a], i) => [`#u_${Object.keys(usage)[i]}`, a]));
  const values = Object.fromEntries(Object.entries(usage).map(([k, v]) => [`:u_${k}`, v]));

  it('recordBatch ADDs the batch usage onto its shard in the same conditional update, and returns the shard usage', async () => {
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: { requestId: SHARD0, done: new Set([2]), processed: 1, ...attributes } });
    const result = await dynamoStatusStore().recordBatch(ID, 2, 'processed', NOW, REF, usage);
    expect(result?.shard).toEqual({ requestId: ID, shard: 0, size: 3, done: 1, processed: 1, failed: 0, usage });
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toBe(
      `ADD #done :offSet, #counter :one, ${Object.keys(usage)
        .map((k) => `#u_${k} :u_${k}`)
        .join(', ')} SET updatedAt = :now, expiresAt = :exp`,
    );
    expect(input.ConditionExpression).toBe('NOT contains(#done, :off)');
    expect(input.ExpressionAttributeNames).toEqual({ '#done': 'done', '#counter': 'processed', ...names });
    expect(input.ExpressionAttributeValues).toMatchObject(values);
  });

  it("promoteShard ADDs a full shard's usage onto the status item in the promotion's own update", async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { ...item, totalBatches: 256, processedBatches: 256 } });
    const full = { requestId: ID, shard: 0, size: 256, done: 256, processed: 256, failed: 0, usage };
    expect(await dynamoStatusStore().promoteShard(full, NOW)).toEqual({ complete: true });
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toBe(
      `ADD fullShards :kSet, processedBatches :p, failedBatches :f, ${Object.keys(usage)
        .map((k) => `#u_${k} :u_${k}`)
        .join(', ')} SET updatedAt = :now`,
    );
    expect(input.ExpressionAttributeNames).toEqual({ '#status': 'status', ...names });
    expect(input.ExpressionAttributeValues).toMatchObject(values);
  });

  it('get adds the promoted usage on the status item to the shards not promoted yet; a final request shows its usage map', async () => {
    const running = { ...item, totalBatches: 600, processedBatches: 256, fullShards: new Set([0]), ...attributes };
    ddb.on(GetCommand).resolves({ Item: running });
    ddb.on(BatchGetCommand).resolves({
      Responses: { 'unit-table': [{ requestId: `shard#${ID}#1`, done: new Set([0]), processed: 1, ...attributes }] },
    });
    const doubled = Object.fromEntries(Object.entries(usage).map(([k, v]) => [k, 2 * v]));
    expect((await dynamoStatusStore().get(ID))?.usage).toEqual(doubled);

    const finalUsage = { ...usage, estimatedCost: 1.5 };
    ddb.on(GetCommand).resolves({ Item: { ...running, status: 'completed', usage: finalUsage } });
    expect((await dynamoStatusStore().get(ID))?.usage).toEqual(finalUsage);
  });

  it("finalize sets the assembly's usage (a reserved word: by its placeholder); the batch counts' expression is unchanged", async () => {
    ddb.on(GetCommand).resolves({ Item: item });
    ddb.on(BatchGetCommand).resolves({ Responses: { 'unit-table': [] } });
    ddb.on(UpdateCommand).resolves({});
    const finalUsage = { ...usage, estimatedCost: 1.5 };
    const counts = { enriched: 70, not_found: 29, failed: 1 };
    expect(await dynamoStatusStore().finalize(ID, 'completed_with_errors', counts, NOW, finalUsage)).toBe(true);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toMatch(/ #usage = :usage, /);
    expect(input.UpdateExpression).toMatch(/processedBatches = :pb, failedBatches = :fb REMOVE fullShards, running$/);
    expect(input.ExpressionAttributeNames).toEqual({ '#status': 'status', '#usage': 'usage' });
    expect(input.ExpressionAttributeValues).toMatchObject({ ':usage': finalUsage });
  });
});
