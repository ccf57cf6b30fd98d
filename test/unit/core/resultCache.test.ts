import * as dedup from '../../../src/core/dedup';
import { EnrichmentUnavailableError } from '../../../src/core/errors';
import { processBatch, type StoredProgress, type WorkerDeps } from '../../../src/core/processBatch';
import { cacheKey, scopeOf, type CacheSettings } from '../../../src/core/resultCache';
import { keys } from '../../../src/core/status';
import type { EnrichmentResult } from '../../../src/core/output';
import type { EnrichmentApi } from '../../../src/core/ports';
import { isPoisonContact, mockEnrichContact } from '../../../src/handlers/mockData';
import type { Contact, OutputRow } from '../../../src/schemas/contact';
import { makeContacts } from '../../support/factories';
import { FakeEnrichmentApi, MemoryResultCache } from '../../support/fakes';
import { CACHED_AT, expectedRows, expectOutput, summaryOf } from '../../support/output';
import { FIELDS, REQUEST_ID, seededRequest } from '../../support/workerHarness';

const SCOPE = scopeOf('owner', undefined);
const DAY = 86_400;

function settings(cache: MemoryResultCache, over: Partial<CacheSettings> = {}): CacheSettings {
  return { cache, ttlDays: 30, notFoundTtlDays: 7, scope: 'owner', ...over };
}

/** Puts the mock's answer for `contacts` in the cache, obtained at `cachedAt`, live for `days` (negative: expired). */
function seed(cache: MemoryResultCache, contacts: readonly Contact[], cachedAt: string, days = 30) {
  const expiresAt = Math.floor(Date.parse(cachedAt) / 1000) + days * DAY;
  for (const c of contacts) {
    const key = cacheKey(c, FIELDS, SCOPE);
    cache.items.set(key, { cacheKey: key, result: mockEnrichContact(c, FIELDS), cachedAt, expiresAt });
  }
}

/** The cache keys of `contacts`, sorted; and those the batch wrote, sorted. */
const keysOf = (contacts: readonly Contact[]) => contacts.map((c) => cacheKey(c, FIELDS, SCOPE)).sort();
const writtenKeys = (cache: MemoryResultCache) =>
  cache.writes
    .flat()
    .map((i) => i.cacheKey)
    .sort();

const batchRows = (h: Awaited<ReturnType<typeof seededRequest>>, index = 0) =>
  h.store.json<{ rows: OutputRow[] }>(keys.batch(REQUEST_ID, index))!.rows;

