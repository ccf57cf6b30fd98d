import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { startDynalite } from '../../src/local/dynalite';
import { provisionFromServerlessYml, type LocalResources } from '../../src/local/provision';
import { sweepOnce, sweepTargets } from '../../src/local/sweeper';
import { ServerlessConfig } from '../../src/local/serverlessConfig';
import { apiEvent, makeContacts } from '../support/factories';
import { createFn, downloadFn } from '../support/functions';
import { runPipeline } from '../support/faults';
import { submit, waitForFinal } from '../support/flow';
import { emulators as sharedEmulators, startTestService, type TestService } from '../support/service';

const KEY = 'key-of-local-expiry-0123456789';
const TTL_MINUTES = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The offline stack's sweeper (src/local/sweeper.ts): the bucket's lifecycle rule and the tables' TTL from
 * serverless.yml, applied on a clock the test sets, through the SDK against the emulators.
 */
describe('local expiry: the sweeper deletes what the lifecycle rule and the TTLs would, and leaves the rest (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({ RESULT_TTL_MINUTES: String(TTL_MINUTES), CACHE_TTL_DAYS: '30' });
  });
  afterAll(() => service.close());

  /** The test service's serverless.yml: a deployed stage's. */
  const targets = () =>
    sweepTargets(
      new ServerlessConfig({
        stage: service.stage,
        region: 'us-east-1',
        env: {},
        params: { ddApiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:dd' },
      }),
    );

  it('reads the rules from serverless.yml: the whole bucket, and every table with TTL on its attribute', () => {
    expect(targets()).toEqual({
      buckets: [{ name: service.bucket, prefixes: [''] }],
      tables: [
        { name: service.table, keys: ['requestId'], ttlAttribute: 'expiresAt' },
        { name: service.resources.tables.ResultCacheTable, keys: ['cacheKey'], ttlAttribute: 'expiresAt' },
      ],
    });
  });

  it("past the local TTL: the request's objects and items are deleted, fresh ones and its tombstone stay, and a download answers 410", async () => {
    const db = DynamoDBDocumentClient.from(service.ddb);
    const created = await createFn()(
      apiEvent({
        body: JSON.stringify({ contacts: makeContacts(3), fields_to_enrich: ['job_title'] }),
        headers: { 'x-api-key': KEY },
      }),
    );
    expect(created.statusCode).toBe(202);
    const id: string = JSON.parse(created.body).requestId;
    const status = (await db.send(new GetCommand({ TableName: service.table, Key: { requestId: id } }))).Item!;
    // RESULT_TTL_MINUTES: the request expires minutes after its creation, not days.
    expect(status.expiresAt).toBe(Math.floor(Date.parse(status.createdAt) / 1000) + TTL_MINUTES * 60);
    const cache = service.resources.tables.ResultCacheTable;
    await db.send(new PutCommand({ TableName: cache, Item: { cacheKey: 'old', expiresAt: status.expiresAt - 1 } }));
    await db.send(
      new PutCommand({ TableName: cache, Item: { cacheKey: 'fresh', expiresAt: status.expiresAt + 3600 } }),
    );
    // An item without the TTL attribute (a rate-limit bucket) never expires.
    await db.send(new PutCommand({ TableName: service.table, Item: { requestId: 'limit#bucket#0', tokens: 1 } }));
    const written = Date.now();
    await sleep(20);
    await service.s3.send(new PutObjectCommand({ Bucket: service.bucket, Key: 'uploads/fresh.csv', Body: 'a\n' }));
    const keysBefore = await service.listKeys('');
    expect(keysBefore).toEqual(expect.arrayContaining([`${id}/input.json`, `${id}/output.json`, 'uploads/fresh.csv']));

    // Not yet: a minute before the request's objects and items reach the TTL, nothing goes.
    const sweep = (at: number) =>
      sweepOnce(targets(), {
        s3: service.s3,
        ddb: service.ddb,
        ttlMinutes: TTL_MINUTES,
        now: () => new Date(at),
      });
    expect(await sweep(written + (TTL_MINUTES - 1) * 60_000)).toEqual({ objects: 0, items: 0 });
    expect(await service.listKeys('')).toEqual(keysBefore);

    // At the TTL: the objects written before, the status item, its dedup item and the old cache item.
    const at = Math.max(written + TTL_MINUTES * 60_000, status.expiresAt * 1000);
    const report = await sweep(at);
    expect(await service.listKeys('')).toEqual(['uploads/fresh.csv']);
    const item = async (table: string, key: Record<string, string>) =>
      (await db.send(new GetCommand({ TableName: table, Key: key }))).Item;
    expect(await item(service.table, { requestId: id })).toBeUndefined();
    expect(await item(cache, { cacheKey: 'old' })).toBeUndefined();
    expect(await item(cache, { cacheKey: 'fresh' })).toBeDefined();
    expect(await item(service.table, { requestId: 'limit#bucket#0' })).toBeDefined();
    // The tombstone lives 90 days past the request's expiry: the download answers 410, as deployed.
    expect(await item(service.table, { requestId: `gone#${id}` })).toBeDefined();
    const download = await downloadFn({ clock: { now: () => new Date(at) } })(
      apiEvent({ httpMethod: 'GET', pathParameters: { id }, headers: { 'x-api-key': KEY } }),
    );
    expect(download.statusCode).toBe(410);
    expect(report).toEqual({ objects: keysBefore.length - 1, items: expect.any(Number) });
    expect(report.items).toBeGreaterThanOrEqual(3);
  });

  it('a result cached offline lives no longer than a request (CACHE_TTL_DAYS capped at the local TTL)', async () => {
    const res = await submit({ contacts: makeContacts(5), fields_to_enrich: ['job_title'] });
    const before = Math.floor(Date.now() / 1000);
    runPipeline(service);
    expect((await waitForFinal(res.json.requestId, 30_000)).status).toBe('completed');
    const cached = (
      await DynamoDBDocumentClient.from(service.ddb).send(
        new ScanCommand({ TableName: service.resources.tables.ResultCacheTable }),
      )
    ).Items!.filter((i) => i.cacheKey !== 'fresh');
    expect(cached.length).toBeGreaterThanOrEqual(5);
    for (const item of cached)
      expect(item.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + TTL_MINUTES * 60);
    for (const item of cached) expect(item.expiresAt).toBeGreaterThanOrEqual(before + TTL_MINUTES * 60);
  });

  it('through the API, the sweep counts every item it deletes (its BatchWriteItem calls run four at a time)', async () => {
    const db = DynamoDBDocumentClient.from(service.ddb);
    const cache = service.resources.tables.ResultCacheTable;
    for (let i = 0; i < 300; i += 25)
      await db.send(
        new BatchWriteCommand({
          RequestItems: {
            [cache]: Array.from({ length: 25 }, (_, j) => ({
              PutRequest: { Item: { cacheKey: `x${i + j}`, expiresAt: 1 } },
            })),
          },
        }),
      );
    const now = Date.now();
    const due = (await db.send(new ScanCommand({ TableName: cache }))).Items!.filter(
      (i) => i.expiresAt <= Math.floor(now / 1000),
    ).length;
    expect(due).toBeGreaterThanOrEqual(300);
    const cacheOnly = { buckets: [], tables: targets().tables.filter((t) => t.name === cache) };
    const report = await sweepOnce(cacheOnly, {
      s3: service.s3,
      ddb: service.ddb,
      ttlMinutes: TTL_MINUTES,
      now: () => new Date(now),
    });
    expect(report).toEqual({ objects: 0, items: due });
  });
});

