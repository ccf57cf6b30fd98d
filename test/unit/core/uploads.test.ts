import { ownerIdOf, uploadPrefixOf } from '../../../src/core/owner';
import type { UploadRecord, UploadRecords, UploadStore, UploadedPart } from '../../../src/core/ports';
import { CLAIM_STALE_MS, completeUpload, createUpload, PART_SIZE, type UploadDeps } from '../../../src/core/uploads';

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

const NOW = new Date('2026-11-29T12:00:00Z');

/** In-memory upload records with the adapter's conditions (src/adapters/uploadRecords.ts). */
function fakeRecords(initial: UploadRecord[] = []) {
  const items = new Map(initial.map((r) => [r.uploadId, { ...r }]));
  const writes: string[] = [];
  const records: UploadRecords = {
    create: async (record) => {
      if (items.has(record.uploadId)) throw new Error('exists');
      items.set(record.uploadId, { ...record });
      writes.push(`create ${record.uploadId}`);
    },
    get: async (uploadId) => {
      const r = items.get(uploadId);
      return r && { ...r };
    },
    claim: async (uploadId, now, staleBefore) => {
      const r = items.get(uploadId);
      const free = r?.state === 'open' || (r?.state === 'completing' && r.claimedAt! < staleBefore);
      if (!r || !free) return false;
      Object.assign(r, { state: 'completing', claimedAt: now });
      writes.push(`claim ${uploadId}`);
      return true;
    },
    release: async (uploadId, claimedAt) => {
      const r = items.get(uploadId);
      if (r?.state !== 'completing' || r.claimedAt !== claimedAt) return;
      r.state = 'open';
      writes.push(`release ${uploadId}`);
    },
    finish: async (uploadId, claimedAt, outcome) => {
      const r = items.get(uploadId);
      if (r?.state !== 'completing' || r.claimedAt !== claimedAt) return false;
      Object.assign(r, outcome);
      writes.push(`${outcome.state} ${uploadId}`);
      return true;
    },
  };
  return { records, items, writes };
}

