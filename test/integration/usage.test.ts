import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { resetConfig } from '../../src/config';
import { DLQ_REASON } from '../../src/handlers/handleFailedBatch';
import { handler as mockEnrich, resetMockState } from '../../src/handlers/mockEnrich';
import type { MockStats } from '../../src/handlers/mockState';
import type { Usage } from '../../src/schemas/status';
import type { Contact, EnrichField } from '../../src/schemas/contact';
import { apiEvent, makeContacts } from '../support/factories';
import { countingDeliveries, drainedDepth, runPipeline, startFaultService } from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { workerFn } from '../support/functions';
import { clearMockKnobs } from '../support/mockKnobs';
import { expectedRows, expectOutput, failures } from '../support/output';
import type { TestService } from '../support/service';

/**
 * Usage per request (docs/api.md: Usage) against the provider's own counts: the mock's real handler (its counters
 * in memory, GET /mock/stats) behind an HTTP server that also notes, provider-side, the contacts and the answer of
 * every call it receives. The pipeline runs through the real handlers on the emulators, behind the IAM edge.
 */
async function startRecordingMock() {
  const received: { contacts: number; status: number | 'no answer' }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const call = {
        contacts: (JSON.parse(body) as { contacts: Contact[] }).contacts.length,
        status: 'no answer' as const,
      };
      received.push(call);
      const result = await mockEnrich(apiEvent({ body, path: '/mock/enrich' }));
      (call as { status: number | 'no answer' }).status = result.statusCode;
      res.writeHead(result.statusCode, result.headers as http.OutgoingHttpHeaders);
      res.end(result.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.env.ENRICHMENT_API_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mock/enrich`;
  resetConfig();
  resetMockState();
  return {
    received,
    stats: async () =>
      JSON.parse((await mockEnrich(apiEvent({ httpMethod: 'GET', path: '/mock/stats' }))).body) as MockStats,
    /** The mock's counters and the calls noted from now on only. */
    reset: () => {
      resetMockState();
      received.length = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
type RecordingMock = Awaited<ReturnType<typeof startRecordingMock>>;

const FIELDS: EnrichField[] = ['professional_email', 'job_title'];

async function job(contacts: Contact[], timeoutMs = 60_000) {
  const res = await submit({ contacts, fields_to_enrich: FIELDS, dedupe: false });
  expect(res.statusCode).toBe(202);
  const final = await waitForFinal(res.json.requestId, timeoutMs);
  return { requestId: res.json.requestId as string, final, usage: final.usage as Usage };
}

/**
 * The usage against what the provider saw: its calls and matches (the mock's counters), and the contacts of every
 * call it received, whatever it answered (the mock counts contacts only in the calls it answered 200).
 */
async function expectAddsUp(usage: Usage, mock: RecordingMock) {
  const stats = await mock.stats();
  expect(usage.providerCalls).toBe(stats.calls);
  expect(usage.providerCalls).toBe(mock.received.length);
  expect(usage.contactsSent).toBe(mock.received.reduce((n, c) => n + c.contacts, 0));
  // The mock counts the contacts of every call it received, as it counts the calls: refused ones too.
  expect(usage.contactsSent).toBe(stats.contacts);
  expect(usage.matches).toBe(stats.matches);
  return stats;
}

describe('usage per request adds up to the provider’s own counts (fauxqs + dynalite, the mock’s counters)', () => {
  let service: TestService;
  let mock: RecordingMock;
  afterEach(async () => {
    await mock?.close();
    await service?.close();
    clearMockKnobs();
  });

  it('a plain run, then half the contacts from the cache: calls only for the misses, priced per match', async () => {
    service = await startFaultService({ CACHE_TTL_DAYS: '30', PROVIDER_PRICE_PER_MATCH: '0.1' });
    mock = await startRecordingMock();
    runPipeline(service);
    const old = makeContacts(300);
    const first = await job(old);
    expect(first.final.status).toBe('completed');
    const stats = await expectAddsUp(first.usage, mock);
    expect(first.usage).toEqual({
      providerCalls: 3,
      contactsSent: 300,
      cacheHits: 0,
      matches: stats.matches,
      notFound: 300 - stats.matches,
      failed: 0,
      rateLimitWaitMs: 0,
      estimatedCost: Number((stats.matches * 0.1).toFixed(1)),
    });
    expect(first.final.summary).toMatchObject({ enriched: stats.matches, failed: 0 });
    // The running usage the batches added on their shards (dynalite's ADDs) came to the same counts.
    const items = await DynamoDBDocumentClient.from(service.ddb).send(new ScanCommand({ TableName: service.table }));
    const shards = (items.Items ?? []).filter((i) => String(i.requestId).startsWith(`shard#${first.requestId}#`));
    const sum = (name: string) => shards.reduce((n, s) => n + Number(s[name] ?? 0), 0);
    expect([sum('uCalls'), sum('uContacts'), sum('uMatches'), sum('uNotFound')]).toEqual([
      3,
      300,
      stats.matches,
      300 - stats.matches,
    ]);

    // Old and new interleaved: every batch mixes hits and misses, and calls the provider for its misses only.
    mock.reset();
    const fresh = makeContacts(150, { start: 5_000 });
    const mixed = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? old[i] : fresh[(i - 1) / 2]));
    const second = await job(mixed);
    const again = await expectAddsUp(second.usage, mock);
    expect(second.usage).toMatchObject({ providerCalls: 3, contactsSent: 150, cacheHits: 150, failed: 0 });
    expect(second.usage.cacheHits + second.usage.matches + second.usage.notFound).toBe(300);
    expect(second.usage.estimatedCost).toBe(Number((again.matches * 0.1).toFixed(1)));
    expectOutput(
      await readOutput(service, second.requestId),
      expectedRows(mixed, FIELDS, new Map(), new Set(mixed.flatMap((_, i) => (i % 2 === 0 ? [i] : [])))),
      { cachedWithin: [new Date(Date.parse(first.final.createdAt)), new Date()] },
    );
  }, 90_000);

  it("the provider's rate limit answered 429s: each 429 is a call, with its contacts", async () => {
    // 7 batches at once against 3 calls per 2 s window: at most 6 fit the window(s) they land in, so some get 429.
    service = await startFaultService({ BATCH_SIZE: '20' });
    mock = await startRecordingMock();
    process.env.MOCK_RATE_LIMIT = '3';
    process.env.MOCK_RATE_WINDOW_SECONDS = '2';
    runPipeline(service, { concurrency: 7 });
    const { usage, final } = await job(makeContacts(140));
    const stats = await expectAddsUp(usage, mock);
    expect(stats.throttled).toBeGreaterThan(0);
    expect(mock.received.filter((c) => c.status === 429)).toHaveLength(stats.throttled);
    expect(usage.providerCalls).toBeGreaterThan(7);
    expect(usage.failed).toBe(final.summary!.failed);
    // No shared limit set, but each 429 paused every worker until its Retry-After: those waits are the request's.
    expect(usage.rateLimitWaitMs).toBeGreaterThan(0);
  }, 90_000);

  it('the shared rate limit makes batches wait for tokens: the wait is counted, the calls still add up', async () => {
    // 120 calls a minute: a burst of about 4 calls, then one every ~0.5 s; 7 batches at once must wait.
    service = await startFaultService({ BATCH_SIZE: '20', PROVIDER_CALLS_PER_MINUTE: '120' });
    mock = await startRecordingMock();
    runPipeline(service, { concurrency: 7 });
    const { usage } = await job(makeContacts(140));
    await expectAddsUp(usage, mock);
    expect(usage).toMatchObject({ providerCalls: 7, contactsSent: 140, failed: 0 });
    expect(usage.rateLimitWaitMs).toBeGreaterThan(0);
  }, 90_000);

  it('a batch redelivered after running out of time carries the calls of every delivery', async () => {
    // As in timeBudget.test.ts: 0.5 s calls and 2 s kept back in 10 s invocations cannot finish the bisection down
    // to the hanging contact in one delivery. Each hanging call is received (counted) and never answered.
    service = await startFaultService({
      ENRICHMENT_TIMEOUT_MS: '500',
      WORKER_TIME_RESERVE_MS: '2000',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '8',
    });
    mock = await startRecordingMock();
    const contacts = makeContacts(100, { hang: new Set([37]) });
    const deliveries = countingDeliveries(workerFn());
    runPipeline(service, { worker: deliveries.handler, timeoutMs: 10_000, concurrency: 1 });
    const { requestId, final, usage } = await job(contacts);
    expect(deliveries.counts.get(0)).toBeGreaterThanOrEqual(2);
    expect(final).toMatchObject({ status: 'completed_with_errors', processedBatches: 1, failedBatches: 0 });
    await expectAddsUp(usage, mock);
    expect(mock.received.filter((c) => c.status === 'no answer').length).toBeGreaterThan(1);
    expect(usage).toMatchObject({ failed: 1, cacheHits: 0 });
    expect(usage.matches + usage.notFound + usage.failed).toBe(100);
    expectOutput(
      await readOutput(service, requestId),
      expectedRows(contacts, FIELDS, failures([37], 'enrichment API timed out')),
    );
    expect(await drainedDepth(service)).toBe(0);
  }, 90_000);

  it('a batch dead-lettered after its deliveries keeps their calls and the rows they settled', async () => {
    // As in timeBudget.test.ts: 3 s invocations settle every good contact over five deliveries, never the hanging
    // one; the DLQ handler writes the batch with the rows the worker kept.
    service = await startFaultService({
      ENRICHMENT_TIMEOUT_MS: '400',
      WORKER_TIME_RESERVE_MS: '1000',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '20',
      ENRICHMENT_BREAKER_THRESHOLD: '21',
    });
    mock = await startRecordingMock();
    const contacts = makeContacts(100, { hang: new Set([37]) });
    runPipeline(service, { timeoutMs: 3_000, concurrency: 1 });
    const { requestId, final, usage } = await job(contacts);
    expect(final).toMatchObject({ status: 'completed_with_errors', processedBatches: 0, failedBatches: 1 });
    await expectAddsUp(usage, mock);
    expect(usage).toMatchObject({ failed: 1, matches: final.summary!.enriched });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, FIELDS, failures([37], DLQ_REASON)));
  }, 90_000);
});