/**
 * dynalite started in this test's own process (the shared emulators run in jest's global setup, out of reach), as
 * the offline stack starts it: its store's reads, and the expiry inside it that the stack's sweeper uses
 * (src/local/dynalite.ts). The stage's bucket and queues go to the shared fauxqs.
 */
describe('local expiry inside dynalite: closed reads, and expired items deleted with their index entries', () => {
  let dynalite: ReturnType<typeof startDynalite>;
  let ddb: DynamoDBClient;
  let db: DynamoDBDocumentClient;
  let sls: ServerlessConfig;
  let tables: LocalResources['tables'];
  beforeAll(async () => {
    dynalite = startDynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => dynalite.server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(dynalite.server.address() as AddressInfo).port}`;
    ddb = new DynamoDBClient({ region: 'us-east-1', endpoint });
    db = DynamoDBDocumentClient.from(ddb);
    sls = new ServerlessConfig({
      stage: `x${randomUUID().slice(0, 12)}`,
      region: 'us-east-1',
      env: {},
      params: { ddApiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:dd' },
    });
    tables = (await provisionFromServerlessYml(sls, { ...sharedEmulators(), dynamodbEndpoint: endpoint })).tables;
  });
  afterAll(async () => {
    ddb?.destroy();
    dynalite.server.closeAllConnections();
    await new Promise((resolve) => dynalite.server.close(resolve));
  });

  const putAll = async (table: string, items: Record<string, unknown>[]) => {
    for (let i = 0; i < items.length; i += 25)
      await db.send(
        new BatchWriteCommand({
          RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
        }),
      );
  };
  const scanAll = async (table: string) => {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await db.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  };

  it('a Scan stopped early, a whole Scan and a Query leave no read open (each would hold every item it saw for good)', async () => {
    await putAll(
      tables.ResultCacheTable,
      Array.from({ length: 50 }, (_, i) => ({ cacheKey: `read-${i}`, expiresAt: 1 })),
    );
    await db.send(new ScanCommand({ TableName: tables.ResultCacheTable, Limit: 1 }));
    expect((await scanAll(tables.ResultCacheTable)).length).toBe(50);
    await db.send(
      new QueryCommand({
        TableName: tables.StatusTable,
        IndexName: 'running',
        KeyConditionExpression: 'running = :r',
        ExpressionAttributeValues: { ':r': 1 },
      }),
    );
    expect(dynalite.openReads()).toBe(0);
  });

  it('the sweep deletes exactly the items whose expiresAt is past, their index entries too, and no read stays open', async () => {
    const now = 2_000_000_000;
    // More than a page of the store (1,000 items) and a round of deletes (100).
    const cache = [
      ...Array.from({ length: 1_150 }, (_, i) => ({ cacheKey: `old-${i}`, expiresAt: now - (i % 3) })),
      ...Array.from({ length: 20 }, (_, i) => ({ cacheKey: `fresh-${i}`, expiresAt: now + 1 })),
    ];
    await putAll(tables.ResultCacheTable, cache);
    const status = (id: string, expiresAt: number) => ({
      requestId: id,
      listOwner: 'owner-1',
      listSort: `2033-05-18T03:33:20.000Z#${id}`,
      running: 1,
      createdAt: '2033-05-18T03:33:20.000Z',
      expiresAt,
    });
    await putAll(tables.StatusTable, [
      status('expired', now),
      status('live', now + 60),
      { requestId: 'limit#bucket#0', tokens: 1 },
    ]);
    const before = (await scanAll(tables.ResultCacheTable)).length;

    const report = await sweepOnce(
      { buckets: [], tables: sweepTargets(sls).tables },
      {
        s3: undefined as never,
        ddb: undefined as never,
        expireItems: dynalite.expireItems,
        ttlMinutes: 3,
        now: () => new Date(now * 1000),
      },
    );

    // The 1,150 old items and the expired status item; the test above's items (expiresAt 1) as well.
    expect(report).toEqual({ objects: 0, items: 1_150 + 1 + (before - cache.length) });
    expect((await scanAll(tables.ResultCacheTable)).map((i) => i.cacheKey).sort()).toEqual(
      cache
        .filter((i) => i.expiresAt > now)
        .map((i) => i.cacheKey)
        .sort(),
    );
    expect((await scanAll(tables.StatusTable)).map((i) => i.requestId).sort()).toEqual(['limit#bucket#0', 'live']);
    const byIndex = async (IndexName: string, KeyConditionExpression: string, value: unknown) =>
      (
        await db.send(
          new QueryCommand({
            TableName: tables.StatusTable,
            IndexName,
            KeyConditionExpression,
            ExpressionAttributeValues: { ':v': value },
          }),
        )
      ).Items?.map((i) => i.requestId);
    expect(await byIndex('byOwner', 'listOwner = :v', 'owner-1')).toEqual(['live']);
    expect(await byIndex('running', 'running = :v', 1)).toEqual(['live']);
    expect(dynalite.openReads()).toBe(0);
  });
});
