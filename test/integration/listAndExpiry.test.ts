import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { QueryCommand, ScanCommand as DocScanCommand } from '@aws-sdk/lib-dynamodb';
import { ownerIdOf, uploadPrefixOf } from '../../src/core/owner';
import { apiEvent, makeContacts } from '../support/factories';
import { createFn, createUploadFn, downloadFn, listFn, statusFn } from '../support/functions';
import { startTestService, type TestService } from '../support/service';

const FIELDS = ['job_title'];
const [KEY_A, KEY_B] = ['key-of-lister-a-0123456789', 'key-of-lister-b-0123456789'];
const as = (key: string) => ({ 'x-api-key': key });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const parsed = async (p: Promise<{ statusCode: number; body: string }>) => {
  const res = await p;
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
};
const list = (key: string, query: Record<string, string> | null = null, now?: Date) =>
  parsed(
    listFn(now ? { clock: { now: () => now } } : {})(
      apiEvent({ httpMethod: 'GET', path: '/enrichment', queryStringParameters: query, headers: as(key) }),
    ),
  );
const download = (id: string, key: string, now?: Date) =>
  parsed(
    downloadFn(now ? { clock: { now: () => now } } : {})(
      apiEvent({ httpMethod: 'GET', pathParameters: { id }, headers: as(key) }),
    ),
  );
const ids = (page: { requests: { requestId: string }[] }) => page.requests.map((r) => r.requestId);

/**
 * GET /enrichment, metadata and expiry on one service: 25 requests of key A (23 inline, 2 from uploads, still
 * validating: no intake runs) and 3 of key B, among the table's other items (dedup, tombstones, an upload record).
 */
