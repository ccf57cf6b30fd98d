import { mockEnrichContact, mockPdlRecord } from '../../../src/handlers/mockData';
import { handler } from '../../../src/handlers/mockEnrich';
import { clearMockKnobs, resetMock } from '../../support/mockKnobs';
import { apiEvent, makeContacts } from '../../support/factories';

/** The mock as a provider (rate limit, credits, outage, counters) and its People Data Labs dialect; state in memory. */
beforeEach(resetMock);
afterAll(clearMockKnobs);

async function call(path: string, body?: unknown, key = 'key-a', httpMethod = 'POST') {
  const res = await handler(
    apiEvent({
      path,
      httpMethod,
      body: body === undefined ? null : JSON.stringify(body),
      headers: { 'X-Api-Key': key },
    }),
  );
  return { ...res, headers: (res.headers ?? {}) as Record<string, string>, json: JSON.parse(res.body) };
}

const FIELDS = ['professional_email', 'job_title'];
const enrich = (n: number, key?: string) => call('/mock/enrich', { contacts: makeContacts(n), fields: FIELDS }, key);
const pdlBody = (n: number, minLikelihood?: number) => ({
  requests: makeContacts(n).map((c, i) => ({
    params: {
      first_name: c.first_name,
      last_name: c.last_name,
      company: c.company_domain,
      ...(minLikelihood ? { min_likelihood: minLikelihood } : {}),
    },
    metadata: { index: i },
  })),
});
const stats = async () => (await call('/mock/stats', undefined, 'key-a', 'GET')).json;
const matchesIn = (n: number) =>
  makeContacts(n).filter((c) => mockEnrichContact(c, ['job_title']).enrichment_status === 'enriched').length;

describe('the mock in People Data Labs dialect (POST /mock/v5/person/bulk)', () => {
  it('answers one record per request, in order, with the metadata echoed: 200 with data, 404 not found', async () => {
    const res = await call('/mock/v5/person/bulk', pdlBody(40));
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual(makeContacts(40).map((c, i) => mockPdlRecord(c, { index: i })));
    const statuses = new Set(res.json.map((r: { status: number }) => r.status));
    expect(statuses).toEqual(new Set([200, 404]));
    const found = res.json.find((r: { status: number }) => r.status === 200);
    expect(Object.keys(found.data)).toEqual(expect.arrayContaining(['work_email', 'mobile_phone', 'job_title']));
    expect(found.data.linkedin_url).toMatch(/^linkedin\.com\/in\//);
  });

  it('answers a match below min_likelihood as a 404', async () => {
    const all = (await call('/mock/v5/person/bulk', pdlBody(40))).json;
    const strict = (await call('/mock/v5/person/bulk', pdlBody(40, 10))).json;
    const count = (rs: Array<{ status: number }>) => rs.filter((r) => r.status === 200).length;
    expect(count(strict)).toBe(all.filter((r: { likelihood?: number }) => r.likelihood === 10).length);
    expect(count(strict)).toBeLessThan(count(all));
  });

  it('answers 400 for more than 100 requests', async () => {
    expect((await call('/mock/v5/person/bulk', pdlBody(101))).statusCode).toBe(400);
  });
});

describe('the mock as a provider', () => {
  it('GET /mock/stats counts calls, contacts, matches and outcomes since the state began, calls per dialect', async () => {
    expect(await stats()).toEqual({
      calls: 0,
      contacts: 0,
      matches: 0,
      throttled: 0,
      creditErrors: 0,
      serverErrors: 0,
      creditsLeft: null,
      byDialect: { mock: 0, peopledatalabs: 0 },
    });
    await enrich(10);
    await call('/mock/v5/person/bulk', pdlBody(10));
    expect(await stats()).toEqual({
      calls: 2,
      contacts: 20,
      matches: 2 * matchesIn(10),
      throttled: 0,
      creditErrors: 0,
      serverErrors: 0,
      creditsLeft: null,
      byDialect: { mock: 1, peopledatalabs: 1 },
    });
  });

  it('MOCK_RATE_LIMIT: calls per key and fixed window, x-ratelimit-* headers, then 429 with Retry-After', async () => {
    process.env.MOCK_RATE_LIMIT = '2';
    process.env.MOCK_RATE_WINDOW_SECONDS = '3600';
    const first = await enrich(1);
    expect(first.statusCode).toBe(200);
    expect(first.headers['x-ratelimit-limit']).toBe('2');
    expect(first.headers['x-ratelimit-remaining']).toBe('1');
    const windowEnd = Number(first.headers['x-ratelimit-reset']) * 1000;
    expect(windowEnd).toBeGreaterThan(Date.now());
    expect(windowEnd - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect((await enrich(1)).headers['x-ratelimit-remaining']).toBe('0');
    const over = await enrich(1);
    expect(over.statusCode).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(over.headers['retry-after'])).toBeLessThanOrEqual(3600);
    // Another key has its own window.
    expect((await enrich(1, 'key-b')).statusCode).toBe(200);
    // Every call received counts with its contacts, the refused one too (as a provider's logs would).
    expect(await stats()).toMatchObject({ calls: 4, throttled: 1, contacts: 4 });
  });

  it('MOCK_CREDITS: 1 credit per match, 402 when the balance does not cover a call; POST /mock/credits adds', async () => {
    const perCall = matchesIn(10);
    process.env.MOCK_CREDITS = String(perCall + 1);
    expect((await enrich(10)).statusCode).toBe(200);
    expect((await stats()).creditsLeft).toBe(1);
    const refused = await call('/mock/v5/person/bulk', pdlBody(10));
    expect(refused.statusCode).toBe(402);
    expect(refused.json.error.type).toBe('payment_required');
    const added = await call('/mock/credits', { add: perCall });
    expect(added.json).toEqual({ creditsLeft: perCall + 1 });
    expect((await call('/mock/v5/person/bulk', pdlBody(10))).statusCode).toBe(200);
    expect(await stats()).toMatchObject({
      calls: 3,
      contacts: 30,
      creditErrors: 1,
      creditsLeft: 1,
      matches: 2 * perCall,
    });
  });

  it('POST /mock/credits answers 409 while the credits are unlimited, 400 for a bad body', async () => {
    expect((await call('/mock/credits', { add: 5 })).statusCode).toBe(409);
    process.env.MOCK_CREDITS = '5';
    expect((await call('/mock/credits', { add: -1 })).statusCode).toBe(400);
  });

  it('POST /mock/outage: 500 to every call for that long, then served again', async () => {
    expect((await call('/mock/outage', { seconds: 0.3 })).statusCode).toBe(200);
    expect((await enrich(2)).statusCode).toBe(500);
    expect((await call('/mock/v5/person/bulk', pdlBody(2))).statusCode).toBe(500);
    await new Promise((r) => setTimeout(r, 350));
    expect((await enrich(2)).statusCode).toBe(200);
    expect(await stats()).toMatchObject({ calls: 3, serverErrors: 2, contacts: 6 });
  });

  it('counts the injected failures and throttles too', async () => {
    process.env.MOCK_FAILURE_RATE = '1';
    await enrich(1);
    process.env.MOCK_FAILURE_RATE = '0';
    process.env.MOCK_THROTTLE_RATE = '1';
    await enrich(1);
    expect(await stats()).toMatchObject({ calls: 2, serverErrors: 1, throttled: 1, contacts: 2 });
  });
});
