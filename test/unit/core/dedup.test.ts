import { createHash } from 'node:crypto';
import { createEnrichment, type CreateDeps } from '../../../src/core/createEnrichment';
import { canonicalJson, DEDUP_CLAIM_LEASE_MS, DEDUP_WAIT_MS, dedupKey, requestHash } from '../../../src/core/dedup';
import { EnrichmentError, ValidationError } from '../../../src/core/errors';
import { ServerlessConfig } from '../../../src/local/serverlessConfig';
import type { Contact } from '../../../src/schemas/contact';
import {
  ManualClock,
  MemoryObjectStore,
  MemoryQueue,
  MemoryStatusStore,
  recordingLogger,
  type Journal,
} from '../../support/fakes';
import { makeContacts } from '../../support/factories';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const FIELDS = ['professional_email', 'job_title'] as const;

describe('canonical JSON and the request hash', () => {
  it('sorts keys at every depth: nested key order does not matter', () => {
    const a = { b: 1, a: { y: [1, { q: 'x', p: null }], x: 'é😀' } };
    const b = { a: { x: 'é😀', y: [1, { p: null, q: 'x' }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"x":"é😀","y":[1,{"p":null,"q":"x"}]},"b":1}');
  });

  it("any nested difference, value or key, gives another text (where the public design's replacer array hashes alike)", () => {
    const one = { first_name: 'A', last_name: 'B', company_domain: 'a.com', crm: { id: '1' } };
    const two = { first_name: 'A', last_name: 'B', company_domain: 'a.com', crm: { id: '2' } };
    const three = { first_name: 'A', last_name: 'B', company_domain: 'a.com', crm: { ID: '1' } };
    // JSON.stringify(obj, Object.keys(obj).sort()) keeps only top-level names at every depth: crm becomes {}.
    const publicDesign = (o: Record<string, unknown>) => JSON.stringify(o, Object.keys(o).sort());
    expect(publicDesign(one)).toBe(publicDesign(two));
    expect(canonicalJson(one)).not.toBe(canonicalJson(two));
    expect(canonicalJson(one)).not.toBe(canonicalJson(three));
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('hashes contact by contact to the SHA-256 of the whole canonical document; field order does not count, contact order does', () => {
    const contacts: Contact[] = makeContacts(3, { extra: (i) => ({ tags: { z: i, a: [i] } }) });
    const whole = sha256(canonicalJson({ contacts, fields_to_enrich: ['job_title', 'professional_email'] }));
    expect(requestHash(contacts, ['professional_email', 'job_title'])).toBe(whole);
    expect(requestHash(contacts, ['job_title', 'professional_email'])).toBe(whole);
    expect(requestHash([...contacts].reverse(), ['job_title', 'professional_email'])).not.toBe(whole);
    expect(requestHash(contacts, ['job_title'])).not.toBe(whole);
  });

  it('scopes the key by caller, and by Idempotency-Key instead of the body when one is sent', () => {
    const body = requestHash(makeContacts(2), ['job_title']);
    expect(dedupKey('caller-a', body)).toMatch(/^dedup#[0-9a-f]{64}$/);
    expect(dedupKey('caller-a', body)).not.toBe(dedupKey('caller-b', body));
    expect(dedupKey('caller-a', body, 'k1')).toBe(dedupKey('caller-a', 'another body', 'k1'));
    expect(dedupKey('caller-a', body, 'k1')).not.toBe(dedupKey('caller-b', body, 'k1'));
    expect(dedupKey('caller-a', body, 'k1')).not.toBe(dedupKey('caller-a', body));
  });

  it('trusts a claim longer than the create function can run (serverless.yml), and waits for one less long than API Gateway', () => {
    const sls = new ServerlessConfig({ stage: 'local', region: 'us-east-1', env: {} });
    expect(DEDUP_CLAIM_LEASE_MS).toBeGreaterThan(sls.functionTimeoutSeconds('createEnrichment') * 1000);
    expect(DEDUP_WAIT_MS).toBeLessThan(sls.functionTimeoutSeconds('createEnrichment') * 1000);
  });
});

let ids = 0;
function setup(overrides: Partial<CreateDeps> = {}) {
  const journal: Journal = [];
  const store = new MemoryObjectStore(journal);
  const status = new MemoryStatusStore(journal);
  const queue = new MemoryQueue(journal);
  const clock = new ManualClock(new Date('2024-05-01T12:00:00.000Z'));
  const deps: CreateDeps = {
    store,
    status,
    queue,
    clock,
    log: recordingLogger(),
    bucket: 'unit-bucket',
    batchSize: 100,
    deadlineSeconds: 3600,
    ttlDays: 30,
    newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}`,
    // Waiting moves the manual clock instead of time.
    sleep: async (ms) => clock.advance(ms),
    ...overrides,
  };
  return { deps, store, status, queue, clock, journal };
}

const body = (n = 250, extra?: (i: number) => Record<string, unknown>) => ({
  contacts: makeContacts(n, { extra }),
  fields_to_enrich: [...FIELDS],
});

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('createEnrichment: the same request twice is one job', () => {
  it('answers a repeat with the original request and does nothing else: no write, no message', async () => {
    const { deps, store, status, queue, journal } = setup();
    const first = await createEnrichment(body(), deps, { callerHash: 'a' });
    expect(first.duplicate).toBeUndefined();
    const written = [...journal];
    const objects = store.objects.size;

    const again = await createEnrichment(body(), deps, { callerHash: 'a' });
    expect(again).toEqual({
      requestId: first.requestId,
      totalContacts: 250,
      totalBatches: 3,
      duplicate: { status: 'processing' },
    });
    expect(journal).toEqual(written);
    expect(store.objects.size).toBe(objects);
    expect(status.records.size).toBe(1);
    expect(queue.sent).toHaveLength(3);
  });

  it('takes nested key order in extra properties for the same request, and a different nested value for another', async () => {
    const { deps, status } = setup();
    const first = await createEnrichment(
      body(3, (i) => ({ crm: { id: i, owner: 'x' } })),
      deps,
    );
    const reordered = await createEnrichment(
      body(3, (i) => ({ crm: { owner: 'x', id: i } })),
      deps,
    );
    expect(reordered).toMatchObject({ requestId: first.requestId, duplicate: expect.anything() });
    const changed = await createEnrichment(
      body(3, (i) => ({ crm: { owner: 'y', id: i } })),
      deps,
    );
    expect(changed.requestId).not.toBe(first.requestId);
    expect(changed.duplicate).toBeUndefined();
    expect(status.records.size).toBe(2);
  });

  it('never dedups across callers', async () => {
    const { deps, status } = setup();
    const a = await createEnrichment(body(), deps, { callerHash: 'a' });
    const b = await createEnrichment(body(), deps, { callerHash: 'b' });
    expect(b.requestId).not.toBe(a.requestId);
    expect(b.duplicate).toBeUndefined();
    expect(status.records.size).toBe(2);
  });

  it('the same Idempotency-Key with a different body is a 422 that writes nothing; with the same body, a duplicate', async () => {
    const { deps, journal, queue } = setup();
    const first = await createEnrichment(body(), deps, { idempotencyKey: 'order-42' });
    const written = [...journal];
    const err = await rejectionOf(createEnrichment(body(251), deps, { idempotencyKey: 'order-42' }));
    expect(err).toBeInstanceOf(EnrichmentError);
    expect((err as EnrichmentError).kind).toBe('idempotency_key_reused'); // answered 422 (test/unit/handlers/http.test.ts)
    expect(journal).toEqual(written);
    expect(await createEnrichment(body(), deps, { idempotencyKey: 'order-42' })).toMatchObject({
      requestId: first.requestId,
      duplicate: expect.anything(),
    });
    // Another key for the same body is another request, as the client asked.
    expect((await createEnrichment(body(), deps, { idempotencyKey: 'order-43' })).duplicate).toBeUndefined();
    expect(queue.sent).toHaveLength(6);
  });

  it('"dedupe": false makes a second job; with an Idempotency-Key the key still guards retries', async () => {
    const { deps, status } = setup();
    const first = await createEnrichment(body(), deps);
    const second = await createEnrichment({ ...body(), dedupe: false }, deps);
    expect(second.requestId).not.toBe(first.requestId);
    expect(second.duplicate).toBeUndefined();
    expect(status.records.size).toBe(2);
    const keyed = await createEnrichment({ ...body(), dedupe: false }, deps, { idempotencyKey: 'k' });
    expect(await createEnrichment({ ...body(), dedupe: false }, deps, { idempotencyKey: 'k' })).toMatchObject({
      requestId: keyed.requestId,
      duplicate: expect.anything(),
    });
  });

  it.each([
    ['an empty Idempotency-Key', { idempotencyKey: '  ' }, {}, 'Idempotency-Key (header)'],
    ['one of 256 characters', { idempotencyKey: 'k'.repeat(256) }, {}, 'Idempotency-Key (header)'],
    ['one with a non-ASCII character', { idempotencyKey: 'clé' }, {}, 'Idempotency-Key (header)'],
    ['one with a control character', { idempotencyKey: 'a\u0001b' }, {}, 'Idempotency-Key (header)'],
    ['a dedupe that is not a boolean', {}, { dedupe: 'no' }, 'dedupe'],
  ])('answers 400 for %s and writes nothing', async (_name, caller, extra, path) => {
    const { deps, journal } = setup();
    const err = await rejectionOf(createEnrichment({ ...body(), ...extra }, deps, caller));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).errors.map((e) => e.path)).toContain(path);
    expect(journal).toEqual([]);
  });

  it('takes 255 printable ASCII characters as a key', async () => {
    const { deps } = setup();
    const key = ' !~'.repeat(85).trim().padEnd(255, 'x');
    expect((await createEnrichment(body(), deps, { idempotencyKey: key })).duplicate).toBeUndefined();
  });

  it('20 identical requests at once: one job, 19 duplicates of it', async () => {
    const { deps, status, queue } = setup();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => createEnrichment(body(), deps, { callerHash: 'a' })),
    );
    expect(new Set(results.map((r) => r.requestId)).size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(status.records.size).toBe(1);
    expect(queue.sent).toHaveLength(3);
  });

  it('a repeat after the result TTL is a new request', async () => {
    const { deps, clock } = setup({ ttlDays: 1 });
    const first = await createEnrichment(body(), deps);
    clock.advance(86_400_000 + 1_000);
    const later = await createEnrichment(body(), deps);
    expect(later.requestId).not.toBe(first.requestId);
    expect(later.duplicate).toBeUndefined();
  });
});

describe('createEnrichment: a claim whose request never got stored', () => {
  it('a failure after the claim releases it, so the retry is a new request, not a duplicate of nothing', async () => {
    const { deps, store, status } = setup();
    const upload = store.upload.bind(store);
    store.upload = async () => {
      throw new Error('S3 down');
    };
    await expect(createEnrichment(body(), deps)).rejects.toThrow('S3 down');
    expect(status.records.size).toBe(0);
    expect([...status.claims.values()]).toEqual([expect.objectContaining({ released: true })]);
    store.upload = upload;
    const retry = await createEnrichment(body(), deps);
    expect(retry.duplicate).toBeUndefined();
    await expect(status.get(retry.requestId)).resolves.toMatchObject({ status: 'processing' });
  });

  it('a fresh claim without a status item (its request is being stored) is waited for, then answered 409', async () => {
    const { deps, status, clock, journal } = setup({ dedupWaitMs: 2_000 });
    // A claim as a request that is still storing its input leaves it.
    const key = dedupKey('', requestHash(makeContacts(250), [...FIELDS]));
    status.claims.set(key, {
      key,
      requestId: 'holder',
      bodyHash: requestHash(makeContacts(250), [...FIELDS]),
      claimedAt: clock.now().toISOString(),
      expiresAt: 9e9,
    });
    const started = clock.now().getTime();
    const err = await rejectionOf(createEnrichment(body(), deps));
    expect(err).toBeInstanceOf(EnrichmentError);
    expect((err as EnrichmentError).kind).toBe('duplicate_in_progress');
    expect(clock.now().getTime() - started).toBeGreaterThanOrEqual(2_000);
    expect(journal).toEqual([]);
  });

  it('a claim older than the lease without a status item (its request crashed) is taken over: one new request', async () => {
    const { deps, status, clock } = setup({ dedupLeaseMs: 60_000 });
    const hash = requestHash(makeContacts(250), [...FIELDS]);
    const key = dedupKey('', hash);
    status.claims.set(key, {
      key,
      requestId: 'crashed',
      bodyHash: hash,
      claimedAt: clock.now().toISOString(),
      expiresAt: 9e9,
    });
    clock.advance(60_000);
    const results = await Promise.all([createEnrichment(body(), deps), createEnrichment(body(), deps)]);
    expect(new Set(results.map((r) => r.requestId)).size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(status.claims.get(key)?.requestId).toBe(results[0].requestId);
  });
});
