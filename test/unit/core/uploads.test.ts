import { ownerIdOf, uploadPrefixOf } from '../../../src/core/owner';
import type { UploadStore, UploadedPart } from '../../../src/core/ports';
import { completeUpload, createUpload, PART_SIZE, type UploadDeps } from '../../../src/core/uploads';

const OWNER = ownerIdOf('key-a');
const MAX = 2_147_483_648;

/** An in-memory UploadStore: what was started, completed and deleted. */
function fakeUploads(opts: { size?: number; complete?: Awaited<ReturnType<UploadStore['complete']>> } = {}) {
  const started: Array<{ key: string; contentType: string }> = [];
  const completed: Array<{ key: string; uploadId: string; parts: UploadedPart[] }> = [];
  const deleted: string[] = [];
  const store: UploadStore = {
    bucket: 'bkt',
    start: async (key, contentType) => {
      started.push({ key, contentType });
      return 'up-1';
    },
    presignPart: async (key, uploadId, n, ttl) =>
      `https://s3.test/bkt/${key}?uploadId=${uploadId}&partNumber=${n}&X-Amz-Expires=${ttl}`,
    complete: async (key, uploadId, parts) => {
      completed.push({ key, uploadId, parts });
      return opts.complete ?? { ok: true };
    },
    size: async () => opts.size,
    delete: async (key) => {
      deleted.push(key);
    },
  };
  return { store, started, completed, deleted };
}

const deps = (uploads: UploadStore, owner: string | undefined = OWNER): UploadDeps => ({
  uploads,
  clock: { now: () => new Date('2026-11-29T12:00:00Z') },
  owner,
  maxBytes: MAX,
  urlTtlSeconds: 3600,
});

describe('createUpload', () => {
  it("starts a multipart upload under the caller's prefix and presigns one URL per 8 MiB part", async () => {
    const f = fakeUploads();
    const size = 3 * PART_SIZE + 1;
    const up = await createUpload({ size, format: 'csv', filename: 'x.csv' }, deps(f.store));
    expect(up.key).toMatch(new RegExp(`^${uploadPrefixOf(OWNER)}[0-9a-f-]{36}\\.csv$`));
    expect(f.started).toEqual([{ key: up.key, contentType: 'text/csv' }]);
    expect(up).toMatchObject({
      uploadId: 'up-1',
      reference: `s3://bkt/${up.key}`,
      partSize: 8 * 1024 * 1024,
      expiresAt: '2026-11-29T13:00:00.000Z',
    });
    expect(up.parts.map((p) => p.partNumber)).toEqual([1, 2, 3, 4]);
    expect(up.parts[3].url).toContain('partNumber=4');
  });

  it("defaults to JSON; the maximum size is one 2 GB upload of 256 parts, within S3's 10,000", async () => {
    const f = fakeUploads();
    const up = await createUpload({ size: MAX }, deps(f.store));
    expect(f.started[0].contentType).toBe('application/json');
    expect(up.key.endsWith('.json')).toBe(true);
    expect(up.parts).toHaveLength(256);
  });

  it.each([
    [{ size: MAX + 1 }, 'size', /over the maximum of 2147483648 bytes/],
    [{ size: 0 }, 'size', /positive/],
    [{ size: -5 }, 'size', /positive/],
    [{ size: 1.5 }, 'size', /whole number/],
    [{ size: '10' }, 'size', /number of bytes/],
    [{ size: 10, format: 'xml' }, 'format', /json, ndjson, csv/],
  ])('answers 400 for %p without starting anything', async (body, path, message) => {
    const f = fakeUploads();
    await expect(createUpload(body, deps(f.store))).rejects.toMatchObject({
      kind: 'invalid_request',
      errors: [expect.objectContaining({ path, message: expect.stringMatching(message) })],
    });
    expect(f.started).toEqual([]);
  });
});

describe('completeUpload', () => {
  const key = `${uploadPrefixOf(OWNER)}0b6c3f0e-6a57-4a1b-9d7f-2f1f7c1a9e11.json`;
  const parts = [
    { partNumber: 1, etag: '"a"' },
    { partNumber: 2, etag: '"b"' },
  ];

  it("completes the caller's upload and answers its reference and size", async () => {
    const f = fakeUploads({ size: 1234 });
    expect(await completeUpload('up-1', { key, parts }, deps(f.store))).toEqual({
      reference: `s3://bkt/${key}`,
      size: 1234,
    });
    expect(f.completed).toEqual([{ key, uploadId: 'up-1', parts }]);
  });

  it("another key's upload is as unknown as a missing one (404), and nothing is completed", async () => {
    const f = fakeUploads({ size: 1 });
    await expect(completeUpload('up-1', { key, parts }, deps(f.store, ownerIdOf('key-b')))).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(completeUpload('up-1', { key: 'uploads/../x.json', parts }, deps(f.store))).rejects.toMatchObject({
      kind: 'not_found',
    });
    expect(f.completed).toEqual([]);
    const missing = fakeUploads({ complete: { ok: false, reason: 'missing', message: 'no such upload' } });
    await expect(completeUpload('up-1', { key, parts }, deps(missing.store))).rejects.toMatchObject({
      kind: 'not_found',
    });
  });

  it('a completed object over the maximum is deleted and answered 400', async () => {
    const f = fakeUploads({ size: MAX + 1 });
    await expect(completeUpload('up-1', { key, parts }, deps(f.store))).rejects.toMatchObject({
      kind: 'invalid_request',
      errors: [expect.objectContaining({ path: 'size' })],
    });
    expect(f.deleted).toEqual([key]);
  });

  it('parts S3 refuses, or parts out of order, are a 400', async () => {
    const f = fakeUploads({
      complete: { ok: false, reason: 'invalid', message: 'S3 refused the parts (InvalidPart)' },
    });
    await expect(completeUpload('up-1', { key, parts }, deps(f.store))).rejects.toMatchObject({
      kind: 'invalid_request',
      errors: [{ path: 'parts', message: 'S3 refused the parts (InvalidPart)' }],
    });
    const g = fakeUploads({ size: 1 });
    await expect(completeUpload('up-1', { key, parts: [...parts].reverse() }, deps(g.store))).rejects.toMatchObject({
      kind: 'invalid_request',
    });
    expect(g.completed).toEqual([]);
  });
});
