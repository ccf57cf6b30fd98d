import type http from 'node:http';
import { ZodError } from 'zod';
import { httpEnrichmentApi } from '../../../src/adapters/enrichmentApi';
import { HttpError, TimeoutError } from '../../../src/core/retry';
import { makeContacts } from '../../support/factories';
import { type StubRequest, type StubServer, startStubServer } from '../../support/stubServer';

type Reply = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

let reply: Reply;
let stub: StubServer;
let url: string;
let received: StubRequest[];

beforeAll(async () => {
  stub = await startStubServer((req, body, res) => reply(req, body, res));
  received = stub.received;
  url = `${stub.base}/mock/enrich`;
});
afterAll(() => stub.close());
beforeEach(() => {
  received.length = 0;
});

const send =
  (status: number, payload: unknown, headers: Record<string, string> = {}): Reply =>
  (_req, _body, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
  };

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

const contacts = makeContacts(2);

describe('httpEnrichmentApi', () => {
  it('POSTs the contacts and fields as JSON and returns the results', async () => {
    const results = [
      { enrichment_status: 'enriched', professional_email: 'a@b.co', personal_phone: null },
      { enrichment_status: 'not_found' },
    ];
    reply = send(200, { results });
    await expect(
      httpEnrichmentApi(url, 1_000).enrich(contacts, ['professional_email', 'personal_phone']),
    ).resolves.toEqual(results);
    expect(received).toHaveLength(1);
    expect(received[0].method).toBe('POST');
    expect(received[0].headers['content-type']).toBe('application/json');
    expect(JSON.parse(received[0].body)).toEqual({ contacts, fields: ['professional_email', 'personal_phone'] });
  });

  it('turns a non-2xx answer into an HttpError with the status and Retry-After in ms', async () => {
    reply = send(503, { message: 'busy' }, { 'retry-after': '2' });
    const err = await failure(httpEnrichmentApi(url, 1_000).enrich(contacts, ['job_title']));
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 503, retryAfterMs: 2_000 });
  });

  it('reads an HTTP-date Retry-After on a 429', async () => {
    reply = send(429, { message: 'slow down' }, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() });
    const err = (await failure(httpEnrichmentApi(url, 1_000).enrich(contacts, ['job_title']))) as HttpError;
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBeGreaterThan(25_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('leaves retryAfterMs unset without the header, and reports 4xx as HttpError too', async () => {
    reply = send(400, { message: 'bad' });
    const err = await failure(httpEnrichmentApi(url, 1_000).enrich(contacts, ['job_title']));
    expect(err).toMatchObject({ name: 'HttpError', status: 400, retryAfterMs: undefined });
  });

  it('throws a TimeoutError when the API does not answer in time', async () => {
    reply = (_req, _body, res) => {
      setTimeout(() => send(200, { results: [] })(_req, _body, res), 1_000).unref();
    };
    const started = Date.now();
    const err = await failure(httpEnrichmentApi(url, 50).enrich(contacts, ['job_title']));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/50 ms/);
    expect(Date.now() - started).toBeLessThan(900);
  });

  it("takes the caller's shorter timeout (the time its budget has left), never a longer one", async () => {
    reply = (_req, _body, res) => {
      setTimeout(() => send(200, { results: [] })(_req, _body, res), 1_000).unref();
    };
    const short = await failure(httpEnrichmentApi(url, 5_000).enrich(contacts, ['job_title'], { timeoutMs: 60 }));
    expect(short).toBeInstanceOf(TimeoutError);
    expect((short as Error).message).toMatch(/60 ms/);
    const longer = await failure(httpEnrichmentApi(url, 50).enrich(contacts, ['job_title'], { timeoutMs: 5_000 }));
    expect((longer as Error).message).toMatch(/50 ms/);
  });

  it('times out a response whose body stalls halfway, as a TimeoutError', async () => {
    reply = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"results":[');
      setTimeout(() => res.end(']}'), 1_000).unref();
    };
    const err = await failure(httpEnrichmentApi(url, 80).enrich(contacts, ['job_title']));
    expect(err).toBeInstanceOf(TimeoutError);
  });

  it.each([
    ['no results list', {}],
    ['results that are not a list', { results: 'nope' }],
    ['an unknown status', { results: [{ enrichment_status: 'maybe' }] }],
    ['a field of the wrong type', { results: [{ enrichment_status: 'enriched', professional_email: 42 }] }],
  ])('rejects a payload with %s', async (_name, payload) => {
    reply = send(200, payload);
    expect(await failure(httpEnrichmentApi(url, 1_000).enrich(contacts, ['job_title']))).toBeInstanceOf(ZodError);
  });

  it('rejects a body that is not JSON', async () => {
    reply = send(200, '<html>oops</html>');
    // JSON.parse's error comes from Node's own realm (outside jest's), so compare names rather than constructors.
    expect(await failure(httpEnrichmentApi(url, 1_000).enrich(contacts, ['job_title']))).toMatchObject({
      name: 'SyntaxError',
    });
  });

  it('follows no redirect: a 3xx answer is an HttpError, and nothing is POSTed elsewhere', async () => {
    reply = send(307, { message: 'moved' }, { location: `${stub.base}/elsewhere` });
    const err = await failure(httpEnrichmentApi(url, 1_000).enrich(contacts, ['job_title']));
    expect(err).toMatchObject({ name: 'HttpError', status: 307 });
    expect(received.map((r) => r.url)).toEqual(['/mock/enrich']);
  });

  it('keeps the connection alive: calls in turn go over one socket', async () => {
    const ports: number[] = [];
    reply = (req, body, res) => {
      ports.push(req.socket.remotePort!);
      send(200, { results: [{ enrichment_status: 'not_found' }] })(req, body, res);
    };
    for (let i = 0; i < 3; i++) await httpEnrichmentApi(url, 1_000).enrich(makeContacts(1), ['job_title']);
    expect(ports).toHaveLength(3);
    expect(new Set(ports).size).toBe(1);
  });

  it('passes a connection failure on as a plain (retryable) error', async () => {
    const err = await failure(
      httpEnrichmentApi('http://127.0.0.1:9/mock/enrich', 1_000).enrich(contacts, ['job_title']),
    );
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    expect(err).not.toBeInstanceOf(HttpError);
    expect(err).not.toBeInstanceOf(TimeoutError);
  });
});

describe('the API key', () => {
  it('is sent as x-api-key when configured, and not at all otherwise', async () => {
    reply = send(200, { results: [{ enrichment_status: 'not_found' }] });
    await httpEnrichmentApi(url, 1000, 'k-123').enrich(makeContacts(1), ['job_title']);
    await httpEnrichmentApi(url, 1000).enrich(makeContacts(1), ['job_title']);
    expect(received.map((r) => r.headers['x-api-key'])).toEqual(['k-123', undefined]);
  });
});
