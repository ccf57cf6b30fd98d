import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../../src/adapters/clients';
import { dynamoRequestHistory, dynamoStatusStore, TOMBSTONE_DAYS } from '../../../src/adapters/statusTable';
import { resetConfig } from '../../../src/config';
import { statusRecordOf } from '../../support/fakes';

const ddb = mockClient(DynamoDBDocumentClient);
beforeEach(() => {
  ddb.reset();
  resetConfig();
  resetClients();
});
afterAll(() => ddb.restore());

const NOW = new Date('2026-12-07T00:00:00.000Z');
/** Index items newest first, as the Query answers them: `n` completed requests of owner `o`. */
const indexItems = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => {
    const requestId = `0d9c6d1e-6f7c-4b8e-9a57-${String(from + i).padStart(12, '0')}`;
    const createdAt = new Date(Date.UTC(2026, 11, 6, 23, 0, 0) - (from + i) * 1000).toISOString();
    return {
      ...statusRecordOf(requestId),
      status: 'completed',
      createdAt,
      listOwner: 'o',
      listSort: `${createdAt}#${requestId}`,
    };
  });

describe('dynamoRequestHistory.listOwned', () => {
  it('one Query of limit + 1 newest first on the owner index; a next position only when one more request follows', async () => {
    ddb.on(QueryCommand).resolves({ Items: indexItems(3), ScannedCount: 3 });
    const page = await dynamoRequestHistory().listOwned('o', { limit: 2, now: NOW });
    const [input] = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(input).toMatchObject({
      IndexName: 'byOwner',
      KeyConditionExpression: 'listOwner = :owner',
      FilterExpression: 'expiresAt > :now',
      ExpressionAttributeValues: { ':owner': 'o', ':now': NOW.getTime() / 1000 },
      ScanIndexForward: false,
      Limit: 3,
    });
    expect(page.records.map((r) => r.requestId)).toEqual(indexItems(2).map((i) => i.requestId));
    expect(page.next).toBe(indexItems(2)[1].listSort);
    // Exactly what is left: no next position (no empty last page).
    ddb.on(QueryCommand).resolves({ Items: indexItems(2), ScannedCount: 2 });
    expect(await dynamoRequestHistory().listOwned('o', { limit: 2, now: NOW })).not.toHaveProperty('next');
  });

  it('starts after the position given, and reads requests made without a key from their own partition', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    const after = indexItems(1)[0].listSort;
    await dynamoRequestHistory().listOwned(undefined, { limit: 20, now: NOW, after });
    expect(ddb.commandCalls(QueryCommand)[0].args[0].input.ExclusiveStartKey).toEqual({
      listOwner: '-',
      listSort: after,
      requestId: indexItems(1)[0].requestId,
    });
  });

  it('with a status filter, reads on until limit + 1 match, or answers a short page at the read budget', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: indexItems(1), ScannedCount: 500, LastEvaluatedKey: { listSort: 'a' } })
      .resolvesOnce({ Items: indexItems(2, 1), ScannedCount: 500, LastEvaluatedKey: { listSort: 'b' } });
    const page = await dynamoRequestHistory().listOwned('o', { limit: 2, status: 'completed', now: NOW });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(2);
    expect(ddb.commandCalls(QueryCommand)[1].args[0].input).toMatchObject({
      FilterExpression: 'expiresAt > :now AND #status = :status',
      ExclusiveStartKey: { listSort: 'a' },
    });
    expect([page.records.length, page.next]).toEqual([2, indexItems(2)[1].listSort]);

    ddb.reset();
    const skipped = { Items: [], ScannedCount: 500, LastEvaluatedKey: { listSort: 'z' } };
    // Four reads of 500 skipped requests spend the budget; a fifth would reach the end.
    ddb
      .on(QueryCommand)
      .resolvesOnce(skipped)
      .resolvesOnce(skipped)
      .resolvesOnce(skipped)
      .resolvesOnce(skipped)
      .resolves({ Items: [] });
    const short = await dynamoRequestHistory().listOwned('o', { limit: 20, status: 'failed', now: NOW });
    expect([ddb.commandCalls(QueryCommand).length, short]).toEqual([4, { records: [], next: 'z' }]);
  });
});

describe('the tombstone', () => {
  it('is written before the status item, with the owner and the expiry, and kept TOMBSTONE_DAYS longer', async () => {
    ddb.on(PutCommand).resolves({});
    const record = { ...statusRecordOf('0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b'), owner: 'o', expiresAt: 1_800_000_000 };
    await dynamoStatusStore().create(record);
    const [tomb, status] = ddb.commandCalls(PutCommand).map((c) => c.args[0].input.Item!);
    expect(tomb).toEqual({
      requestId: `gone#${record.requestId}`,
      owner: 'o',
      requestExpiresAt: 1_800_000_000,
      expiresAt: 1_800_000_000 + TOMBSTONE_DAYS * 86_400,
    });
    expect(status).toMatchObject({
      requestId: record.requestId,
      listOwner: 'o',
      listSort: `${record.createdAt}#${record.requestId}`,
    });
    expect(tomb).not.toHaveProperty('listOwner');
  });

  it('is read back as its owner and the request expiry', async () => {
    ddb.on(GetCommand).resolves({ Item: { requestId: 'gone#x', requestExpiresAt: 5, expiresAt: 9 } });
    expect(await dynamoRequestHistory().tombstone('x')).toEqual({ expiresAt: 5 });
    expect(ddb.commandCalls(GetCommand)[0].args[0].input.Key).toEqual({ requestId: 'gone#x' });
  });
});
