import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ownerIdOf } from '../../src/core/owner';
import type { EnrichmentApi } from '../../src/core/ports';
import { cacheKey, scopeOf } from '../../src/core/resultCache';
import { makeHandler as makeWorker } from '../../src/handlers/processBatch';
import { workerDeps } from '../../src/handlers/workerWiring';
import type { Contact, EnrichField, OutputRow } from '../../src/schemas/contact';
import { makeContacts } from '../support/factories';
import { runPipeline } from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { expectCsvMatches, expectedRows, expectOutput, csvColumns } from '../support/output';
import { as, startTestService, type TestService } from '../support/service';

const FIELDS: EnrichField[] = ['professional_email', 'job_title'];
const [KEY_A, KEY_B] = ['cache-key-of-client-a-0123456789', 'cache-key-of-client-b-0123456789'];
const headers = (key: string) => ({ 'x-api-key': key });
const range = (n: number, start = 0) => new Set(Array.from({ length: n }, (_, i) => start + i));

/**
 * The worker as Lambda runs it (production wiring, the processBatch role), with the provider counted: every
 * contact each call sends, as the mock API receives it.
 */
function countingWorker() {
  const sent: Contact[] = [];
  const handler = makeWorker(() => {
    const deps = workerDeps(as('processBatch'));
    const api: EnrichmentApi = {
      enrich: (contacts, fields, opts) => {
        sent.push(...contacts);
        return deps.api.enrich(contacts, fields, opts);
      },
    };
    return { ...deps, api };
  });
  return { handler, sent };
}

/** Runs one request through the pipeline; the window around it (the cachedAt of what it obtained lies inside). */
async function job(body: Record<string, unknown>, key: string) {
  const from = new Date();
  const res = await submit({ fields_to_enrich: FIELDS, dedupe: false, ...body }, headers(key));
  expect(res.statusCode).toBe(202);
  const final = await waitForFinal(res.json.requestId, 60_000, headers(key));
  expect(final.status).toBe('completed');
  return { requestId: res.json.requestId as string, window: [from, new Date()] as const };
}

const withoutSource = (rows: readonly OutputRow[]) => rows.map(({ source: _s, cachedAt: _c, ...rest }) => rest);
const ids = (contacts: readonly Contact[]) => contacts.map((c) => `${c.first_name}|${c.last_name}|${c.company_domain}`);

