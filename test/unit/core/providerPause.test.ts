import { EnrichmentPausedError } from '../../../src/core/errors';
import { MAX_OWN_HOLDS, processBatch } from '../../../src/core/processBatch';
import { FleetGate } from '../../../src/core/providerGate';
import { CreditsExhaustedError, HttpError } from '../../../src/core/retry';
import { keys, toStatusResponse } from '../../../src/core/status';
import type { EnrichField } from '../../../src/schemas/contact';
import type { Contact } from '../../../src/schemas/contact';
import { mockEnrichContact } from '../../../src/handlers/mockData';
import { MemoryGateStore } from '../../support/fakes';
import { seededRequest } from '../../support/workerHarness';

/** A provider whose answer the test sets: `ok`, a 402, a 429 with a wait, or a 500; every call counted. */
class SwitchableApi {
  calls = 0;
  /** The contacts of each call. */
  readonly sizes: number[] = [];
  answer: 'ok' | 'credits' | 'rate_limit' | 'down' = 'ok';
  /** Answers for the next calls, in order, before `answer`. */
  script: SwitchableApi['answer'][] = [];
  async enrich(contacts: Contact[], fields: EnrichField[]) {
    this.calls += 1;
    this.sizes.push(contacts.length);
    const answer = this.script.shift() ?? this.answer;
    await Promise.resolve();
    if (answer === 'credits') throw new CreditsExhaustedError();
    if (answer === 'rate_limit') throw new HttpError(429, 'slow down', 60_000);
    if (answer === 'down') throw new HttpError(503, 'down');
    return contacts.map((c) => mockEnrichContact(c, fields));
  }
}

async function setup(n = 200) {
  const h = await seededRequest(n);
  const api = new SwitchableApi();
  const store = new MemoryGateStore();
  const time = { now: 1_000_000 };
  const gate = new FleetGate({
    threshold: 3,
    coolDownMs: 30_000,
    creditRetryMs: 300_000,
    store,
    now: () => time.now,
    sleep: async (ms) => {
      time.now += ms;
    },
  });
  const deps = { ...h.worker(), api, gate, queue: h.queue, holdMaxDelaySeconds: 150 };
  h.queue.delays.splice(0); // the request's own sends
  return { h, api, store, time, gate, deps };
}