describe('the list of requests, metadata and expiry (fauxqs + dynalite behind the IAM edge)', () => {
  let service: TestService;
  /** Key A's ids in creation order (oldest first), and B's. */
  const mine: string[] = [];
  const theirs: string[] = [];
  const uploaded: string[] = [];

  beforeAll(async () => {
    service = await startTestService();
    const upload = `${uploadPrefixOf(ownerIdOf(KEY_A))}list.json`;
    await service.s3.send(
      new PutObjectCommand({
        Bucket: service.bucket,
        Key: upload,
        Body: JSON.stringify({ contacts: makeContacts(3) }),
      }),
    );
    // An upload record (`upload#…`) in the same table: not a request.
    expect(
      (await createUploadFn()(apiEvent({ body: JSON.stringify({ size: 10 }), headers: as(KEY_A) }))).statusCode,
    ).toBe(201);
    for (let i = 0; i < 28; i++) {
      const key = i % 10 === 5 ? KEY_B : KEY_A;
      const fromUpload = i === 4 || i === 12;
      const body = {
        contacts: fromUpload ? `s3://${service.bucket}/${upload}` : makeContacts(2 + i),
        fields_to_enrich: FIELDS,
        metadata: { n: String(i), ...(fromUpload ? { from: 'upload' } : {}) },
        dedupe: false,
      };
      const res = await parsed(createFn()(apiEvent({ body: JSON.stringify(body), headers: as(key) })));
      expect(res.status).toBe(202);
      (key === KEY_B ? theirs : mine).push(res.body.requestId);
      if (fromUpload) uploaded.push(res.body.requestId);
      // createdAt has millisecond precision: no two requests of the test share one, so the order is the creation order.
      await sleep(2);
    }
  }, 60_000);
  afterAll(() => service.close());

  it('key A pages its 25 requests newest first, 20 then 5, with the cursor; key B sees only its 3', async () => {
    expect([mine.length, theirs.length]).toEqual([25, 3]);
    const first = await list(KEY_A);
    expect(first.status).toBe(200);
    expect(ids(first.body)).toEqual([...mine].reverse().slice(0, 20));
    expect(typeof first.body.cursor).toBe('string');
    const second = await list(KEY_A, { cursor: first.body.cursor });
    expect(ids(second.body)).toEqual([...mine].reverse().slice(20));
    expect(second.body).not.toHaveProperty('cursor');

    const b = await list(KEY_B, { limit: '100' });
    expect(ids(b.body)).toEqual([...theirs].reverse());
    expect(b.body).not.toHaveProperty('cursor');
    // A page of exactly what is left has no cursor either (no empty last page).
    expect((await list(KEY_B, { limit: '3' })).body).not.toHaveProperty('cursor');
    // B cannot page A's list with A's cursor.
    const foreign = await list(KEY_B, { cursor: first.body.cursor });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors[0].path).toBe('cursor');
  });

  it('each entry is the status GET /enrichment/{id} answers, metadata and expiresAt included', async () => {
    const page = await list(KEY_A, { limit: '1' });
    const [entry] = page.body.requests;
    const status = await parsed(
      statusFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: entry.requestId }, headers: as(KEY_A) })),
    );
    expect(entry).toEqual(status.body);
    expect(entry.metadata).toEqual({ n: '27' });
    const created = Date.parse(entry.createdAt);
    expect(Date.parse(entry.expiresAt)).toBe(Math.floor(created / 1000) * 1000 + 30 * 86_400_000);
  });

  it('filters by status: the 2 upload-based requests still validating, the 23 inline ones processing', async () => {
    const validating = await list(KEY_A, { status: 'validating' });
    expect(ids(validating.body)).toEqual([...uploaded].reverse());
    expect(validating.body.requests.map((r: { metadata: object }) => r.metadata)).toEqual([
      { n: '12', from: 'upload' },
      { n: '4', from: 'upload' },
    ]);
    const processing = await list(KEY_A, { status: 'processing', limit: '100' });
    expect(processing.body.requests).toHaveLength(23);
    expect((await list(KEY_A, { status: 'completed' })).body).toEqual({ requests: [] });
  });

  it('limit 0 and 101, a bad status and a cursor that does not decode are 400s naming the parameter', async () => {
    for (const [query, path] of [
      [{ limit: '0' }, 'limit'],
      [{ limit: '101' }, 'limit'],
      [{ status: 'done' }, 'status'],
      [{ cursor: 'garbage' }, 'cursor'],
    ] as const) {
      const res = await list(KEY_A, query);
      expect([res.status, res.body.errors[0].path]).toEqual([400, path]);
    }
  });

  it('metadata beyond its rules is a 400 naming the rule, and nothing is written', async () => {
    const before = await service.scanTable();
    const objects = (await service.listKeys()).length;
    const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    const res = await parsed(
      createFn()(
        apiEvent({
          body: JSON.stringify({ contacts: makeContacts(2), fields_to_enrich: FIELDS, metadata }),
          headers: as(KEY_A),
        }),
      ),
    );
    expect([res.status, res.body.errors]).toEqual([
      400,
      [{ path: 'metadata', message: 'metadata may hold at most 16 pairs (it has 17)' }],
    ]);
    expect([await service.scanTable(), (await service.listKeys()).length]).toEqual([before, objects]);
  });

  it('only request items are in the owner index, and the list function may Query it but not Scan the table', async () => {
    const index = await service.ddb.send(new ScanCommand({ TableName: service.table, IndexName: 'byOwner' }));
    const table = await service.ddb.send(new ScanCommand({ TableName: service.table }));
    expect(index.Count).toBe(28);
    expect(table.Count).toBeGreaterThan(28 * 2); // tombstones, dedup items and the upload record besides
    const fn = service.as('listEnrichments');
    await expect(fn.ddb.send(new DocScanCommand({ TableName: service.table }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    await expect(
      fn.ddb.send(new DocScanCommand({ TableName: service.table, IndexName: 'byOwner' })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(service.iam.takeDenials().map((d) => d.action)).toEqual(['dynamodb:Scan', 'dynamodb:Scan']);
    await expect(
      fn.ddb.send(
        new QueryCommand({
          TableName: service.table,
          KeyConditionExpression: 'requestId = :id',
          ExpressionAttributeValues: { ':id': mine[0] },
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    service.iam.takeDenials();
  });

  it('after its expiresAt a download answers 410, while the status item lingers and once it is gone; the list drops it', async () => {
    const [id] = mine;
    expect((await download(id, KEY_A)).status).toBe(302);
    const { body: status } = await parsed(
      statusFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id }, headers: as(KEY_A) })),
    );
    const after = new Date(Date.parse(status.expiresAt));
    const gone = await download(id, KEY_A, after);
    expect(gone).toEqual({
      status: 410,
      body: {
        message: `Request ${id} expired at ${status.expiresAt}: its outputs and status are deleted after RESULT_TTL_DAYS; submit the contacts again`,
      },
    });
    // Another key learns nothing: 404 before and after.
    expect((await download(id, KEY_B, after)).status).toBe(404);
    expect(
      (await list(KEY_A, { limit: '100' }, after)).body.requests.map((r: { requestId: string }) => r.requestId),
    ).not.toContain(id);

    // What DynamoDB's TTL does at last (dynalite never does): the status item deleted. Its tombstone answers.
    await service.ddb.send(new DeleteItemCommand({ TableName: service.table, Key: { requestId: { S: id } } }));
    expect((await download(id, KEY_A, after)).status).toBe(410);
    expect((await download(id, KEY_B, after)).status).toBe(404);
    expect((await download('6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f', KEY_A, after)).status).toBe(404);
  });
});
