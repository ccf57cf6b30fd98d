import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { ownerIdOf, uploadPrefixOf } from '../../src/core/owner';
import { PART_SIZE } from '../../src/core/uploads';
import { apiEvent } from '../support/factories';
import { completeUploadFn, createUploadFn } from '../support/functions';
import { startTestService, type TestService } from '../support/service';

const [KEY_A, KEY_B] = ['upload-key-of-client-a-0123', 'upload-key-of-client-b-0123'];
const headers = (key: string) => ({ 'x-api-key': key, 'content-type': 'application/json' });

async function start(body: unknown, key = KEY_A, fn = createUploadFn()) {
  const res = await fn(apiEvent({ body: JSON.stringify(body), headers: headers(key), path: '/enrichment/uploads' }));
  return { statusCode: res.statusCode, json: JSON.parse(res.body) };
}
async function complete(uploadId: string, body: unknown, key = KEY_A) {
  const res = await completeUploadFn()(
    apiEvent({
      body: JSON.stringify(body),
      headers: headers(key),
      pathParameters: { uploadId: encodeURIComponent(uploadId) },
    }),
  );
  return { statusCode: res.statusCode, json: JSON.parse(res.body) };
}
/** A part PUT as a client with no AWS credentials makes it: plain fetch of the presigned URL. */
async function putPart(url: string, bytes: Buffer) {
  const res = await fetch(url, { method: 'PUT', body: bytes });
  return { status: res.status, etag: res.headers.get('etag') ?? '', text: await res.text() };
}

/** Direct uploads through the real emulators and the IAM edge: the part URLs are signed by the createUpload function. */
describe('direct uploads (fauxqs behind the local IAM edge)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(() => service.close());

  it('create, PUT every part without credentials, complete: the object holds exactly the bytes sent', async () => {
    const file = randomBytes(PART_SIZE * 2 + 12_345);
    const up = await start({ size: file.length, format: 'ndjson', filename: 'contacts.ndjson' });
    expect(up.statusCode).toBe(201);
    expect(up.json.key).toMatch(new RegExp(`^${uploadPrefixOf(ownerIdOf(KEY_A))}[0-9a-f-]{36}\\.ndjson$`));
    expect(up.json.reference).toBe(`s3://${service.bucket}/${up.json.key}`);
    expect(up.json.parts).toHaveLength(3);
    const parts = await Promise.all(
      up.json.parts.map(async (p: { partNumber: number; url: string }) => {
        const put = await putPart(p.url, file.subarray((p.partNumber - 1) * PART_SIZE, p.partNumber * PART_SIZE));
        expect(put.status).toBe(200);
        return { partNumber: p.partNumber, etag: put.etag };
      }),
    );
    // Another key cannot complete it: 404, as for an upload that does not exist; the upload is untouched.
    const stranger = await complete(up.json.uploadId, { key: up.json.key, parts }, KEY_B);
    expect([stranger.statusCode, stranger.json.message]).toEqual([
      404,
      `No upload ${up.json.uploadId} at ${up.json.key} for your API key`,
    ]);

    const done = await complete(up.json.uploadId, { key: up.json.key, parts });
    expect(done).toEqual({ statusCode: 200, json: { reference: up.json.reference, size: file.length } });
    const object = await service.s3.send(new GetObjectCommand({ Bucket: service.bucket, Key: up.json.key }));
    expect(object.ContentType).toBe('application/x-ndjson');
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(file)).toBe(true);

    // A part URL of an upload already completed no longer writes anything.
    expect((await putPart(up.json.parts[0].url, Buffer.from('late'))).status).toBe(404);
  });

  it('a size over MAX_UPLOAD_BYTES (or not positive) is a 400 naming the maximum, and starts nothing', async () => {
    const over = await start({ size: 2_147_483_649 });
    expect(over.statusCode).toBe(400);
    expect(over.json.errors).toEqual([
      { path: 'size', message: expect.stringContaining('over the maximum of 2147483648 bytes') },
    ]);
    expect((await start({ size: 0 })).statusCode).toBe(400);
  });

  it('a completed object bigger than the maximum is deleted and answered 400 (the declared size is only a promise)', async () => {
    // The client declares 10 bytes under a 10-byte cap, then PUTs more: only the completed object's size counts.
    const up = await start({ size: 10, format: 'csv' }, KEY_A, createUploadFn({ maxBytes: 10 }));
    const put = await putPart(up.json.parts[0].url, Buffer.from('first_name,last_name,company_domain\n'));
    const res = await completeUploadFn({ maxBytes: 10 })(
      apiEvent({
        body: JSON.stringify({ key: up.json.key, parts: [{ partNumber: 1, etag: put.etag }] }),
        headers: headers(KEY_A),
        pathParameters: { uploadId: up.json.uploadId },
      }),
    );
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).errors).toEqual([
      {
        path: 'size',
        message: expect.stringContaining('The upload is 36 bytes (0.0 MiB), over the maximum of 10 bytes'),
      },
    ]);
    await expect(
      service.s3.send(new HeadObjectCommand({ Bucket: service.bucket, Key: up.json.key })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('a part URL stops working when it expires (403, as S3 answers)', async () => {
    const up = await start({ size: 5, format: 'json' }, KEY_A, createUploadFn({ urlTtlSeconds: 1 }));
    await new Promise((r) => setTimeout(r, 2_100));
    const put = await putPart(up.json.parts[0].url, Buffer.from('{"a"}'));
    expect(put.status).toBe(403);
    expect(put.text).toContain('Request has expired');
  });
});
