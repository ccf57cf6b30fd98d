import { apiEvent, makeContacts } from '../support/factories';
import { runPipeline, sleep, startFaultService } from '../support/faults';
import { readOutput, status, submit, waitForFinal } from '../support/flow';
import { cancelFn, downloadFn } from '../support/functions';
import { csvColumns, expectCsvMatches, parseNdjson } from '../support/output';
import type { TestService } from '../support/service';
import type { OutputRow } from '../../src/schemas/contact';

const FIELDS = ['professional_email', 'job_title'] as const;
const KEY_A = { 'x-api-key': 'key-a-cancel-test' };
const KEY_B = { 'x-api-key': 'key-b-cancel-test' };
/** Workers at once: at most this many batches are in flight when the cancel lands. */
const CONCURRENCY = 2;

/** POST /enrichment/{id}/cancel through the cancel function (its own role). */
async function cancel(requestId: string, headers: Record<string, string>) {
  const res = await cancelFn()(apiEvent({ httpMethod: 'POST', pathParameters: { id: requestId }, headers }));
  return { statusCode: res.statusCode, json: JSON.parse(res.body) };
}

/** GET /enrichment/{id}/download?format=… through the download function, then the presigned URL. */
async function download(requestId: string, format: string) {
  const redirect = await downloadFn()(
    apiEvent({
      httpMethod: 'GET',
      pathParameters: { id: requestId },
      queryStringParameters: { format },
      headers: KEY_A,
    }),
  );
  expect(redirect.statusCode).toBe(302);
  return (await fetch(String(redirect.headers!.location))).text();
}

describe('cancel (fauxqs + dynalite)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('stops the provider calls of a 3,000-contact request cancelled after its first batches; it ends cancelled, every contact once in order in every format', async () => {
    // Slow provider calls, so the cancel lands while most batches wait.
    service = await startFaultService({ MOCK_LATENCY_MS: '150' });
    const contacts = makeContacts(3_000);
    const res = await submit({ contacts, fields_to_enrich: FIELDS }, KEY_A);
    expect(res.statusCode).toBe(202);
    const id = res.json.requestId;
    // One batch per invocation: CONCURRENCY batches in flight at the cancel (deployed, each invocation holds up to 10).
    runPipeline(service, { concurrency: CONCURRENCY, visibilityTimeout: 30, batchSize: 1 });
    while ((await status(id, KEY_A)).processedBatches < 2) await sleep(25);

    expect((await cancel(id, KEY_B)).statusCode).toBe(404);
    const first = await cancel(id, KEY_A);
    const callsAtCancel = service.mockApi.calls();
    expect(first.statusCode).toBe(202);
    expect(first.json).toMatchObject({ requestId: id, status: 'cancelling' });
    const again = await cancel(id, KEY_A);
    expect([200, 202]).toContain(again.statusCode);
    expect(['cancelling', 'cancelled']).toContain(again.json.status);

    const final = await waitForFinal(id, 60_000, KEY_A);
    expect(final.status).toBe('cancelled');
    // Only the batches in flight at the cancel made their calls (one each: the mock does not fail here).
    expect(service.mockApi.calls()).toBeLessThanOrEqual(callsAtCancel + CONCURRENCY);
    expect(service.mockApi.calls()).toBeLessThan(30);
    const { enriched, not_found, failed, cancelled } = final.summary!;
    expect(cancelled).toBeGreaterThan(0);
    expect(enriched + not_found + failed + cancelled!).toBe(3_000);
    const usage = final.usage!;
    expect(usage.cacheHits + usage.matches + usage.notFound + usage.failed + usage.cancelled!).toBe(3_000);
    expect(usage.providerCalls).toBe(service.mockApi.calls());

    const doc = await readOutput(service, id);
    const rows = doc.enriched_contacts;
    expect(rows.map((r) => [r.first_name, r.last_name, r.company_domain])).toEqual(
      contacts.map((c) => [c.first_name, c.last_name, c.company_domain]),
    );
    expect(rows.filter((r) => r.enrichment_status === 'cancelled')).toHaveLength(cancelled!);
    expect(doc.summary).toEqual({ total: 3_000, enriched, not_found, failed, cancelled });
    // Each batch is all provider rows or all cancelled (none failed here).
    for (let b = 0; b < 30; b++) {
      const kinds = new Set(rows.slice(b * 100, b * 100 + 100).map((r) => r.enrichment_status === 'cancelled'));
      expect(kinds.size).toBe(1);
    }
    expect(parseNdjson(await download(id, 'ndjson'))).toEqual(rows);
    expectCsvMatches(await download(id, 'csv'), rows as OutputRow[], csvColumns([...FIELDS]));
    expect(JSON.parse(await download(id, 'json')).enriched_contacts).toEqual(rows);

    const afterEnd = await cancel(id, KEY_A);
    expect(afterEnd).toMatchObject({ statusCode: 200, json: { status: 'cancelled' } });
  });

  it('answers 409 naming the status for a completed request', async () => {
    service = await startFaultService();
    const res = await submit({ contacts: makeContacts(100), fields_to_enrich: FIELDS }, KEY_A);
    runPipeline(service, { concurrency: 1 });
    expect((await waitForFinal(res.json.requestId, 30_000, KEY_A)).status).toBe('completed');
    const answer = await cancel(res.json.requestId, KEY_A);
    expect(answer.statusCode).toBe(409);
    expect(answer.json.message).toContain('completed');
  });
});
