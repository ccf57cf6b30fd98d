import { mockEnrichContact, POISON_CONTACT_ERROR } from '../../../src/handlers/mockData';
import { handler } from '../../../src/handlers/mockEnrich';
import { apiEvent, makeContacts } from '../../support/factories';

const KNOBS = [
  'MOCK_LATENCY_MS',
  'MOCK_FAILURE_RATE',
  'MOCK_THROTTLE_RATE',
  'MOCK_SPIKE_RATE',
  'MOCK_SPIKE_MS',
  'MOCK_INVALID_MODE',
];

beforeEach(() => {
  for (const k of KNOBS) delete process.env[k];
  process.env.MOCK_LATENCY_MS = '0';
});
afterAll(() => {
  for (const k of KNOBS) delete process.env[k];
});

async function call(body: unknown) {
  const res = await handler(
    apiEvent({ path: '/mock/enrich', body: typeof body === 'string' ? body : JSON.stringify(body) }),
  );
  return { ...res, json: JSON.parse(res.body) };
}

describe('POST /mock/enrich handler', () => {
  it('returns one deterministic result per contact, in order', async () => {
    const contacts = makeContacts(100);
    const res = await call({ contacts, fields: ['professional_email', 'job_title'] });
    expect(res.statusCode).toBe(200);
    expect(res.json.results).toEqual(contacts.map((c) => mockEnrichContact(c, ['professional_email', 'job_title'])));
    const again = await call({ contacts, fields: ['professional_email', 'job_title'] });
    expect(again.json).toEqual(res.json);
  });

  it.each([
    ['101 contacts', { contacts: makeContacts(101), fields: ['job_title'] }, /at most 100/],
    ['no contacts', { contacts: [], fields: ['job_title'] }, /Invalid enrichment call/],
    [
      'a bad contact',
      { contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'nope' }], fields: ['job_title'] },
      /contacts\[0\]\.company_domain/,
    ],
    ['an unknown field', { contacts: makeContacts(1), fields: ['shoe_size'] }, /fields\[0\]/],
    ['invalid JSON', '{', /not valid JSON/],
  ])('answers 400 for %s', async (_name, body, pattern) => {
    const res = await call(body);
    expect(res.statusCode).toBe(400);
    expect(JSON.stringify(res.json)).toMatch(pattern);
  });

  it('answers 500 on every call when MOCK_FAILURE_RATE is 1', async () => {
    process.env.MOCK_FAILURE_RATE = '1';
    for (let i = 0; i < 3; i++)
      expect((await call({ contacts: makeContacts(2), fields: ['job_title'] })).statusCode).toBe(500);
  });

  it('still validates before injecting failures', async () => {
    process.env.MOCK_FAILURE_RATE = '1';
    expect((await call({ contacts: makeContacts(101), fields: ['job_title'] })).statusCode).toBe(400);
  });

  it('answers a poison (.invalid) contact with a per-contact error inside a 200, and its neighbours as usual', async () => {
    const contacts = makeContacts(5);
    contacts[4] = { ...contacts[4], company_domain: 'bad.invalid' };
    const res = await call({ contacts, fields: ['job_title'] });
    expect(res.statusCode).toBe(200);
    expect(res.json.results).toEqual([
      ...contacts.slice(0, 4).map((c) => mockEnrichContact(c, ['job_title'])),
      { enrichment_status: 'error', error: POISON_CONTACT_ERROR.error },
    ]);
  });

  it('with MOCK_INVALID_MODE=call answers 500 for any call containing a poison (.invalid) contact', async () => {
    process.env.MOCK_INVALID_MODE = 'call';
    const contacts = makeContacts(5);
    contacts[4] = { ...contacts[4], company_domain: 'bad.invalid' };
    expect((await call({ contacts, fields: ['job_title'] })).statusCode).toBe(500);
    expect((await call({ contacts: contacts.slice(0, 4), fields: ['job_title'] })).statusCode).toBe(200);
  });

  it('never answers a call containing a hanging (.hang) contact, even with failures injected; answers without it', async () => {
    process.env.MOCK_FAILURE_RATE = '1';
    const contacts = makeContacts(5);
    contacts[2] = { ...contacts[2], company_domain: 'slow.hang' };
    const pending = Symbol('pending');
    const answer = handler(
      apiEvent({ path: '/mock/enrich', body: JSON.stringify({ contacts, fields: ['job_title'] }) }),
    );
    // Still unanswered after a while that any answer of this mock (latency 0) fits many times over.
    expect(await Promise.race([answer, new Promise((r) => setTimeout(() => r(pending), 200))])).toBe(pending);
    process.env.MOCK_FAILURE_RATE = '0';
    expect((await call({ contacts: contacts.filter((_, i) => i !== 2), fields: ['job_title'] })).statusCode).toBe(200);
  });

  it('answers 429 with Retry-After when throttling', async () => {
    process.env.MOCK_THROTTLE_RATE = '1';
    const res = await call({ contacts: makeContacts(1), fields: ['job_title'] });
    expect(res.statusCode).toBe(429);
    expect(res.headers).toMatchObject({ 'retry-after': '1' });
  });

  it('waits MOCK_LATENCY_MS before answering', async () => {
    process.env.MOCK_LATENCY_MS = '120';
    const started = Date.now();
    expect((await call({ contacts: makeContacts(1), fields: ['job_title'] })).statusCode).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });
});