const deps = (
  uploads: UploadStore,
  owner: string | undefined = OWNER,
  records: UploadRecords = fakeRecords().records,
): UploadDeps => ({
  uploads,
  records,
  clock: { now: () => NOW },
  owner,
  maxBytes: MAX,
  urlTtlSeconds: 3600,
  ttlDays: 30,
  completeWaitMs: 1_000,
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

describe('createUpload records the upload', () => {
  it('writes its record (open) with key, owner, declared size, part count, format and a TTL', async () => {
    const f = fakeUploads();
    const r = fakeRecords();
    const up = await createUpload({ size: 2 * PART_SIZE + 5, format: 'ndjson' }, deps(f.store, OWNER, r.records));
    expect(r.items.get('up-1')).toEqual({
      uploadId: 'up-1',
      key: up.key,
      owner: OWNER,
      size: 2 * PART_SIZE + 5,
      parts: 3,
      format: 'ndjson',
      createdAt: '2026-11-29T12:00:00.000Z',
      expiresAt: NOW.getTime() / 1000 + 30 * 86_400,
      state: 'open',
    });
  });
});

describe('completeUpload', () => {
  const key = `${uploadPrefixOf(OWNER)}0b6c3f0e-6a57-4a1b-9d7f-2f1f7c1a9e11.json`;
  const parts = [
    { partNumber: 1, etag: '"a"' },
    { partNumber: 2, etag: '"b"' },
  ];
  const SIZE = PART_SIZE + 1234;
  /** The record createUpload wrote for a 2-part upload of SIZE bytes at `key`. */
  const record = (overrides: Partial<UploadRecord> = {}): UploadRecord => ({
    uploadId: 'up-1',
    key,
    owner: OWNER,
    size: SIZE,
    parts: 2,
    format: 'json',
    createdAt: '2026-11-29T11:00:00.000Z',
    expiresAt: 1_800_000_000,
    state: 'open',
    ...overrides,
  });
  const withRecord = (uploads: UploadStore, overrides: Partial<UploadRecord> = {}, owner = OWNER) => {
    const r = fakeRecords([record(overrides)]);
    return { ...r, deps: deps(uploads, owner, r.records) };
  };

  it("completes the caller's upload, answers its reference and size, and marks its record completed", async () => {
    const f = fakeUploads({ size: SIZE });
    const r = withRecord(f.store);
    expect(await completeUpload('up-1', { key, parts }, r.deps)).toEqual({ reference: `s3://bkt/${key}`, size: SIZE });
    expect(f.completed).toEqual([{ key, uploadId: 'up-1', parts }]);
    expect(r.items.get('up-1')).toMatchObject({ state: 'completed', claimedAt: NOW.toISOString() });
  });

  it("another key's upload, an upload without a record, or one at another key is as unknown as a missing one (404), and S3 is not asked", async () => {
    const f = fakeUploads({ size: SIZE });
    const other = ownerIdOf('key-b');
    const otherKey = `${uploadPrefixOf(OWNER)}11111111-6a57-4a1b-9d7f-2f1f7c1a9e11.json`;
    const cases: Array<[string, unknown, UploadDeps]> = [
      ['up-1', { key, parts }, withRecord(f.store, {}, other).deps],
      // B's own key with A's upload id: the record binds the id to A's key and owner.
      ['up-1', { key: `${uploadPrefixOf(other)}${key.split('/').at(-1)}`, parts }, withRecord(f.store, {}, other).deps],
      ['up-1', { key: otherKey, parts }, withRecord(f.store).deps],
      ['up-2', { key, parts }, withRecord(f.store).deps],
      ['up-1', { key: 'uploads/../x.json', parts }, withRecord(f.store).deps],
      // A stage without API keys: an upload made with a key is not the keyless caller's.
      ['up-1', { key: `uploads/${key.split('/').at(-1)}`, parts }, { ...withRecord(f.store).deps, owner: undefined }],
    ];
    for (const [id, body, d] of cases) {
      await expect(completeUpload(id, body, d)).rejects.toMatchObject({
        kind: 'not_found',
        message: `No upload ${id} at ${(body as { key: string }).key} for your API key`,
      });
    }
    expect(f.completed).toEqual([]);
  });

  it('an upload S3 no longer has (aborted) is a 404, and its record is handed back (open)', async () => {
    const missing = fakeUploads({ complete: { ok: false, reason: 'missing', message: 'no such upload' } });
    const r = withRecord(missing.store);
    await expect(completeUpload('up-1', { key, parts }, r.deps)).rejects.toMatchObject({ kind: 'not_found' });
    expect(r.items.get('up-1')?.state).toBe('open');
  });

  it('S3 answering "no such upload" for an upload it assembled (an earlier complete that stopped) goes on with the object', async () => {
    const f = fakeUploads({ size: SIZE, complete: { ok: false, reason: 'missing', message: 'no such upload' } });
    const r = withRecord(f.store, {
      state: 'completing',
      claimedAt: new Date(NOW.getTime() - CLAIM_STALE_MS - 1).toISOString(),
    });
    expect(await completeUpload('up-1', { key, parts }, r.deps)).toEqual({ reference: `s3://bkt/${key}`, size: SIZE });
    expect(r.items.get('up-1')?.state).toBe('completed');
  });

  it('a completed object over the maximum is deleted and answered 400', async () => {
    const f = fakeUploads({ size: MAX + 1 });
    const r = withRecord(f.store);
    await expect(completeUpload('up-1', { key, parts }, r.deps)).rejects.toMatchObject({
      kind: 'invalid_request',
      errors: [expect.objectContaining({ path: 'size' })],
    });
    expect(f.deleted).toEqual([key]);
    expect(r.items.get('up-1')?.state).toBe('rejected');
  });

  it.each([
    [SIZE + 1, 'the upload holds 8,389,843 bytes but 8,389,842 were declared'],
    [SIZE - 1, 'the upload holds 8,389,841 bytes but 8,389,842 were declared'],
  ])(
    'a completed object of %p bytes (not the declared size) is deleted and answered 400; a retry gets the same 400',
    async (size, message) => {
      const f = fakeUploads({ size });
      const r = withRecord(f.store);
      const expected = { kind: 'invalid_request', errors: [{ path: 'size', message }] };
      await expect(completeUpload('up-1', { key, parts }, r.deps)).rejects.toMatchObject(expected);
      expect(f.deleted).toEqual([key]);
      expect(r.items.get('up-1')).toMatchObject({ state: 'rejected', errors: expected.errors });
      await expect(completeUpload('up-1', { key, parts }, r.deps)).rejects.toMatchObject(expected);
      expect(f.completed).toHaveLength(1);
    },
  );

  it.each([
    [[1, 3], 3, 'parts must be 1..3, each once: part 2 is missing'],
    [[1], 3, 'parts must be 1..3, each once: parts 2 and 3 are missing'],
    [[1, 2, 3, 4], 3, 'parts must be 1..3, each once: part 4 is not one of them'],
    [[2, 4, 5], 3, 'parts must be 1..3, each once: parts 1 and 3 are missing; parts 4 and 5 are not among them'],
    [[2], 1, 'parts must be part 1 alone: part 1 is missing; part 2 is not one of them'],
    [[1, 2], 1, 'parts must be part 1 alone: part 2 is not one of them'],
    [[10], 9, 'parts must be 1..9, each once: parts 1, 2, 3, 4, 5 and 4 more are missing; part 10 is not one of them'],
  ])(
    'parts %p of an upload of %p parts are a 400 before S3 is asked, and the upload stays open',
    async (numbers, count, message) => {
      const f = fakeUploads({ size: 1 });
      const r = withRecord(f.store, { parts: count });
      const given = numbers.map((n) => ({ partNumber: n, etag: `"${n}"` }));
      await expect(completeUpload('up-1', { key, parts: given }, r.deps)).rejects.toMatchObject({
        kind: 'invalid_request',
        errors: [{ path: 'parts', message }],
      });
      expect(f.completed).toEqual([]);
      expect(r.writes).toEqual([]);
    },
  );

  it('parts S3 refuses are a 400 and the upload stays open; parts out of order are a 400', async () => {
    const f = fakeUploads({
      complete: { ok: false, reason: 'invalid', message: 'S3 refused the parts (InvalidPart)' },
    });
    const r = withRecord(f.store);
    await expect(completeUpload('up-1', { key, parts }, r.deps)).rejects.toMatchObject({
      kind: 'invalid_request',
      errors: [{ path: 'parts', message: 'S3 refused the parts (InvalidPart)' }],
    });
    expect(r.items.get('up-1')?.state).toBe('open');
    const g = fakeUploads({ size: 1 });
    await expect(
      completeUpload('up-1', { key, parts: [...parts].reverse() }, withRecord(g.store).deps),
    ).rejects.toMatchObject({
      kind: 'invalid_request',
    });
    expect(g.completed).toEqual([]);
  });

  it('a failure while completing hands the record back, so that a retry can complete it', async () => {
    const f = fakeUploads({ size: SIZE });
    const r = withRecord(f.store);
    const broken = { ...f.store, complete: async () => Promise.reject(new Error('S3 is down')) };
    await expect(completeUpload('up-1', { key, parts }, { ...r.deps, uploads: broken })).rejects.toThrow('S3 is down');
    expect(r.items.get('up-1')?.state).toBe('open');
    expect(await completeUpload('up-1', { key, parts }, r.deps)).toEqual({ reference: `s3://bkt/${key}`, size: SIZE });
  });

  it('a retry of a completed upload answers the same while the object has the declared size, else 404; S3 completes nothing again', async () => {
    const f = fakeUploads({ size: SIZE });
    const r = withRecord(f.store, { state: 'completed', claimedAt: '2026-11-29T11:30:00.000Z' });
    expect(await completeUpload('up-1', { key, parts }, r.deps)).toEqual({ reference: `s3://bkt/${key}`, size: SIZE });
    const gone = fakeUploads({ size: undefined });
    await expect(completeUpload('up-1', { key, parts }, { ...r.deps, uploads: gone.store })).rejects.toMatchObject({
      kind: 'not_found',
    });
    expect([...f.completed, ...gone.completed]).toEqual([]);
  });

  it('two concurrent completes: one assembles, the other waits for its outcome and answers the same', async () => {
    const waiting: Array<() => void> = [];
    const finishS3 = () => {
      for (const resolve of waiting) resolve();
    };
    const f = fakeUploads({ size: SIZE });
    const slow = {
      ...f.store,
      complete: async (k: string, id: string, p: UploadedPart[]) => {
        await new Promise<void>((resolve) => waiting.push(resolve));
        return f.store.complete(k, id, p);
      },
    };
    const r = withRecord(slow);
    const first = completeUpload('up-1', { key, parts }, r.deps);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = completeUpload('up-1', { key, parts }, r.deps);
    await new Promise((resolve) => setTimeout(resolve, 250));
    finishS3();
    const ok = { reference: `s3://bkt/${key}`, size: SIZE };
    expect(await Promise.all([first, second])).toEqual([ok, ok]);
    expect(f.completed).toHaveLength(1);
  });

  it('a complete still running past the wait is answered 409; a claim older than any function runs is taken over', async () => {
    const f = fakeUploads({ size: SIZE });
    const fresh = withRecord(f.store, { state: 'completing', claimedAt: NOW.toISOString() });
    await expect(completeUpload('up-1', { key, parts }, { ...fresh.deps, completeWaitMs: 300 })).rejects.toMatchObject({
      kind: 'duplicate_in_progress',
      message: expect.stringContaining('being completed by another call'),
    });
    expect(f.completed).toEqual([]);
    const stale = withRecord(f.store, {
      state: 'completing',
      claimedAt: new Date(NOW.getTime() - CLAIM_STALE_MS - 1).toISOString(),
    });
    expect(await completeUpload('up-1', { key, parts }, stale.deps)).toEqual({
      reference: `s3://bkt/${key}`,
      size: SIZE,
    });
    expect(f.completed).toHaveLength(1);
  });
});
