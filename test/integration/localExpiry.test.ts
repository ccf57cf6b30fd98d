import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { sweepOnce, sweepTargets } from '../../src/local/sweeper';
import { ServerlessConfig } from '../../src/local/serverlessConfig';
import { apiEvent, makeContacts } from '../support/factories';
import { createFn, downloadFn } from '../support/functions';
import { runPipeline } from '../support/faults';
import { submit, waitForFinal } from '../support/flow';
import { startTestService, type TestService } from '../support/service';

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
});
