import type http from 'node:http';
import fixture from '../../fixtures/peopledatalabs/bulk-response.json';
import { bulkRequest, mapBulkResponse, peopleDataLabsApi } from '../../../src/adapters/peopleDataLabs';
import { CreditsExhaustedError, HttpError, isPermanent, isRetryable } from '../../../src/core/retry';
import type { Contact, EnrichField } from '../../../src/schemas/contact';
import { type StubRequest, type StubServer, startStubServer } from '../../support/stubServer';

const ALL: EnrichField[] = ['professional_email', 'personal_phone', 'job_title', 'linkedin_url'];
const contacts: Contact[] = [
  { first_name: 'Sean', last_name: 'Thorne', company_domain: 'peopledatalabs.com' },
  { first_name: 'Nobody', last_name: 'Known', company_domain: 'example.com' },
];

type Reply = (body: string, res: http.ServerResponse) => void;
let reply: Reply;
let stub: StubServer;
let base: string;
let received: StubRequest[];

beforeAll(async () => {
  stub = await startStubServer((_req, body, res) => reply(body, res));
  received = stub.received;
  base = stub.base;
});
afterAll(() => stub.close());
beforeEach(() => {
  received.length = 0;
});

const send =
  (status: number, payload: unknown, headers: Record<string, string> = {}): Reply =>
  (_body, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(payload));
  };

const api = (key = 'pdl-key') =>
  peopleDataLabsApi({ baseUrl: `${base}/`, timeoutMs: 2_000, minLikelihood: 6, apiKey: async () => key });

describe('People Data Labs bulk person enrichment adapter (contract: the documented request and answer)', () => {
  it('POSTs {base}/v5/person/bulk with X-Api-Key and the documented requests: params and metadata per contact', async () => {
    reply = send(200, fixture.response);
    await api().enrich(contacts, ALL);
    expect(received).toHaveLength(1);
    expect(received[0].url).toBe('/v5/person/bulk');
    expect(received[0].headers['x-api-key']).toBe('pdl-key');
    expect(received[0].headers['content-type']).toBe('application/json');
    expect(JSON.parse(received[0].body)).toEqual({ requests: fixture.requests });
    expect(bulkRequest(contacts, 6)).toEqual({ requests: fixture.requests });
  });

  it("maps the documented answer: 200's data to our fields (work email, mobile phone, title, LinkedIn with https://), 404 to not_found", async () => {
    reply = send(200, fixture.response);
    expect(await api().enrich(contacts, ALL)).toEqual([
      {
        enrichment_status: 'enriched',
        professional_email: 'sean@peopledatalabs.com',
        personal_phone: '+14155688415',
        job_title: 'co-founder and chief executive officer',
        linkedin_url: 'https://linkedin.com/in/seanthorne',
      },
      { enrichment_status: 'not_found' },
    ]);
  });

  it('returns only the requested fields, and null for a field PDL has but does not show (true) or lacks', () => {
    const shown = [{ status: 200, likelihood: 8, data: { work_email: true, job_title: null }, metadata: { index: 0 } }];
    expect(mapBulkResponse(shown, 1, ['professional_email', 'job_title'])).toEqual([
      { enrichment_status: 'enriched', professional_email: null, job_title: null },
    ]);
  });

  it('puts the records back in the contacts order by their metadata', () => {
    const reversed = [...fixture.response].reverse();
    expect(mapBulkResponse(reversed, 2, ['job_title'])).toEqual([
      { enrichment_status: 'enriched', job_title: 'co-founder and chief executive officer' },
      { enrichment_status: 'not_found' },
    ]);
  });

  it("fails only that contact for a record's own 400, and the whole call (retryable) for a record's 5xx", () => {
    const bad = {
      status: 400,
      error: { type: 'invalid_request_error', message: 'bad company' },
      metadata: { index: 1 },
    };
    expect(mapBulkResponse([fixture.response[0], bad], 2, ['job_title'])[1]).toEqual({
      enrichment_status: 'error',
      error: 'bad company',
    });
    const down = { status: 503, metadata: { index: 1 } };
    let thrown: unknown;
    try {
      mapBulkResponse([fixture.response[0], down], 2, ['job_title']);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HttpError);
    expect(isRetryable(thrown)).toBe(true);
  });

  it('refuses an answer with a record missing or a metadata index that is no request', () => {
    expect(() => mapBulkResponse([fixture.response[0]], 2, ['job_title'])).toThrow(/1 records for 2 requests/);
    const twice = [fixture.response[0], fixture.response[0]];
    expect(() => mapBulkResponse(twice, 2, ['job_title'])).toThrow(/metadata.index 0/);
  });

  it('surfaces 429 with its wait from Retry-After, else from x-ratelimit-reset (a UTC timestamp or epoch seconds)', async () => {
    reply = send(429, { error: { type: 'rate_limit_error' } }, { 'retry-after': '7' });
    await expect(api().enrich(contacts, ALL)).rejects.toMatchObject({ status: 429, retryAfterMs: 7_000 });
    const reset = new Date(Date.now() + 20_000);
    reply = send(429, {}, { 'x-ratelimit-reset': reset.toISOString() });
    const err = (await api()
      .enrich(contacts, ALL)
      .catch((e: unknown) => e)) as HttpError;
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBeGreaterThan(18_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(20_000);
    reply = send(429, {}, { 'x-ratelimit-reset': String(Math.ceil(reset.getTime() / 1000)) });
    const epoch = (await api()
      .enrich(contacts, ALL)
      .catch((e: unknown) => e)) as HttpError;
    expect(epoch.retryAfterMs).toBeGreaterThan(18_000);
    expect(epoch.retryAfterMs).toBeLessThanOrEqual(21_000);
  });

  it('surfaces 402 as CreditsExhaustedError: retryable (an outage of the account), never a permanent contact failure', async () => {
    reply = send(402, { error: { type: 'payment_required', message: 'You have hit your account maximum' } });
    const err = await api()
      .enrich(contacts, ALL)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CreditsExhaustedError);
    expect(err).toMatchObject({ status: 402, creditsExhausted: true });
    expect(isRetryable(err)).toBe(true);
    expect(isPermanent(err)).toBe(false);
  });

  it('answers 401 (a bad key) as a permanent error', async () => {
    reply = send(401, { error: { type: 'authentication_error' } });
    const err = await api('wrong')
      .enrich(contacts, ALL)
      .catch((e: unknown) => e);
    expect(isPermanent(err)).toBe(true);
  });
});
