import { DLQ_REASON } from '../../src/handlers/handleFailedBatch';
import { budgetSpentReason, callBudget, describeContactError } from '../../src/core/enrichBatch';
import { POISON_CONTACT_ERROR } from '../../src/handlers/mockData';
import { makeContacts } from '../support/factories';
import { runPipeline, sleep, startFaultService } from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import type { TestService } from '../support/service';
import { expectedRows, expectOutput, failures } from '../support/output';

const FIELDS = ['professional_email', 'job_title'] as const;
const CONTACT_REASON = describeContactError(POISON_CONTACT_ERROR.error);
const all = (n: number) => new Set(Array.from({ length: n }, (_, i) => i));
/** serverless.yml's default: 3 calls per contact, plus 10. */
const BUDGET_100 = callBudget(100, 3);

// Tests that count calls exactly hide a running message for 30 s (not the pipeline's usual 1 s), so a
// late renewal on a loaded machine cannot hand the batch to a second worker and add its calls.
describe('enrichment calls are bounded: call budget, permanent errors, circuit breaker (fauxqs + dynalite)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('100 contacts the API always rejects (a per-contact error in a 200): one call, all 100 end failed with the reason', async () => {
    service = await startFaultService();
    const contacts = makeContacts(100, { poison: all(100) });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 2, visibilityTimeout: 30 });
    const final = await waitForFinal(res.json.requestId, 30_000);

    expect(final).toMatchObject({ status: 'failed', processedBatches: 1, failedBatches: 0 });
    expect(final.summary).toEqual({ enriched: 0, not_found: 0, failed: 100 });
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures(all(100), CONTACT_REASON)),
    );
    expect(service.mockApi.calls()).toBe(1);
  });

  it('a provider that fails the whole call for any of 100 bad contacts (MOCK_INVALID_MODE=call): at most the budget in all, every delivery included; all end failed', async () => {
    service = await startFaultService({
      MOCK_INVALID_MODE: 'call',
      ENRICHMENT_BREAKER_COOLDOWN_MS: '50',
      PROVIDER_OUTAGE_HOLD_SECONDS: '3',
    });
    const contacts = makeContacts(100, { poison: all(100) });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 2 });
    const final = await waitForFinal(res.json.requestId, 60_000);

    // Every contact failed and none for good, so it looks like an outage: held for the outage bound (3 s here),
    // then redelivered, then dead-lettered.
    expect(final).toMatchObject({ status: 'failed', processedBatches: 0, failedBatches: 1 });
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures(all(100), DLQ_REASON)),
    );
    expect(service.mockApi.calls()).toBeLessThanOrEqual(BUDGET_100);
  });

  it('a whole-call-failing provider and one bad contact among 100: only it fails, in a few dozen calls', async () => {
    service = await startFaultService({ MOCK_INVALID_MODE: 'call' });
    const contacts = makeContacts(200, { poison: new Set([37]) });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 2, visibilityTimeout: 30 });
    const final = await waitForFinal(res.json.requestId, 30_000);

    expect(final).toMatchObject({ status: 'completed_with_errors', processedBatches: 2, failedBatches: 0 });
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures([37], 'enrichment API answered 500')),
    );
    // Batch 1: one call. Batch 0: 4 tries of the whole, 2 of each failing part (50, 25, 13, 6 and 3
    // contacts), one of each healthy half (6), 12 of the lone contact (the fault tests' setting).
    expect(service.mockApi.calls()).toBe(1 + 4 + 5 * 2 + 6 + 12);
    expect(service.mockApi.statuses()[500]).toBe(4 + 5 * 2 + 12);
  });

  it('once the call budget is spent, the contacts still unsettled fail with the reason; the others keep their rows', async () => {
    // Factor 1: 110 calls for 100 contacts. 12 bad contacts, each costing ~20 calls to isolate, spend it.
    // So many bad contacts in one batch fail dozens of whole calls in a row, as an outage does: the
    // breaker is set out of reach here, to see the budget alone.
    service = await startFaultService({
      MOCK_INVALID_MODE: 'call',
      ENRICHMENT_CALL_BUDGET_FACTOR: '1',
      ENRICHMENT_BREAKER_THRESHOLD: '1000',
    });
    const poison = new Set([3, 11, 19, 27, 35, 43, 51, 59, 67, 75, 83, 91]);
    const contacts = makeContacts(100, { poison });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 1, visibilityTimeout: 30 });
    const final = await waitForFinal(res.json.requestId, 30_000);
    const rows = (await readOutput(service, res.json.requestId)).enriched_contacts;

    expect(final).toMatchObject({ status: 'completed_with_errors', processedBatches: 1, failedBatches: 0 });
    expect(service.mockApi.calls()).toBe(callBudget(100, 1));
    // Every row in its place: bad contacts failed (by their 500s or the budget), good ones enriched
    // or, if the budget ran out before they were reached, failed with the budget's reason.
    const expected = expectedRows(contacts, [...FIELDS], failures(poison, 'enrichment API answered 500'));
    const spent = budgetSpentReason(callBudget(100, 1));
    expect(rows).toHaveLength(100);
    rows.forEach((row, i) => {
      if (row.failure_reason === spent)
        expect(row).toEqual({
          ...expected[i],
          enrichment_status: 'failed',
          failure_reason: spent,
          professional_email: null,
          job_title: null,
        });
      else expect(row).toEqual(expected[i]);
    });
    const spentRows = rows.filter((r) => r.failure_reason === spent);
    expect(spentRows.length).toBeGreaterThan(0);
    expect(spentRows.length).toBeLessThan(100 - poison.size);
  });

  it('circuit breaker: an API down for a while gets a bounded number of calls, and the request completes once it is back', async () => {
    service = await startFaultService({ MOCK_FAILURE_RATE: '1', ENRICHMENT_BREAKER_COOLDOWN_MS: '300' });
    const contacts = makeContacts(300);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 3 });
    await sleep(2_000);
    const duringOutage = service.mockApi.calls();
    process.env.MOCK_FAILURE_RATE = '0'; // the mock reads its knobs per call
    const final = await waitForFinal(res.json.requestId, 30_000);

    // 20 failures in a row open the circuit (a few calls already in flight finish), then one trial
    // call per 300 ms cool-down: far from the ~1,000 calls a batch's bisection made per delivery.
    expect(duringOutage).toBeGreaterThanOrEqual(20);
    expect(duringOutage).toBeLessThanOrEqual(60);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 3, failedBatches: 0 });
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
  });
});
