import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ownerIdOf, uploadPrefixOf } from '../../src/core/owner';
import { apiEvent, makeContacts } from '../support/factories';
import { createFn, downloadFn, statusFn } from '../support/functions';
import { startTestService, type TestService } from '../support/service';

const FIELDS = ['professional_email'];
const [KEY_A, KEY_B] = ['key-of-client-a-0123456789', 'key-of-client-b-0123456789'];
const as = (key?: string) => (key ? { 'x-api-key': key } : {});
const create = (body: unknown, key?: string) => createFn()(apiEvent({ body: JSON.stringify(body), headers: as(key) }));
const read = (fn: typeof statusFn, id: string, key?: string) =>
  fn()(apiEvent({ httpMethod: 'GET', pathParameters: { id }, headers: as(key) }));

/** Requests and uploads belong to the API key that made them (the caller's validated x-api-key). */
describe('ownership per API key (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(() => service.close());

  it("another key's request is as unknown as a missing one: status and download answer 404", async () => {
    const res = await create({ contacts: makeContacts(3), fields_to_enrich: FIELDS }, KEY_A);
    expect(res.statusCode).toBe(202);
    const { requestId } = JSON.parse(res.body);
    expect((await read(statusFn, requestId, KEY_A)).statusCode).toBe(200);
    expect((await read(downloadFn, requestId, KEY_A)).statusCode).toBe(302);
    for (const key of [KEY_B, undefined]) {
      const status = await read(statusFn, requestId, key);
      expect([status.statusCode, JSON.parse(status.body).message]).toEqual([
        404,
        `No enrichment request with id ${requestId}`,
      ]);
      expect((await read(downloadFn, requestId, key)).statusCode).toBe(404);
    }
  });

  it("a request may reference only its own key's uploads, and learns nothing about another's", async () => {
    const own = `${uploadPrefixOf(ownerIdOf(KEY_A))}contacts.json`;
    await service.s3.send(
      new PutObjectCommand({ Bucket: service.bucket, Key: own, Body: JSON.stringify({ contacts: makeContacts(5) }) }),
    );
    const before = await service.scanTable();
    // Key B: the same 400 for A's existing upload and for a key that does not exist (no existence oracle).
    for (const ref of [own, `${uploadPrefixOf(ownerIdOf(KEY_A))}missing.json`, 'uploads/contacts.json']) {
      const res = await create({ contacts: `s3://${service.bucket}/${ref}`, fields_to_enrich: FIELDS }, KEY_B);
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body).errors).toEqual([
        {
          path: 'contacts',
          message: `S3 references must be under "${uploadPrefixOf(ownerIdOf(KEY_B))}", the uploads of your API key (see docs/large-datasets.md)`,
        },
      ]);
    }
    expect(await service.scanTable()).toBe(before);
    const ok = await create({ contacts: `s3://${service.bucket}/${own}`, fields_to_enrich: FIELDS }, KEY_A);
    expect([ok.statusCode, JSON.parse(ok.body).status]).toEqual([202, 'validating']);
  });
});