describe('processBatch while the provider gate pauses the calls', () => {
  it('a 402 holds the batch for the credits: nothing failed, no receive spent, and a top-up finishes it exactly', async () => {
    const { h, api, store, time, deps } = await setup(200);
    await processBatch(h.messages[0], deps, { receiveCount: 1 });
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 1 });

    // Out of credits: the call is answered 402, the batch is acknowledged (held), a copy goes back with a delay.
    api.answer = 'credits';
    const touchedBefore = h.status.only().updatedAt;
    h.clock.advance(1_000);
    expect(await processBatch(h.messages[1], deps, { receiveCount: 1 })).toBe('held');
    expect(api.calls).toBe(2);
    const [copy] = h.queue.drain();
    expect(copy).toEqual({ ...h.messages[1], creditHolds: 1 });
    expect(copy.holds).toBeUndefined(); // a credit hold does not count toward MAX_BATCH_HOLDS
    expect(h.queue.delays).toEqual([150]); // the pause left (300 s), at most the maximum
    expect(h.metrics.emit).toHaveBeenCalledWith('batchHeld', 1, { reason: 'credits' });
    expect(store.item).toMatchObject({ reason: 'credits', openUntil: time.now + 300_000 });
    // Nothing failed, nothing recorded; the request was touched (reconcile sees it alive).
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 1, failedBatches: 0 });
    expect(h.status.only().updatedAt > touchedBefore).toBe(true);
    expect(h.store.json(keys.batchProgress(h.requestId, 1))).toMatchObject({ callsSpent: 0, permanentFailures: 0 });

    // The copy comes back while the pause runs: no call at all, held again (its second credit hold).
    expect(await processBatch(copy, deps, { receiveCount: 1 })).toBe('held');
    expect(api.calls).toBe(2);
    const [again] = h.queue.drain();
    expect(again.creditHolds).toBe(2);

    // Topped up, and the interval is over: the copy (received for the first time) makes the trial, which closes the
    // gate, and finishes the request with every contact enriched or not found.
    api.answer = 'ok';
    time.now += 300_000;
    expect(await processBatch(again, deps, { receiveCount: 1 })).toBe('recorded');
    expect(api.calls).toBe(3);
    expect(store.item.openUntil).toBeUndefined();
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 2, failedBatches: 0 });
  });

  it('a held copy goes on from the progress kept: the contacts settled before the 402 are not called again', async () => {
    const { h, api, time, deps } = await setup(100);
    // The whole batch fails twice (its own failures), is split: one half is enriched, the other meets the 402.
    api.script = ['down', 'down', 'ok', 'credits'];
    expect(await processBatch(h.messages[0], deps, { receiveCount: 1 })).toBe('held');
    expect(api.sizes).toEqual([100, 100, 50, 50]);
    const [copy] = h.queue.drain();
    expect(copy.creditHolds).toBe(1);
    time.now += 300_000;
    expect(await processBatch(copy, deps, { receiveCount: 1 })).toBe('recorded');
    expect(api.sizes.slice(4)).toEqual([50]);
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 1, failedBatches: 0 });
  });

  it('a batch whose only failures were 429s is held, not handed back, and its contacts are not failed', async () => {
    const { h, api, deps } = await setup(100);
    api.answer = 'rate_limit';
    // 10 s of budget cannot wait out the provider's 60 s.
    const budget = { remainingMs: () => 10_000 };
    expect(await processBatch(h.messages[0], deps, { receiveCount: 1, budget })).toBe('held');
    expect(api.calls).toBe(1);
    expect(h.queue.drain()).toEqual([{ ...h.messages[0], holds: 1 }]);
    // The provider's 60 s, and up to 20% jitter.
    expect(h.queue.delays).toHaveLength(1);
    expect(h.queue.delays[0]).toBeGreaterThanOrEqual(60);
    expect(h.queue.delays[0]).toBeLessThanOrEqual(72);
    expect(h.metrics.emit).toHaveBeenCalledWith('batchHeld', 1, { reason: 'rate_limit' });
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 0, failedBatches: 0 });
  });

  it("a batch whose calls alone failed pauses this instance only: held MAX_OWN_HOLDS times, then back to SQS (the DLQ's path)", async () => {
    const { h, api, time, store, deps } = await setup(200);
    api.answer = 'down';
    // Its own failures pause this instance: held (it may be an outage it saw first), the fleet not paused.
    expect(await processBatch(h.messages[0], deps, { receiveCount: 1 })).toBe('held');
    expect(store.writes).toBe(0);
    let [copy] = h.queue.drain();
    const outageSince = h.clock.now().toISOString();
    expect(copy).toEqual({ ...h.messages[0], ownHolds: 1, outageSince });
    const calls = api.calls;
    // Another batch meeting the pause is held as for any pause (not its doing), counted in `holds`.
    expect(await processBatch(h.messages[1], deps, { receiveCount: 1 })).toBe('held');
    expect(h.queue.drain()).toEqual([{ ...h.messages[1], holds: 1, outageSince }]);
    expect(h.metrics.emit).toHaveBeenCalledWith('batchHeld', 1, { reason: 'outage' });
    // Its copies meet the pause its own failures caused: held again, no call, until MAX_OWN_HOLDS.
    for (let n = 2; n <= MAX_OWN_HOLDS; n++) {
      expect(await processBatch(copy, deps, { receiveCount: 1 })).toBe('held');
      [copy] = h.queue.drain();
      expect(copy.ownHolds).toBe(n);
    }
    expect(api.calls).toBe(calls);
    await expect(processBatch(copy, deps, { receiveCount: 1 })).rejects.toThrow(EnrichmentPausedError);
    expect(h.queue.drain()).toEqual([]);
    // After the cool-down, its own trial fails: its own failure again, handed back, its contacts still pending.
    time.now += 30_000;
    await expect(processBatch(copy, deps, { receiveCount: 2 })).rejects.toThrow(EnrichmentPausedError);
    expect(api.calls).toBe(calls + 1);
    expect(store.writes).toBe(0);
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 0, failedBatches: 0 });
  });

  it('an outage (the calls of two batches failing) pauses the fleet: no receive spent, a batch that failed is held again as any other', async () => {
    const { h, api, store, deps } = await setup(200);
    api.answer = 'down';
    const handled = await Promise.all(h.messages.map((m) => processBatch(m, deps, { receiveCount: 1 })));
    expect(handled).toEqual(h.messages.map(() => 'held'));
    expect(store.item).toMatchObject({ reason: 'outage' });
    const copies = h.queue.drain();
    expect(copies.map((c) => c.ownHolds)).toEqual(h.messages.map(() => 1));
    const calls = api.calls;
    expect(await processBatch(copies[0], deps, { receiveCount: 1 })).toBe('held');
    expect(api.calls).toBe(calls);
    // The fleet's pause, not its own doing: counted in `holds`, its own holds unchanged.
    expect(h.queue.drain()).toEqual([{ ...copies[0], holds: 1 }]);
  });

  it("the fleet's trial failing is not the trial batch's own failure: held as any other, no receive spent", async () => {
    const { h, api, time, store, deps } = await setup(200);
    api.answer = 'down';
    await Promise.all(h.messages.map((m) => processBatch(m, deps, { receiveCount: 1 })));
    expect(store.item).toMatchObject({ reason: 'outage' });
    const copies = h.queue.drain();
    // The cool-down over, one copy makes the fleet's one trial call, which fails: the outage goes on.
    time.now += 30_000;
    const calls = api.calls;
    expect(await processBatch(copies[1], deps, { receiveCount: 1 })).toBe('held');
    expect(api.calls).toBe(calls + 1);
    expect(h.queue.drain()).toEqual([{ ...copies[1], holds: 1 }]);
    expect(store.item).toMatchObject({ reason: 'outage' });
  });

  it('the status of a processing request says what it waits for; a final one says nothing', () => {
    const record = {
      requestId: 'r',
      status: 'processing' as const,
      createdAt: 'a',
      updatedAt: 'b',
      totalContacts: 1,
      totalBatches: 1,
      processedBatches: 0,
      failedBatches: 0,
      fields: ['job_title' as const],
      inputFileKey: 'r/input.json',
      outputFileKey: 'r/output.json',
      deadlineAt: 'c',
      expiresAt: 1,
    };
    const waiting = { waitingFor: 'provider_credits' as const, waitingSince: '2026-12-01T00:00:00.000Z' };
    expect(toStatusResponse(record, 'u', 0, waiting)).toMatchObject(waiting);
    expect(toStatusResponse({ ...record, status: 'completed' }, 'u', 0, waiting)).not.toHaveProperty('waitingFor');
    expect(toStatusResponse(record, 'u')).not.toHaveProperty('waitingFor');
  });
});
