import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { dynamoResultCache } from '../../../src/adapters/resultCache';
import type { CachedResult } from '../../../src/core/ports';

const TABLE = 'unit-result-cache';
const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const item = (i: number): CachedResult => ({
  cacheKey: `k${i}`,
  result: { enrichment_status: 'enriched', job_title: `t${i}` },
  cachedAt: '2025-01-01T00:00:00.000Z',
  expiresAt: 1_900_000_000,
});

describe('dynamoResultCache', () => {
  const sleeps: number[] = [];
  const cache = () => dynamoResultCache(TABLE, client, { sleep: async (ms) => void sleeps.push(ms) });
  beforeEach(() => {
    ddb.reset();
    sleeps.length = 0;
  });
  afterAll(() => ddb.restore());

  it('reads up to 100 keys in one BatchGetItem, retrying the unprocessed keys with backoff', async () => {
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({ Responses: { [TABLE]: [item(0)] }, UnprocessedKeys: { [TABLE]: { Keys: [{ cacheKey: 'k1' }] } } })
      .resolvesOnce({ Responses: { [TABLE]: [item(1)] } });
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    expect(await cache().getMany(keys)).toEqual({ items: [item(0), item(1)], unprocessed: 0 });
    const calls = ddb.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems![TABLE].Keys);
    expect(calls.map((k) => k!.length)).toEqual([100, 1]);
    expect(calls[1]).toEqual([{ cacheKey: 'k1' }]);
    expect(sleeps).toHaveLength(1);
    await expect(cache().getMany([...keys, 'k100'])).rejects.toThrow(/100 keys/);
  });

  it('gives up after 4 calls and reports what is left', async () => {
    ddb.on(BatchGetCommand).resolves({ UnprocessedKeys: { [TABLE]: { Keys: [{ cacheKey: 'k1' }] } } });
    expect(await cache().getMany(['k1'])).toEqual({ items: [], unprocessed: 1 });
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
    expect(sleeps[2]).toBeLessThanOrEqual(200);
  });

  it('writes 25 items per BatchWriteItem, retrying unprocessed items, and reports what is left after 4 calls', async () => {
    ddb.on(BatchWriteCommand).callsFake((input) => {
      const requests = input.RequestItems[TABLE];
      // The first 25: one item left unprocessed once; the rest always written.
      if (requests.length === 25 && requests[0].PutRequest.Item.cacheKey === 'k0')
        return { UnprocessedItems: { [TABLE]: [requests[24]] } };
      return {};
    });
    expect(await cache().putMany(Array.from({ length: 60 }, (_, i) => item(i)))).toEqual({ unprocessed: 0 });
    const sizes = ddb.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems![TABLE].length);
    expect(sizes.sort((a, b) => a - b)).toEqual([1, 10, 25, 25]);

    ddb.reset();
    ddb.on(BatchWriteCommand).callsFake((input) => ({ UnprocessedItems: { [TABLE]: input.RequestItems[TABLE] } }));
    expect(await cache().putMany([item(0), item(1)])).toEqual({ unprocessed: 2 });
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(4);
  });

  it('stores the result as one string attribute (its JSON) and reads it back; a map from an older item too', async () => {
    ddb.on(BatchWriteCommand).resolves({});
    await cache().putMany([item(0)]);
    const written = ddb.commandCalls(BatchWriteCommand)[0].args[0].input.RequestItems![TABLE][0].PutRequest!.Item!;
    expect(written).toEqual({ ...item(0), result: JSON.stringify(item(0).result) });

    ddb.on(BatchGetCommand).resolves({
      Responses: {
        [TABLE]: [written, { ...item(1) }, { ...item(2), result: '{not json' }],
      },
    });
    // The string decoded, the older map as it is, the unreadable one a miss.
    expect(await cache().getMany(['k0', 'k1', 'k2'])).toEqual({ items: [item(0), item(1)], unprocessed: 0 });
  });
});
