import {
  advanceEnrichment,
  budgetSpentReason,
  callBudget,
  describeContactError,
  freshProgress,
} from '../../../src/core/enrichBatch';
import { FleetGate } from '../../../src/core/providerGate';
import { processBatch } from '../../../src/core/processBatch';
import { EnrichmentPausedError, EnrichmentUnavailableError } from '../../../src/core/errors';
import { mockEnrichContact } from '../../../src/handlers/mockData';
import { HttpError, type RetryPolicy } from '../../../src/core/retry';
import { keys } from '../../../src/core/status';
import type { EnrichmentResult } from '../../../src/core/output';
import type { EnrichmentApi } from '../../../src/core/ports';
import type { Contact, EnrichField } from '../../../src/schemas/contact';
import { seededRequest } from '../../support/workerHarness';
import { makeContacts } from '../../support/factories';

const FIELDS: EnrichField[] = ['professional_email'];
const POLICY: RetryPolicy = {
  maxAttempts: 4,
  subBatchMaxAttempts: 2,
  singleContactMaxAttempts: 8,
  baseDelayMs: 0,
  maxDelayMs: 0,
};

/** An API that answers the `bad` contacts as the script says (a per-contact error, or a whole-call error), counting calls. */
class ScriptedApi implements EnrichmentApi {
  calls = 0;
  down = false;
  constructor(
    private readonly bad: (c: Contact) => boolean,
    private readonly mode: 'contact' | { status: number },
  ) {}
  async enrich(contacts: Contact[], fields: EnrichField[]): Promise<EnrichmentResult[]> {
    this.calls += 1;
    await Promise.resolve();
    if (this.down) throw new HttpError(503, 'enrichment API answered 503');
    if (this.mode !== 'contact' && contacts.some(this.bad))
      throw new HttpError(this.mode.status, `enrichment API answered ${this.mode.status}`);
    return contacts.map((c) =>
      this.bad(c) ? { enrichment_status: 'error', error: 'no such person' } : mockEnrichContact(c, fields),
    );
  }
}

const allBad = () => true;

describe('enrichment calls: per-contact errors, permanent errors, the call budget', () => {
  it('a per-contact error fails that contact at once, with the reason: one call for 100 always-rejected contacts', async () => {
    const contacts = makeContacts(100);
    const api = new ScriptedApi(allBad, 'contact');
    const progress = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(100), {
      callBudget: callBudget(100, 3),
    });
    expect(api.calls).toBe(1);
    expect(
      progress.rows.every(
        (r) => r?.enrichment_status === 'failed' && r.failure_reason === describeContactError('no such person'),
      ),
    ).toBe(true);
    expect(progress).toMatchObject({ pending: [], callsSpent: 1, permanentFailures: 100 });
  });

  it('a per-contact error among good contacts: only it fails, no retry, no bisection', async () => {
    const contacts = makeContacts(10);
    const api = new ScriptedApi((c) => c === contacts[4], 'contact');
    const { rows } = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(10));
    expect(api.calls).toBe(1);
    expect(rows.map((r) => r!.enrichment_status === 'failed')).toEqual([
      false,
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('a 4xx that is not about the content (401) is never retried nor split: one call fails the part', async () => {
    const contacts = makeContacts(100);
    const api = new ScriptedApi(allBad, { status: 401 });
    const progress = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(100));
    expect(api.calls).toBe(1);
    expect(progress.rows.every((r) => r?.failure_reason === 'enrichment API answered 401')).toBe(true);
    expect(progress.permanentFailures).toBe(100);
  });

  it('a 400 is split to isolate the contact, each part called once (no retry): 2n-1 calls at most', async () => {
    const contacts = makeContacts(8);
    const api = new ScriptedApi(allBad, { status: 400 });
    const progress = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(8));
    expect(api.calls).toBe(15);
    expect(progress.permanentFailures).toBe(8);
  });

  it('408 is transient (retried), like 429 and 5xx', async () => {
    const contacts = makeContacts(1);
    const api = new ScriptedApi(allBad, { status: 408 });
    const { rows } = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(1));
    expect(api.calls).toBe(8);
    expect(rows[0]).toMatchObject({ failure_reason: 'enrichment API answered 408' });
  });

  it('whole-call 500s for 100 always-rejected contacts: exactly the budget, then the rest fail with the budget reason', async () => {
    const contacts = makeContacts(100);
    const api = new ScriptedApi(allBad, { status: 500 });
    const budget = callBudget(100, 3);
    expect(budget).toBe(310);
    const progress = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(100), { callBudget: budget });
    expect(api.calls).toBe(310);
    expect(progress.callsSpent).toBe(310);
    expect(progress.pending).toEqual([]);
    // The halves are tried side by side, so the budget runs out while the lone contacts are still on their first tries.
    const reasons = new Set(progress.rows.map((r) => r!.failure_reason));
    expect(reasons.has(budgetSpentReason(310))).toBe(true);
    for (const reason of reasons) expect(['enrichment API answered 500', budgetSpentReason(310)]).toContain(reason);
    expect(progress.permanentFailures).toBe(0);
  });

  it('the budget carries over from stored progress: a batch that spent it makes no call at all', async () => {
    const contacts = makeContacts(100);
    const api = new ScriptedApi(allBad, { status: 500 });
    const progress = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(100, 310), {
      callBudget: 310,
    });
    expect(api.calls).toBe(0);
    expect(progress.rows.every((r) => r?.failure_reason === budgetSpentReason(310))).toBe(true);
  });

  it('an open circuit stops the calls: the parts stay pending with their attempts, and callsSpent says what was made', async () => {
    const contacts = makeContacts(100);
    const api = new ScriptedApi(allBad, { status: 500 });
    const gate = new FleetGate({ threshold: 10, coolDownMs: 60_000 });
    const progress = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(100), {
      gate,
      callBudget: 310,
    });
    // 4 tries of the whole, 2 for each half (8), then the quarters' first tries reach 10 in a row.
    expect(api.calls).toBe(10);
    expect(progress).toMatchObject({ stoppedBy: 'breaker', callsSpent: 10 });
    expect(progress.rows.every((r) => r === null)).toBe(true);
    expect(progress.pending.flatMap((p) => p.at)).toEqual(contacts.map((_, i) => i));
    // Another batch on the same instance makes no call while the circuit is open.
    const other = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(100), { gate });
    expect(api.calls).toBe(10);
    expect(other.stoppedBy).toBe('breaker');
  });
});