describe('cacheKey', () => {
  const ada = { first_name: 'Ada', last_name: 'Lovelace', company_domain: 'example.com' };

  it('is one key for one person: trimmed, case-folded, NFC; the field order and extra properties do not count', () => {
    const same = [
      { first_name: ' ADA ', last_name: 'lovelace', company_domain: 'Example.COM', crm_id: 'x' },
      { first_name: 'ada', last_name: 'LOVELACE ', company_domain: ' example.com' },
    ];
    for (const c of same)
      expect(cacheKey(c, ['job_title', 'personal_phone'], SCOPE)).toBe(
        cacheKey(ada, ['personal_phone', 'job_title'], SCOPE),
      );
    expect(cacheKey({ ...ada, first_name: 'Zoe\u0308' }, FIELDS, SCOPE)).toBe(
      cacheKey({ ...ada, first_name: 'Zoë' }, FIELDS, SCOPE),
    );
    expect(cacheKey(ada, FIELDS, SCOPE)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs by person, by field set and by scope', () => {
    const base = cacheKey(ada, FIELDS, SCOPE);
    expect(cacheKey({ ...ada, last_name: 'Byron' }, FIELDS, SCOPE)).not.toBe(base);
    expect(cacheKey({ ...ada, company_domain: 'example.org' }, FIELDS, SCOPE)).not.toBe(base);
    expect(cacheKey(ada, ['professional_email'], SCOPE)).not.toBe(base);
    expect(cacheKey(ada, FIELDS, scopeOf('owner', 'owner-a'))).not.toBe(
      cacheKey(ada, FIELDS, scopeOf('owner', 'owner-b')),
    );
    expect(cacheKey(ada, FIELDS, scopeOf('service', 'owner-a'))).toBe(
      cacheKey(ada, FIELDS, scopeOf('service', 'owner-b')),
    );
    expect(scopeOf('service', 'owner-a')).not.toBe(scopeOf('owner', 'owner-a'));
  });
});

describe('processBatch with the result cache', () => {
  const T0 = '2025-01-01T00:00:00.000Z';

  it('settles the cached contacts from the start: one read, only the misses go to the provider, then one write', async () => {
    const h = await seededRequest(100);
    const cache = new MemoryResultCache();
    seed(cache, h.contacts.slice(0, 50), T0, 3650);
    expect(await processBatch(h.messages[0], { ...h.worker(), cache: settings(cache) })).toBe('recorded');
    expect(cache.reads).toHaveLength(1);
    expect(cache.reads[0]).toHaveLength(100);
    expect(h.api.calls.flat()).toEqual(h.contacts.slice(50));
    const cached = new Set(Array.from({ length: 50 }, (_, i) => i));
    expectOutput(
      { requestId: REQUEST_ID, enriched_contacts: batchRows(h), summary: summaryOf(batchRows(h)) },
      expectedRows(h.contacts, FIELDS, new Map(), cached),
      { cachedWithin: [new Date(T0), new Date(T0)] },
    );
    expect(batchRows(h)[0].cachedAt).toBe(T0);
    expect(batchRows(h)[0]).not.toHaveProperty('cachedAt', CACHED_AT);
    // Written: the 50 results the provider gave, each once.
    expect(writtenKeys(cache)).toEqual(keysOf(h.contacts.slice(50)));
    expect(h.metrics.emit).toHaveBeenCalledWith('cacheHits', 50);
    expect(h.metrics.emit).toHaveBeenCalledWith('cacheMisses', 50);
  });

  it('keeps enriched results for cacheTtlDays and not-found ones for notFoundCacheTtlDays; never a per-contact error', async () => {
    const contacts = makeContacts(100);
    contacts[7] = { ...contacts[7], company_domain: 'bad7.invalid' };
    const h = await seededRequest(0, { contacts });
    // A per-contact error, as the mock answers a .invalid domain.
    const api: EnrichmentApi = {
      enrich: async (cs, fields): Promise<EnrichmentResult[]> =>
        cs.map((c) =>
          isPoisonContact(c) ? { enrichment_status: 'error' as const, error: 'no' } : mockEnrichContact(c, fields),
        ),
    };
    const cache = new MemoryResultCache();
    await processBatch(h.messages[0], {
      ...h.worker(),
      api,
      cache: settings(cache, { ttlDays: 30, notFoundTtlDays: 7 }),
    });
    const now = Math.floor(h.clock.now().getTime() / 1000);
    const written = new Map(cache.writes.flat().map((i) => [i.cacheKey, i]));
    const rows = batchRows(h);
    expect(rows[7].enrichment_status).toBe('failed');
    expect(written.has(cacheKey(contacts[7], FIELDS, SCOPE))).toBe(false);
    const lifetimes = contacts.flatMap((c, i) => {
      const item = written.get(cacheKey(c, FIELDS, SCOPE));
      return item ? [[rows[i].enrichment_status, (item.expiresAt - now) / DAY]] : [];
    });
    expect(lifetimes).toHaveLength(99);
    expect(new Set(lifetimes.map(([s, d]) => `${s} ${d}`))).toEqual(new Set(['enriched 30', 'not_found 7']));

    const none = new MemoryResultCache();
    const h2 = await seededRequest(100);
    await processBatch(h2.messages[0], { ...h2.worker(), cache: settings(none, { notFoundTtlDays: 0 }) });
    const statuses = batchRows(h2).filter((r) => r.enrichment_status === 'not_found');
    expect(statuses.length).toBeGreaterThan(0);
    expect(none.writes.flat()).toHaveLength(100 - statuses.length);
  });

  it('takes an item past its expiresAt as a miss', async () => {
    const h = await seededRequest(10);
    const cache = new MemoryResultCache();
    seed(cache, h.contacts, h.clock.now().toISOString(), 0); // expires the second it was written
    seed(cache, h.contacts.slice(0, 3), new Date(h.clock.now().getTime() - 40 * DAY * 1000).toISOString(), 30);
    await processBatch(h.messages[0], { ...h.worker(), cache: settings(cache) });
    expect(h.api.calls.flat()).toEqual(h.contacts);
    expect(batchRows(h).every((r) => r.source === 'provider')).toBe(true);
  });

  it('an outage among the misses hands the batch back with the hits kept settled: the redelivery neither re-reads nor pays for them', async () => {
    const h = await seededRequest(100);
    const cache = new MemoryResultCache();
    seed(cache, h.contacts.slice(0, 60), T0, 3650);
    const down = new FakeEnrichmentApi(() => true);
    await expect(
      processBatch(h.messages[0], { ...h.worker(), api: down, cache: settings(cache) }),
    ).rejects.toBeInstanceOf(EnrichmentUnavailableError);
    const missed = new Set(h.contacts.slice(60).map((c) => c.first_name));
    expect(down.calls.flat().every((c) => missed.has(c.first_name))).toBe(true);
    const kept = h.store.json<StoredProgress>(keys.batchProgress(REQUEST_ID, 0))!;
    expect(kept.rows.slice(0, 60).every((r) => r?.source === 'cache')).toBe(true);
    expect(kept.rows.slice(60).every((r) => r === null)).toBe(true);
    expect(kept.pending).toEqual([{ at: Array.from({ length: 40 }, (_, i) => 60 + i), depth: 0, attempts: 0 }]);
    expect(kept.callsSpent).toBe(down.calls.length);

    expect(await processBatch(h.messages[0], { ...h.worker(), cache: settings(cache) }, { receiveCount: 2 })).toBe(
      'recorded',
    );
    expect(cache.reads).toHaveLength(1);
    expect(h.api.calls.flat()).toEqual(h.contacts.slice(60));
    expect(batchRows(h).map((r) => r.source)).toEqual([...Array(60).fill('cache'), ...Array(40).fill('provider')]);
  });

  it('a cache that fails to read or write never fails the batch: misses, a warning and a metric point', async () => {
    const h = await seededRequest(100);
    const broken = new MemoryResultCache();
    broken.getMany = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    broken.putMany = async () => ({ unprocessed: 3 });
    expect(await processBatch(h.messages[0], { ...h.worker(), cache: settings(broken) })).toBe('recorded');
    expect(h.api.calls.flat()).toEqual(h.contacts);
    expect(h.metrics.emit).toHaveBeenCalledWith('cacheErrors', 1, { operation: 'read' });
    expect(h.metrics.emit).toHaveBeenCalledWith('cacheErrors', 1, { operation: 'write' });

    const h2 = await seededRequest(100);
    const throwing = new MemoryResultCache();
    throwing.putMany = async () => {
      throw new Error('AccessDenied');
    };
    expect(await processBatch(h2.messages[0], { ...h2.worker(), cache: settings(throwing) })).toBe('recorded');
    expect(h2.status.only()).toMatchObject({ status: 'completed', processedBatches: 1 });
    expect(h2.metrics.emit).toHaveBeenCalledWith('cacheErrors', 1, { operation: 'write' });
  });

  it('refresh: reads nothing, calls the provider for every contact, and still writes', async () => {
    const h = await seededRequest(100, { refresh: true });
    const cache = new MemoryResultCache();
    seed(cache, h.contacts, T0, 3650);
    await processBatch(h.messages[0], { ...h.worker(), cache: settings(cache) });
    expect(cache.reads).toHaveLength(0);
    expect(h.api.calls.flat()).toEqual(h.contacts);
    expect(cache.writes.flat()).toHaveLength(100);
    expect(cache.writes.flat().every((i) => i.cachedAt === h.clock.now().toISOString())).toBe(true);
  });

  it('cacheTtlDays 0 turns the cache off: no read, no write', async () => {
    const h = await seededRequest(100);
    const cache = new MemoryResultCache();
    seed(cache, h.contacts, T0, 3650);
    await processBatch(h.messages[0], { ...h.worker(), cache: settings(cache, { ttlDays: 0 }) } satisfies WorkerDeps);
    expect([cache.reads.length, cache.writes.length, h.api.calls.flat().length]).toEqual([0, 0, 100]);
  });

  it("hashes each contact's key once per batch: the read and the write share it", async () => {
    const h = await seededRequest(100);
    const cache = new MemoryResultCache();
    seed(cache, h.contacts.slice(0, 30), T0, 3650);
    const canonical = jest.spyOn(dedup, 'canonicalJson');
    try {
      await processBatch(h.messages[0], { ...h.worker(), cache: settings(cache) });
      const keyed = canonical.mock.calls.filter(([v]) => typeof v === 'object' && v !== null && 'identity' in v);
      expect(keyed).toHaveLength(100);
    } finally {
      canonical.mockRestore();
    }
    // The keys are the same as cacheKey's: read 100, wrote the 70 misses.
    expect(cache.reads[0].sort()).toEqual(keysOf(h.contacts));
    expect(writtenKeys(cache)).toEqual(keysOf(h.contacts.slice(30)));
  });
});
