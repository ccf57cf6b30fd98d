import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { resetConfig } from '../../src/config';
import { enrichedRow } from '../../src/core/output';
import { mockEnrichContact } from '../../src/handlers/mockData';
import { makeHandler } from '../../src/handlers/mockEnrich';
import { dynamoMockState, type MockStats } from '../../src/handlers/mockState';
import type { EnrichField, OutputRow } from '../../src/schemas/contact';
import { apiEvent, makeContacts } from '../support/factories';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { workerFn } from '../support/functions';
import { expectOutput } from '../support/output';
import { startTestService, type TestService } from '../support/service';
import type { ServerlessConfig } from '../../src/local/serverlessConfig';

/**
 * The mock function's real handler with its state in the mock's DynamoDB table (dynalite), signing as the mockEnrich
 * function: the local IAM edge applies its role (a denial fails the test: test/support/iamGuard.ts). Served over
 * HTTP with the request's own path, method and headers, as API Gateway hands them over.
 */
async function startStatefulMock(service: TestService) {
  const ddb = service.as('mockEnrich').ddb;
  let ddbCalls = 0;
  const counting = {
    send: (...args: Parameters<DynamoDBDocumentClient['send']>) => {
      ddbCalls += 1;
      return ddb.send(...args);
    },
  } as unknown as DynamoDBDocumentClient;
  const table = service.resources.tables.MockStateTable;
  const handler = makeHandler(() => dynamoMockState(table, counting));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const result = await handler(
        apiEvent({
          path: req.url ?? '/',
          httpMethod: req.method ?? 'GET',
          headers: req.headers as Record<string, string>,
          body: chunks.length ? Buffer.concat(chunks).toString('utf8') : null,
        }),
      );
      res.writeHead(result.statusCode, result.headers as http.OutgoingHttpHeaders);
      res.end(result.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mock`;
  return {
    base,
    ddbCalls: () => ddbCalls,
    stats: async () => (await (await fetch(`${base}/stats`)).json()) as MockStats,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A stage with the mock deployed (params.mockApi): its function, role and state table exist. */
const withMock = (sls: ServerlessConfig) => {
  (sls.doc.params as Record<string, Record<string, unknown>>).default.mockApi = true;
};

const FIELDS: EnrichField[] = ['professional_email', 'personal_phone', 'job_title', 'linkedin_url'];
const post = (url: string, body: unknown, key = 'key-a') =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(body),
  });
const bulk = (n: number, offset = 0) => ({
  requests: makeContacts(n + offset)
    .slice(offset)
    .map((c, index) => ({
      params: { first_name: c.first_name, last_name: c.last_name, company: c.company_domain },
      metadata: { index },
    })),
});

describe('the mock as a provider: its state shared through DynamoDB (dynalite, behind the IAM edge, its own role)', () => {
  let service: TestService;
  let mock: Awaited<ReturnType<typeof startStatefulMock>>;
  afterEach(async () => {
    await mock?.close();
    await service?.close();
  });

  it('keeps exact counts under concurrent calls: the window, the credits, the outage and the stats', async () => {
    service = await startTestService(
      { MOCK_RATE_LIMIT: '5', MOCK_RATE_WINDOW_SECONDS: '3600', MOCK_CREDITS: '1000' },
      withMock,
    );
    mock = await startStatefulMock(service);
    // 12 calls at once from one key: exactly 5 pass the window, the others 429 with Retry-After.
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => post(`${mock.base}/v5/person/bulk`, bulk(10, 10 * i))),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(5).fill(200), ...Array(7).fill(429)]);
    const throttled = answers.find((r) => r.status === 429)!;
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(throttled.headers.get('x-ratelimit-remaining')).toBe('0');
    const served = await Promise.all(
      answers.filter((r) => r.status === 200).map((r) => r.json() as Promise<Array<{ status: number }>>),
    );
    const matches = served.flat().filter((r) => r.status === 200).length;
    expect(await mock.stats()).toEqual({
      calls: 12,
      contacts: 120, // every call received, the 429s too
      matches,
      throttled: 7,
      creditErrors: 0,
      serverErrors: 0,
      creditsLeft: 1000 - matches,
      byDialect: { mock: 0, peopledatalabs: 12 },
    });

    // Credits: another key (its own window); a call the balance cannot cover answers 402 and spends nothing.
    expect((await post(`${mock.base}/credits`, { add: 10 })).status).toBe(200);
    const left = (await mock.stats()).creditsLeft!;
    const big = { contacts: makeContacts(100), fields: FIELDS };
    const needed = big.contacts.filter((c) => mockEnrichContact(c, FIELDS).enrichment_status === 'enriched').length;
    const calls = Math.floor(left / needed);
    // A key per call: each has a window of its own, so only the credits can refuse.
    for (let i = 0; i < calls; i++) expect((await post(`${mock.base}/enrich`, big, `key-b${i}`)).status).toBe(200);
    expect((await post(`${mock.base}/enrich`, big, 'key-b')).status).toBe(402);
    expect((await mock.stats()).creditsLeft).toBe(left - calls * needed);

    // An outage: 500 to every call, across invocations.
    expect((await post(`${mock.base}/outage`, { seconds: 30 })).status).toBe(200);
    expect((await post(`${mock.base}/enrich`, { contacts: makeContacts(1), fields: FIELDS }, 'key-c')).status).toBe(
      500,
    );
    expect(await mock.stats()).toMatchObject({
      creditErrors: 1,
      serverErrors: 1,
      byDialect: { mock: calls + 2, peopledatalabs: 12 },
    });
  }, 60_000);

  it('costs one DynamoDB call per healthy call without a rate limit, two with one (measured)', async () => {
    service = await startTestService({ MOCK_RATE_LIMIT: '', MOCK_CREDITS: '' }, withMock);
    mock = await startStatefulMock(service);
    const body = { contacts: makeContacts(100), fields: FIELDS };
    const timed = async (n: number) => {
      const before = mock.ddbCalls();
      const started = performance.now();
      for (let i = 0; i < n; i++) expect((await post(`${mock.base}/enrich`, body)).status).toBe(200);
      return { ddbPerCall: (mock.ddbCalls() - before) / n, msPerCall: (performance.now() - started) / n };
    };
    const plain = await timed(20);
    process.env.MOCK_RATE_LIMIT = '1000';
    const limited = await timed(20);
    delete process.env.MOCK_RATE_LIMIT;
    expect(plain.ddbPerCall).toBe(1);
    expect(limited.ddbPerCall).toBe(2);
    // For the report: the mock's own time per call on dynalite (latency knob 0).
    console.log(
      `mock call, 100 contacts: ${plain.msPerCall.toFixed(1)} ms (1 UpdateItem), ${limited.msPerCall.toFixed(1)} ms with MOCK_RATE_LIMIT (2 UpdateItems)`,
    );
  }, 60_000);
});

describe('the pipeline on the People Data Labs adapter against the mock in its dialect', () => {
  let service: TestService;
  let mock: Awaited<ReturnType<typeof startStatefulMock>>;
  afterEach(async () => {
    await mock?.close();
    await service?.close();
  });

  it('enriches every contact through POST /v5/person/bulk, exactly as the mock dialect would (LinkedIn as PDL writes it)', async () => {
    service = await startTestService(
      { ENRICHMENT_PROVIDER: 'peopledatalabs', ENRICHMENT_API_KEY: 'pdl-test-key' },
      withMock,
    );
    mock = await startStatefulMock(service);
    process.env.ENRICHMENT_API_URL = mock.base;
    resetConfig();
    const contacts = makeContacts(250, { poison: new Set([7]) });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.statusCode).toBe(202);
    service.deliver(service.queueUrl, service.queueArn, workerFn(), { concurrency: 2 });
    const final = await waitForFinal(res.json.requestId);
    expect(final).toMatchObject({
      status: 'completed_with_errors',
      processedBatches: 3,
      failedBatches: 0,
    });
    const expected: OutputRow[] = contacts.map((c, i) => {
      if (i === 7)
        return {
          ...c,
          professional_email: null,
          personal_phone: null,
          job_title: null,
          linkedin_url: null,
          enrichment_status: 'failed',
          failure_reason: 'enrichment API could not enrich the contact: company_domain cannot be enriched',
          source: 'provider',
        } as OutputRow;
      const found = mockEnrichContact(c, FIELDS);
      if (found.linkedin_url) found.linkedin_url = found.linkedin_url.replace('https://www.', 'https://');
      return enrichedRow(c, FIELDS, found);
    });
    expectOutput(await readOutput(service, res.json.requestId), expected);
    const stats = await mock.stats();
    expect(stats.byDialect).toEqual({ mock: 0, peopledatalabs: 3 });
    expect(stats.contacts).toBe(250);
    expect(stats.matches).toBe(expected.filter((r) => r.enrichment_status === 'enriched').length);
  }, 60_000);
});