describe('processBatch with a call budget and a circuit breaker', () => {
  it('an outage that fails every contact hands the batch back, and the redeliveries share one budget: 310 calls in all', async () => {
    const h = await seededRequest(100);
    const api = new ScriptedApi(allBad, { status: 500 });
    const deps = { ...h.worker(), api, retry: POLICY, callBudgetFactor: 3 };
    for (let delivery = 1; delivery <= 5; delivery++) {
      await expect(processBatch(h.messages[0], deps, { receiveCount: delivery })).rejects.toThrow(
        EnrichmentUnavailableError,
      );
    }
    expect(api.calls).toBe(310);
    expect(h.store.json(keys.batchProgress(h.requestId, 0))).toMatchObject({ callsSpent: 310 });
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 0 });
  });

  it('always-rejected contacts (per-contact errors) are recorded at once as failed: no redelivery', async () => {
    const h = await seededRequest(100);
    const api = new ScriptedApi(allBad, 'contact');
    await processBatch(h.messages[0], { ...h.worker(), api, retry: POLICY, callBudgetFactor: 3 });
    expect(api.calls).toBe(1);
    expect(h.status.only()).toMatchObject({ status: 'failed', processedBatches: 1, failedContacts: 100 });
  });

  it('an open circuit hands the batch back with its progress; once the API is back the redelivery finishes it', async () => {
    const h = await seededRequest(100);
    const api = new ScriptedApi(() => false, 'contact');
    const clock = { now: 0 };
    const gate = new FleetGate({ threshold: 10, coolDownMs: 1_000, now: () => clock.now });
    const deps = { ...h.worker(), api, retry: POLICY, callBudgetFactor: 3, gate };
    api.down = true;
    await expect(processBatch(h.messages[0], deps, { receiveCount: 1 })).rejects.toThrow(EnrichmentPausedError);
    expect(api.calls).toBe(10);
    api.down = false;
    await expect(processBatch(h.messages[0], deps, { receiveCount: 2 })).rejects.toThrow(EnrichmentPausedError);
    expect(api.calls).toBe(10); // still cooling down: no call
    clock.now += 1_000;
    await processBatch(h.messages[0], deps, { receiveCount: 3 });
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 1 });
    // The pending parts (2 halves made of 4 quarters) each needed one call.
    expect(api.calls).toBe(14);
  });
});

describe('the call budget under concurrency', () => {
  it('is never overrun by parts of a bisection that wait on the breaker at the same time', async () => {
    // Every bad contact fails its whole call, so the bisection runs many parts at once; each asks the
    // breaker (which answers after a turn of the event loop) before its call.
    const contacts = makeContacts(100);
    const api = new ScriptedApi((c) => contacts.indexOf(c) % 8 === 3, { status: 500 });
    const gate = new FleetGate({ threshold: 10_000, coolDownMs: 1_000 });
    const progress = await advanceEnrichment(contacts, FIELDS, api, POLICY, freshProgress(100), {
      callBudget: callBudget(100, 1),
      gate,
    });
    expect(api.calls).toBe(callBudget(100, 1));
    expect(progress.callsSpent).toBe(callBudget(100, 1));
  });
});