describe('result cache, scope owner (fauxqs + dynalite behind the IAM edge): no contact paid for twice', () => {
  let service: TestService;
  let worker: ReturnType<typeof countingWorker>;
  const contacts = makeContacts(150, { extra: true });
  let first: Awaited<ReturnType<typeof job>>;

  beforeAll(async () => {
    service = await startTestService({ CACHE_TTL_DAYS: '30', NOT_FOUND_CACHE_TTL_DAYS: '7', CACHE_SCOPE: 'owner' });
    worker = countingWorker();
    runPipeline(service, { worker: worker.handler });
  });
  afterAll(() => service.close());

  it('the same contacts again (dedupe: false): no provider call, the same rows from the cache with cachedAt', async () => {
    first = await job({ contacts }, KEY_A);
    expect(ids(worker.sent).sort()).toEqual(ids(contacts).sort());
    const firstDoc = await readOutput(service, first.requestId);
    expectOutput(firstDoc, expectedRows(contacts, FIELDS));
    expect(firstDoc.summary.not_found).toBeGreaterThan(0); // not-found results are cached too

    const before = worker.sent.length;
    const second = await job({ contacts }, KEY_A);
    expect(worker.sent.length - before).toBe(0);
    const doc = await readOutput(service, second.requestId);
    expectOutput(doc, expectedRows(contacts, FIELDS, new Map(), range(150)), { cachedWithin: first.window });
    expect(withoutSource(doc.enriched_contacts)).toEqual(withoutSource(firstDoc.enriched_contacts));
    const csv = await service.getObjectText(`${second.requestId}/output.csv`);
    expectCsvMatches(csv!, doc.enriched_contacts, csvColumns(FIELDS));
  });

  it('half new contacts: exactly the new half goes to the provider', async () => {
    const fresh = makeContacts(75, { start: 5_000 });
    // Old and new interleaved, so each batch mixes hits and misses.
    const mixed = Array.from({ length: 150 }, (_, i) => (i % 2 === 0 ? contacts[i] : fresh[(i - 1) / 2]));
    const before = worker.sent.length;
    const third = await job({ contacts: mixed }, KEY_A);
    expect(ids(worker.sent.slice(before)).sort()).toEqual(ids(fresh).sort());
    const oldAt = new Set([...range(150)].filter((i) => i % 2 === 0));
    expectOutput(await readOutput(service, third.requestId), expectedRows(mixed, FIELDS, new Map(), oldAt), {
      cachedWithin: first.window,
    });
  });

  it("another API key's identical request makes its own calls (scope owner)", async () => {
    const before = worker.sent.length;
    const other = await job({ contacts }, KEY_B);
    expect(ids(worker.sent.slice(before)).sort()).toEqual(ids(contacts).sort());
    expectOutput(await readOutput(service, other.requestId), expectedRows(contacts, FIELDS));
  });

  it('refresh: true calls the provider again and rewrites the cache, which the next request reads', async () => {
    const before = worker.sent.length;
    const refreshed = await job({ contacts, refresh: true }, KEY_A);
    expect(ids(worker.sent.slice(before)).sort()).toEqual(ids(contacts).sort());
    expectOutput(await readOutput(service, refreshed.requestId), expectedRows(contacts, FIELDS));

    const after = worker.sent.length;
    const next = await job({ contacts }, KEY_A);
    expect(worker.sent.length).toBe(after);
    // Every row now carries the refresh's time: the cache was rewritten.
    expectOutput(await readOutput(service, next.requestId), expectedRows(contacts, FIELDS, new Map(), range(150)), {
      cachedWithin: refreshed.window,
    });
  });

  it('a refresh is not a duplicate of the plain request with the same contacts, nor the reverse', async () => {
    const few = makeContacts(3, { start: 9_000 });
    const plain = await submit({ contacts: few, fields_to_enrich: FIELDS }, headers(KEY_A));
    const refresh = await submit({ contacts: few, fields_to_enrich: FIELDS, refresh: true }, headers(KEY_A));
    expect(refresh.json.requestId).not.toBe(plain.json.requestId);
    expect(refresh.json.duplicate).toBeUndefined();
    const again = await submit({ contacts: few, fields_to_enrich: FIELDS, refresh: true }, headers(KEY_A));
    expect(again.json).toMatchObject({ requestId: refresh.json.requestId, duplicate: true });
    for (const id of [plain.json.requestId, refresh.json.requestId]) await waitForFinal(id, 60_000, headers(KEY_A));
  });

  it('an item past its expiresAt is a miss, though dynalite never deletes it', async () => {
    const table = Object.values(service.resources.tables).find((t) => t.endsWith('-result-cache'))!;
    const ddb = DynamoDBDocumentClient.from(service.ddb);
    const stale = makeContacts(4, { start: 7_000 });
    const scope = scopeOf('owner', ownerIdOf(KEY_A));
    const past = Math.floor(Date.now() / 1000) - 60;
    for (const c of stale) {
      const key = cacheKey(c, FIELDS, scope);
      const result = { enrichment_status: 'enriched', professional_email: 'stale@old.example', job_title: 'Stale' };
      await ddb.send(
        new PutCommand({
          TableName: table,
          Item: { cacheKey: key, result, cachedAt: '2020-01-01T00:00:00.000Z', expiresAt: past },
        }),
      );
    }
    const kept = await ddb.send(
      new GetCommand({ TableName: table, Key: { cacheKey: cacheKey(stale[0], FIELDS, scope) } }),
    );
    expect(kept.Item?.expiresAt).toBe(past);

    const before = worker.sent.length;
    const res = await job({ contacts: stale }, KEY_A);
    expect(ids(worker.sent.slice(before)).sort()).toEqual(ids(stale).sort());
    expectOutput(await readOutput(service, res.requestId), expectedRows(stale, FIELDS));
    // Rewritten with the provider's answer and a new lifetime.
    const items = (await ddb.send(new ScanCommand({ TableName: table }))).Items ?? [];
    const mine = items.filter((i) => stale.some((c) => cacheKey(c, FIELDS, scope) === i.cacheKey));
    expect(mine).toHaveLength(4);
    const days = (i: number) => (expectedRows(stale, FIELDS)[i].enrichment_status === 'enriched' ? 30 : 7);
    const lifetimes = stale.map((c, i) => {
      const item = mine.find((m) => m.cacheKey === cacheKey(c, FIELDS, scope))!;
      // The result is one string attribute, its JSON (src/adapters/resultCache.ts).
      return [
        JSON.parse(item.result).enrichment_status,
        Math.round((item.expiresAt - Date.now() / 1000) / 86_400) === days(i),
      ];
    });
    expect(lifetimes).toEqual(stale.map((_, i) => [expectedRows(stale, FIELDS)[i].enrichment_status, true]));
  });
});

describe('result cache, scope service', () => {
  let service: TestService;
  afterAll(() => service.close());

  it("another API key's identical request hits the cache: no provider call", async () => {
    service = await startTestService({ CACHE_TTL_DAYS: '30', CACHE_SCOPE: 'service' });
    const worker = countingWorker();
    runPipeline(service, { worker: worker.handler });
    const contacts = makeContacts(120);
    const first = await job({ contacts }, KEY_A);
    expect(worker.sent).toHaveLength(120);
    const other = await job({ contacts }, KEY_B);
    expect(worker.sent).toHaveLength(120);
    expectOutput(await readOutput(service, other.requestId), expectedRows(contacts, FIELDS, new Map(), range(120)), {
      cachedWithin: first.window,
    });
  });
});
