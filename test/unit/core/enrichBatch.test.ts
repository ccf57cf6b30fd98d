import { describeFailure, enrichWithBisection, type EnrichStats } from '../../../src/core/enrichBatch';
import { enrichedRow } from '../../../src/core/output';
import { mockEnrichContact } from '../../../src/core/mockData';
import { HttpError, TimeoutError, type RetryPolicy } from '../../../src/core/retry';
import type { Contact, EnrichField } from '../../../src/schemas/contact';
import { contactsOf, FakeEnrichmentApi } from '../fakes';

const FIELDS: EnrichField[] = ['professional_email', 'personal_phone'];
const once: RetryPolicy = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const twice: RetryPolicy = { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 };

function poisonAt(contacts: Contact[], indexes: number[]) {
  const poison = new Set(indexes.map((i) => contacts[i]));
  return (c: Contact) => poison.has(c);
}

const newStats = (): EnrichStats => ({ calls: 0, retries: 0, bisections: 0 });

describe('enrichWithBisection', () => {
  it('enriches a healthy batch in one call, in order', async () => {
    const contacts = contactsOf(100);
    const api = new FakeEnrichmentApi();
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, twice, stats);
    expect(api.calls).toHaveLength(1);
    expect(stats).toEqual({ calls: 1, retries: 0, bisections: 0 });
    expect(rows).toEqual(contacts.map((c) => enrichedRow(c, FIELDS, mockEnrichContact(c, FIELDS))));
  });

  it('fails only the poison contacts, keeping order and counting calls and bisections', async () => {
    const contacts = contactsOf(8);
    const api = new FakeEnrichmentApi(poisonAt(contacts, [2, 5]));
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, once, stats);

    expect(rows.map((r) => r.first_name)).toEqual(contacts.map((c) => c.first_name));
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([false, false, true, false, false, true, false, false]);
    expect(rows[2]).toMatchObject({ professional_email: null, personal_phone: null, failure_reason: 'enrichment API answered 500' });
    for (const i of [0, 1, 3, 4, 6, 7]) expect(rows[i]).toEqual(enrichedRow(contacts[i], FIELDS, mockEnrichContact(contacts[i], FIELDS)));
    // [0-7] → [0-3] [4-7] → [0,1] [2,3] [4,5] [6,7] → [2] [3] [4] [5]
    expect(stats).toEqual({ calls: 11, retries: 0, bisections: 5 });
    expect(api.calls).toHaveLength(11);
  });

  it('retries each failing call before splitting it, and never retries a successful one', async () => {
    const contacts = contactsOf(8);
    const isPoison = poisonAt(contacts, [2, 5]);
    const api = new FakeEnrichmentApi(isPoison);
    const stats = newStats();
    await enrichWithBisection(contacts, FIELDS, api, twice, stats);
    const failing = api.calls.filter((call) => call.some(isPoison)).length;
    const succeeding = api.calls.length - failing;
    expect(failing).toBe(2 * 7); // 7 failing groups, 2 attempts each
    expect(succeeding).toBe(4); // [0,1] [3] [4] [6,7]
    expect(stats).toEqual({ calls: 18, retries: 7, bisections: 5 });
  });

  it('does not retry a 400 but still isolates the contact that causes it', async () => {
    const contacts = contactsOf(4);
    const api = new FakeEnrichmentApi(poisonAt(contacts, [3]), () => new HttpError(400, 'bad'));
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0 }, stats);
    expect(stats.retries).toBe(0);
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([false, false, false, true]);
    expect(rows[3].failure_reason).toBe('enrichment API answered 400');
  });

  it('marks every contact failed when every call fails, in order', async () => {
    const contacts = contactsOf(5);
    const api = new FakeEnrichmentApi(() => true, () => new TimeoutError('slow'));
    const rows = await enrichWithBisection(contacts, FIELDS, api, once);
    expect(rows).toHaveLength(5);
    expect(rows.map((r) => r.last_name)).toEqual(contacts.map((c) => c.last_name));
    expect(rows.every((r) => r.enrichment_status === 'failed' && r.failure_reason === 'enrichment API timed out')).toBe(true);
  });

  it('gives a contact left on its own singleContactMaxAttempts tries', async () => {
    const contacts = contactsOf(2);
    const isPoison = poisonAt(contacts, [1]);
    const api = new FakeEnrichmentApi(isPoison);
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, { ...once, singleContactMaxAttempts: 3 }, stats);
    expect(api.calls.map((c) => c.length)).toEqual([2, 1, 1, 1, 1]); // the pair once, [0] once, [1] three times
    expect(stats).toEqual({ calls: 5, retries: 2, bisections: 1 });
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([false, true]);
  });

  it('gives the whole batch the full retry budget but splits a failing part after subBatchMaxAttempts', async () => {
    const contacts = contactsOf(4);
    const api = new FakeEnrichmentApi(poisonAt(contacts, [3]));
    const policy: RetryPolicy = { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0, subBatchMaxAttempts: 1, singleContactMaxAttempts: 2 };
    const rows = await enrichWithBisection(contacts, FIELDS, api, policy);
    // [0..3] three times; [0,1] once (fine); [2,3] once, then split; [2] once (fine); [3] twice.
    expect(api.calls.map((c) => c.length)).toEqual([4, 4, 4, 2, 2, 1, 1, 1]);
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([false, false, false, true]);
  });

  it('rescues a single contact from transient errors with its extra attempts', async () => {
    const contacts = contactsOf(1);
    let n = 0;
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        if (++n < 3) throw new HttpError(503, 'busy');
        return cs.map((c) => mockEnrichContact(c, fields));
      },
    };
    const rows = await enrichWithBisection(contacts, FIELDS, api, { ...twice, singleContactMaxAttempts: 3 });
    expect(n).toBe(3);
    expect(rows[0].enrichment_status).not.toBe('failed');
  });

  it('treats a wrong number of results as a failure and splits the batch', async () => {
    const contacts = contactsOf(4);
    const calls: number[] = [];
    // One result short for any call of more than one contact; right for single contacts.
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        calls.push(cs.length);
        const results = cs.map((c) => mockEnrichContact(c, fields));
        return cs.length > 1 ? results.slice(1) : results;
      },
    };
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, once, stats);
    expect(rows.map((r) => r.enrichment_status)).not.toContain('failed');
    expect(rows).toEqual(contacts.map((c) => enrichedRow(c, FIELDS, mockEnrichContact(c, FIELDS))));
    expect(calls).toEqual([4, 2, 2, 1, 1, 1, 1]);
    expect(stats.bisections).toBe(3);
  });

  it('does not accept extra results either', async () => {
    const contacts = contactsOf(3);
    const calls: number[] = [];
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        calls.push(cs.length);
        const results = cs.map((c) => mockEnrichContact(c, fields));
        return cs.length > 1 ? [...results, { enrichment_status: 'not_found' as const }] : results;
      },
    };
    const rows = await enrichWithBisection(contacts, FIELDS, api, once);
    expect(calls).toEqual([3, 2, 1, 1, 1]);
    expect(rows).toEqual(contacts.map((c) => enrichedRow(c, FIELDS, mockEnrichContact(c, FIELDS))));
  });

  it('fails a contact whose call keeps returning the wrong number of results', async () => {
    const contacts = contactsOf(2);
    const api = { enrich: async () => [] };
    const rows = await enrichWithBisection(contacts, FIELDS, api, once);
    expect(rows.map((r) => [r.first_name, r.enrichment_status, r.failure_reason])).toEqual([
      ['Ada0', 'failed', 'enrichment API call failed'],
      ['Ada1', 'failed', 'enrichment API call failed'],
    ]);
  });
});

describe('describeFailure', () => {
  it('names the HTTP status, a timeout, or a generic failure, and nothing else', () => {
    expect(describeFailure(new HttpError(503, 'x'))).toBe('enrichment API answered 503');
    expect(describeFailure(new TimeoutError('x'))).toBe('enrichment API timed out');
    expect(describeFailure(new Error('secret detail'))).toBe('enrichment API call failed');
    expect(describeFailure('weird')).toBe('enrichment API call failed');
  });
});
