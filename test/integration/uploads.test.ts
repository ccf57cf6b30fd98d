import { randomBytes } from 'node:crypto';
import { AbortMultipartUploadCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
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

  /** Starts an upload of `size` declared bytes and PUTs the given parts of `file` (by part number). */
  async function startAndPut(size: number, file: Buffer, partNumbers: number[], key = KEY_A) {
    const up = await start({ size, format: 'csv' }, key);
    expect(up.statusCode).toBe(201);
    const parts = [];
    for (const n of partNumbers) {
      const put = await putPart(up.json.parts[n - 1].url, file.subarray((n - 1) * PART_SIZE, n * PART_SIZE));
      expect(put.status).toBe(200);
      parts.push({ partNumber: n, etag: put.etag });
    }
    return { up: up.json, parts };
  }
  const head = (key: string) => service.s3.send(new HeadObjectCommand({ Bucket: service.bucket, Key: key }));
  const notThere = { $metadata: { httpStatusCode: 404 } };

  it('a spliced upload (parts 1 and 3 of 3) is a 400 naming the missing part before anything is assembled; the upload stays open', async () => {
    const file = randomBytes(PART_SIZE * 2 + 12_345);
    const { up, parts } = await startAndPut(file.length, file, [1, 3]);
    const spliced = await complete(up.uploadId, { key: up.key, parts });
    expect(spliced.statusCode).toBe(400);
    expect(spliced.json.errors).toEqual([
      { path: 'parts', message: 'parts must be 1..3, each once: part 2 is missing' },
    ]);
    await expect(head(up.key)).rejects.toMatchObject(notThere);
    // The client puts the missing part and completes again: the upload was left open for it.
    const put = await putPart(up.parts[1].url, file.subarray(PART_SIZE, 2 * PART_SIZE));
    const all = [parts[0], { partNumber: 2, etag: put.etag }, parts[1]];
    const done = await complete(up.uploadId, { key: up.key, parts: all });
    expect(done).toEqual({ statusCode: 200, json: { reference: up.reference, size: file.length } });
  });

  it('a part the upload was not given (part 4 of 3) is a 400 naming it', async () => {
    const file = randomBytes(PART_SIZE * 2 + 12_345);
    const { up, parts } = await startAndPut(file.length, file, [1, 2, 3]);
    const extra = await complete(up.uploadId, { key: up.key, parts: [...parts, { partNumber: 4, etag: '"x"' }] });
    expect(extra.statusCode).toBe(400);
    expect(extra.json.errors).toEqual([
      { path: 'parts', message: 'parts must be 1..3, each once: part 4 is not one of them' },
    ]);
    await expect(head(up.key)).rejects.toMatchObject(notThere);
  });

  it('an upload of another size than declared (one 9 MiB part for 100 B, or fewer bytes) is deleted and answered 400', async () => {
    const { json: up } = await start({ size: 100, format: 'csv' });
    const put = await putPart(up.parts[0].url, randomBytes(9 * 1024 * 1024));
    expect(put.status).toBe(200);
    const res = await complete(up.uploadId, { key: up.key, parts: [{ partNumber: 1, etag: put.etag }] });
    expect(res.statusCode).toBe(400);
    expect(res.json.errors).toEqual([
      { path: 'size', message: 'the upload holds 9,437,184 bytes but 100 were declared' },
    ]);
    await expect(head(up.key)).rejects.toMatchObject(notThere);

    const short = await startAndPut(1_000, randomBytes(10), [1]);
    const res2 = await complete(short.up.uploadId, { key: short.up.key, parts: short.parts });
    expect(res2.statusCode).toBe(400);
    expect(res2.json.errors).toEqual([{ path: 'size', message: 'the upload holds 10 bytes but 1,000 were declared' }]);
    await expect(head(short.up.key)).rejects.toMatchObject(notThere);
    // A retry gets the same answer: the upload is over, nothing is assembled again.
    expect(await complete(short.up.uploadId, { key: short.up.key, parts: short.parts })).toEqual(res2);
  });

  it("key B cannot complete A's upload with its own key and A's upload id (404, nothing touched); A still can", async () => {
    const file = randomBytes(1_000);
    const a = await startAndPut(file.length, file, [1], KEY_A);
    const b = await start({ size: 10, format: 'csv' }, KEY_B);
    const stolen = await complete(a.up.uploadId, { key: b.json.key, parts: a.parts }, KEY_B);
    expect([stolen.statusCode, stolen.json.message]).toEqual([
      404,
      `No upload ${a.up.uploadId} at ${b.json.key} for your API key`,
    ]);
    await expect(head(a.up.key)).rejects.toMatchObject(notThere);
    await expect(head(b.json.key)).rejects.toMatchObject(notThere);
    // A's own key with another of A's keys is as unknown: the upload id is bound to the key it was started at.
    const a2 = await start({ size: 10, format: 'csv' }, KEY_A);
    expect((await complete(a.up.uploadId, { key: a2.json.key, parts: a.parts })).statusCode).toBe(404);

    const done = await complete(a.up.uploadId, { key: a.up.key, parts: a.parts });
    expect(done).toEqual({ statusCode: 200, json: { reference: a.up.reference, size: 1_000 } });
    const object = await service.s3.send(new GetObjectCommand({ Bucket: service.bucket, Key: a.up.key }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(file)).toBe(true);
  });

  it('a retry of a completed upload answers 200 with the same reference; two concurrent completes both answer it', async () => {
    const file = randomBytes(PART_SIZE + 7);
    const { up, parts } = await startAndPut(file.length, file, [1, 2]);
    const both = await Promise.all([
      complete(up.uploadId, { key: up.key, parts }),
      complete(up.uploadId, { key: up.key, parts }),
    ]);
    const ok = { statusCode: 200, json: { reference: up.reference, size: file.length } };
    expect(both).toEqual([ok, ok]);
    expect(await complete(up.uploadId, { key: up.key, parts })).toEqual(ok);
  });

  it("an upload S3 no longer has (aborted by the bucket's lifecycle rule) is a 404", async () => {
    const { up, parts } = await startAndPut(10, randomBytes(10), [1]);
    await service.s3.send(
      new AbortMultipartUploadCommand({ Bucket: service.bucket, Key: up.key, UploadId: up.uploadId }),
    );
    const res = await complete(up.uploadId, { key: up.key, parts });
    expect([res.statusCode, res.json.message]).toEqual([404, `No upload ${up.uploadId} at ${up.key} for your API key`]);
  });

  it('a part URL stops working when it expires (403, as S3 answers)', async () => {
    const up = await start({ size: 5, format: 'json' }, KEY_A, createUploadFn({ urlTtlSeconds: 1 }));
    await new Promise((r) => setTimeout(r, 2_100));
    const put = await putPart(up.json.parts[0].url, Buffer.from('{"a"}'));
    expect(put.status).toBe(403);
    expect(put.text).toContain('Request has expired');
  });
});
