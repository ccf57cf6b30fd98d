import { BatchOutOfTimeError, EnrichmentUnavailableError } from '../../../src/core/errors';
import {
  failBatch,
  invocationRecorder,
  processBatch,
  type StoredProgress,
  type WorkerDeps,
} from '../../../src/core/processBatch';
import { reconcileRequest } from '../../../src/core/reconcile';
import type { RetryPolicy } from '../../../src/core/retry';
import type { BatchGroupResult } from '../../../src/core/output';
import { keys } from '../../../src/core/status';
import { isHangingContact, isPoisonContact } from '../../../src/handlers/mockData';
import { crashOnceAt, FakeEnrichmentApi, HangingEnrichmentApi, VirtualClock } from '../../support/fakes';
import type { OutputRow } from '../../../src/schemas/contact';
import type { BatchMessage } from '../../../src/schemas/message';
import { FIELDS, REQUEST_ID, seededRequest } from '../../support/workerHarness';
import { makeContacts } from '../../support/factories';
import { expectOutput, type OutputDoc } from '../../support/output';

describe('processBatch', () => {
  it('enriches a batch, stores its result under its own key and counts it', async () => {
    const h = await seededRequest(250);
    expect(await processBatch(h.messages[1], h.worker())).toBe('recorded');
    const result = h.store.json(keys.batch(REQUEST_ID, 1));
    expect(result.batchIndex).toBe(1);
    expect(result.rows.map((r: { first_name: string }) => r.first_name)).toEqual(
      h.contacts.slice(100, 200).map((c) => c.first_name),
    );
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 1, failedBatches: 0 });
    expect([...h.status.only().doneBatches!]).toEqual([1]);
    expect(h.api.calls).toHaveLength(1);
    expect(h.metrics.emit).toHaveBeenCalledWith('contactsFailed', 0);
  });

  it('finishes the request when the last batch is recorded: output in input order, status completed', async () => {
    const h = await seededRequest(250);
    for (const m of [h.messages[2], h.messages[0], h.messages[1]]) await processBatch(m, h.worker());
    const record = h.status.only();
    expect(record).toMatchObject({ status: 'completed', processedBatches: 3, failedBatches: 0 });
    const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
    expectOutput(doc, { contacts: h.contacts, fields: FIELDS });
    expect(doc.summary.enriched + doc.summary.not_found).toBe(250);
    expect(record.enrichedContacts).toBe(doc.summary.enriched);
    expect(record.notFoundContacts).toBe(doc.summary.not_found);
  });

  it('does not count a redelivered batch twice', async () => {
    const h = await seededRequest(250);
    expect(await processBatch(h.messages[0], h.worker())).toBe('recorded');
    expect(await processBatch(h.messages[0], h.worker())).toBe('duplicate');
    expect(h.status.only()).toMatchObject({ processedBatches: 1, failedBatches: 0 });
    expect(h.api.calls).toHaveLength(1); // the duplicate skips the API
  });

  it('counts concurrent duplicates once and still completes correctly', async () => {
    const h = await seededRequest(250);
    const deliveries = [...h.messages, ...h.messages, h.messages[1]];
    const outcomes = await Promise.all(deliveries.map((m) => processBatch(m, h.worker())));
    expect(outcomes.filter((o) => o === 'recorded')).toHaveLength(3);
    const record = h.status.only();
    expect(record).toMatchObject({ status: 'completed', processedBatches: 3, failedBatches: 0 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('fails only the poison contacts and ends completed_with_errors', async () => {
    const contacts = makeContacts(120);
    contacts[42] = { ...contacts[42], company_domain: 'bad42.invalid' };
    const h = await seededRequest(0, { contacts, isPoison: isPoisonContact });
    for (const m of h.messages) await processBatch(m, h.worker());
    const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
    expectOutput(doc, { contacts, fields: FIELDS });
    expect(doc.enriched_contacts.flatMap((r, i) => (r.enrichment_status === 'failed' ? [i] : []))).toEqual([42]);
    expect(h.status.only()).toMatchObject({ status: 'completed_with_errors', failedContacts: 1, failedBatches: 0 });
  });

  it('recovers when the worker crashed after counting the last batch, on redelivery', async () => {
    const h = await seededRequest(150);
    await processBatch(h.messages[0], h.worker());
    const crash = crashOnceAt('worker:after-record');
    await expect(processBatch(h.messages[1], h.worker(crash))).rejects.toThrow(/crash/);
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 2 });

    expect(await processBatch(h.messages[1], h.worker())).toBe('duplicate');
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 2 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('recounts nothing when it crashed after writing the result but before counting', async () => {
    const h = await seededRequest(150);
    const crash = crashOnceAt('worker:after-result-write');
    await expect(processBatch(h.messages[0], h.worker(crash))).rejects.toThrow(/crash/);
    expect(h.status.only().processedBatches).toBe(0);
    expect(await processBatch(h.messages[0], h.worker())).toBe('recorded');
    expect(await processBatch(h.messages[1], h.worker())).toBe('recorded');
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 2 });
  });

  it('drops batches of unknown or finished requests without calling the API', async () => {
    const h = await seededRequest(100);
    expect(
      await processBatch({ ...h.messages[0], requestId: 'a1b2c3d4-0000-4000-8000-000000000000' }, h.worker()),
    ).toBe('unknown-request');
    await processBatch(h.messages[0], h.worker());
    const calls = h.api.calls.length;
    expect(await processBatch(h.messages[0], h.worker())).toBe('request-final');
    expect(h.api.calls).toHaveLength(calls);
    expect(h.log.entries.some((e) => e.msg.includes('unknown request'))).toBe(true);
  });

  it('never logs contact data', async () => {
    const contacts = makeContacts(10);
    contacts[3] = { ...contacts[3], company_domain: 'x.invalid' };
    const h = await seededRequest(0, { contacts, isPoison: isPoisonContact });
    await processBatch(h.messages[0], h.worker());
    expect(JSON.stringify(h.log.entries)).not.toMatch(/First\d|Last\d|example\.com|x\.invalid/);
  });
});

describe('failBatch (dead-letter queue)', () => {
  it('writes every contact as failed under the failure key and counts the batch as failed once', async () => {
    const h = await seededRequest(250);
    expect(await failBatch(h.messages[2], 'moved to DLQ', h.worker())).toBe('recorded');
    expect(await failBatch(h.messages[2], 'moved to DLQ', h.worker())).toBe('duplicate');
    const failed = h.store.json(keys.failedBatch(REQUEST_ID, 2));
    expect(failed.rows).toHaveLength(50);
    expect(
      failed.rows.every(
        (r: { enrichment_status: string; failure_reason: string; professional_email: null }) =>
          r.enrichment_status === 'failed' && r.failure_reason === 'moved to DLQ' && r.professional_email === null,
      ),
    ).toBe(true);
    expect(h.status.only()).toMatchObject({ processedBatches: 0, failedBatches: 1 });
    expect(h.api.calls).toHaveLength(0);
  });

  it('leaves a batch a worker already recorded alone', async () => {
    const h = await seededRequest(250);
    await processBatch(h.messages[0], h.worker());
    expect(await failBatch(h.messages[0], 'moved to DLQ', h.worker())).toBe('duplicate');
    expect(h.store.text(keys.failedBatch(REQUEST_ID, 0))).toBeUndefined();
    expect(h.status.only()).toMatchObject({ processedBatches: 1, failedBatches: 0 });
  });

  it('finishes the request: failed when every batch failed, completed_with_errors when some did', async () => {
    const all = await seededRequest(150);
    for (const m of all.messages) await failBatch(m, 'dlq', all.worker());
    expect(all.status.only()).toMatchObject({ status: 'failed', failedBatches: 2, failedContacts: 150 });
    expectOutput(all.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: all.contacts, fields: FIELDS });

    const some = await seededRequest(150);
    await processBatch(some.messages[0], some.worker());
    await failBatch(some.messages[1], 'dlq', some.worker());
    expect(some.status.only()).toMatchObject({
      status: 'completed_with_errors',
      processedBatches: 1,
      failedBatches: 1,
      failedContacts: 50,
    });
  });
});

describe('processBatch under a time budget (virtual clock, one .hang contact)', () => {
  const HANG = 37;
  const POLICY: RetryPolicy = {
    maxAttempts: 4,
    subBatchMaxAttempts: 2,
    singleContactMaxAttempts: 8,
    baseDelayMs: 0,
    maxDelayMs: 0,
    callTimeoutMs: 500,
  };
  const RESERVE = 2_000;

  async function hangingRequest() {
    const contacts = makeContacts(100);
    contacts[HANG] = { ...contacts[HANG], company_domain: `x${HANG}.hang` };
    const h = await seededRequest(0, { contacts });
    const time = new VirtualClock(); // drives the API and the budget; h.clock stays the status clock
    const api = new HangingEnrichmentApi(time, isHangingContact);
    const deps: WorkerDeps = { ...h.worker(), api, retry: POLICY, timeReserveMs: RESERVE };
    return { ...h, time, api, deps, message: h.messages[0] };
  }
  const kept = (h: { store: { json<T>(k: string): T | undefined } }) =>
    h.store.json<StoredProgress>(keys.batchProgress(REQUEST_ID, 0));
  const settled = (p: StoredProgress | undefined) => new Set((p?.rows ?? []).flatMap((r, i) => (r ? [i] : [])));

  it('out of time: keeps the reserve free, stores what it settled, records nothing and throws for redelivery', async () => {
    const h = await hangingRequest();
    const budget = h.time.budget(6_000);
    await expect(processBatch(h.message, h.deps, { budget, receiveCount: 1 })).rejects.toBeInstanceOf(
      BatchOutOfTimeError,
    );

    for (const call of h.api.calls)
      expect(call.startedAt + call.timeoutMs!).toBeLessThanOrEqual(budget.deadline - RESERVE);
    const progress = kept(h)!;
    expect(progress).toMatchObject({ requestId: REQUEST_ID, batchIndex: 0 });
    expect(progress.rows[HANG]).toBeNull();
    expect(settled(progress).size).toBeGreaterThanOrEqual(50);
    expect(progress.rows.some((r) => r?.enrichment_status === 'failed')).toBe(false);
    expect(progress.pending.flatMap((p) => p.at)).toContain(HANG);
    expect(h.store.text(keys.batch(REQUEST_ID, 0))).toBeUndefined();
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 0, failedBatches: 0 });
    expect(h.metrics.emit).toHaveBeenCalledWith('batchOutOfTime', 1);
  });

  it('redeliveries go on from the kept progress, never re-call a settled contact, and fail only the hanging one', async () => {
    const h = await hangingRequest();
    let receiveCount = 0;
    let outcome: string | undefined;
    while (!outcome && receiveCount < 10) {
      receiveCount += 1;
      const before = settled(kept(h));
      const callsBefore = h.api.calls.length;
      outcome = await processBatch(h.message, h.deps, { budget: h.time.budget(6_000), receiveCount }).catch(
        (err: unknown) => {
          expect(err).toBeInstanceOf(BatchOutOfTimeError);
          return undefined;
        },
      );
      for (const call of h.api.calls.slice(callsBefore))
        expect(call.contacts.filter((c) => before.has(h.contacts.indexOf(c)))).toEqual([]);
    }
    expect(outcome).toBe('recorded');
    expect(receiveCount).toBeGreaterThan(1);
    const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
    expectOutput(doc, { contacts: h.contacts, fields: FIELDS });
    expect(doc.enriched_contacts.flatMap((r, i) => (r.enrichment_status === 'failed' ? [i] : []))).toEqual([HANG]);
    expect(doc.enriched_contacts[HANG]).toMatchObject({ failure_reason: 'enrichment API timed out' });
    expect(h.status.only()).toMatchObject({ status: 'completed_with_errors', processedBatches: 1, failedContacts: 1 });
  });

  it('a first delivery does not look for kept progress (no read on the happy path)', async () => {
    const h = await hangingRequest();
    await processBatch(h.message, h.deps, { budget: h.time.budget(6_000), receiveCount: 1 }).catch(() => undefined);
    const callsBefore = h.api.calls.length;
    await processBatch(h.message, h.deps, { budget: h.time.budget(6_000), receiveCount: 1 }).catch(() => undefined);
    // Started over: the whole batch was called again.
    expect(h.api.calls.slice(callsBefore)[0].contacts).toHaveLength(100);
  });

  it('with less time left than the reserve, calls nothing and loses nothing', async () => {
    const h = await hangingRequest();
    await expect(
      processBatch(h.message, h.deps, { budget: h.time.budget(RESERVE - 1), receiveCount: 1 }),
    ).rejects.toBeInstanceOf(BatchOutOfTimeError);
    expect(h.api.calls).toEqual([]);
    expect(kept(h)!.pending).toEqual([{ at: h.contacts.map((_, i) => i), depth: 0, attempts: 0 }]);
  });

  it('the DLQ handler keeps the rows the worker settled and fails only the others', async () => {
    const h = await hangingRequest();
    await processBatch(h.message, h.deps, { budget: h.time.budget(6_000), receiveCount: 1 }).catch(() => undefined);
    const settledRows = settled(kept(h));
    expect(await failBatch(h.message, 'moved to DLQ', h.deps)).toBe('recorded');

    const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
    expectOutput(doc, { contacts: h.contacts, fields: FIELDS });
    doc.enriched_contacts.forEach((row, i) => {
      if (settledRows.has(i)) expect(row).toEqual(kept(h)!.rows[i]);
      else expect(row).toMatchObject({ enrichment_status: 'failed', failure_reason: 'moved to DLQ' });
    });
    expect(h.status.only()).toMatchObject({
      status: 'completed_with_errors',
      failedBatches: 1,
      failedContacts: 100 - settledRows.size,
    });
  });

  it('kept progress is not a batch result: reconcile re-sends the batch instead of counting it', async () => {
    const h = await hangingRequest();
    await processBatch(h.message, h.deps, { budget: h.time.budget(6_000), receiveCount: 1 }).catch(() => undefined);
    expect(kept(h)).toBeDefined();
    h.clock.advance(301_000); // past RECONCILE_STALL_SECONDS
    const report = await reconcileRequest(h.status.only(), h.reconciler());
    expect(report).toMatchObject({ action: 'resent', resentBatches: [0], recoveredBatches: [] });
    expect(h.status.only()).toMatchObject({ processedBatches: 0, failedBatches: 0 });
  });
});

describe('usage per batch: carried across deliveries into the batch result, counted once', () => {
  const sent = (calls: { length: number }[]) => calls.reduce((n, c) => n + c.length, 0);

  /** Grants `grants` takes, each after `waitMs` on the status clock, then refuses (no tokens within the budget). */
  function limiterOf(clock: { advance(ms: number): void }, grants: number, waitMs: number) {
    let left = grants;
    return {
      take: async () => {
        if (left <= 0) return false;
        left -= 1;
        clock.advance(waitMs);
        return true;
      },
      pause: async () => undefined,
    };
  }

  it('a hold keeps the calls made before it: the held copy adds its own, the result and the status count both', async () => {
    const contacts = makeContacts(100);
    contacts[10] = { ...contacts[10], company_domain: 'bad10.invalid' };
    const h = await seededRequest(0, { contacts, isPoison: isPoisonContact });
    // 3 takes: the batch twice (500: the poison), then [0-49]; [50-99] and the retry of [0-49] find no tokens.
    const first = { ...h.worker(), queue: h.queue, limiter: limiterOf(h.clock, 3, 100) };
    expect(await processBatch(h.messages[0], first)).toBe('held');
    const held = h.queue.drain();
    expect(held).toEqual([{ ...h.messages[0], holds: 1 }]);
    expect(h.api.calls.map((c) => c.length)).toEqual([100, 100, 50]);
    expect(h.store.json<StoredProgress>(keys.batchProgress(REQUEST_ID, 0))!.usage).toEqual({
      providerCalls: 3,
      contactsSent: 250,
      rateLimitWaitMs: 300,
    });
    expect(h.metrics.emit).toHaveBeenCalledWith('rateLimitWait', 300);

    // Tokens at once this time: the wait stays the first delivery's, and this delivery emits no wait point.
    const second = { ...h.worker(), queue: h.queue, limiter: limiterOf(h.clock, 100, 0) };
    expect(await processBatch(held[0], second)).toBe('recorded');
    expect(h.api.calls.length).toBeGreaterThan(3);
    expect(h.store.json(keys.batch(REQUEST_ID, 0)).usage).toEqual({
      providerCalls: h.api.calls.length,
      contactsSent: sent(h.api.calls),
      rateLimitWaitMs: 300,
    });
    expect(h.metrics.emit.mock.calls.filter(([key]) => key === 'rateLimitWait')).toEqual([['rateLimitWait', 300]]);
    const final = h.status.only();
    expect(final).toMatchObject({ status: 'completed_with_errors', failedContacts: 1 });
    expect(final.usage).toEqual({
      providerCalls: h.api.calls.length,
      contactsSent: sent(h.api.calls),
      cacheHits: 0,
      matches: final.enrichedContacts,
      notFound: final.notFoundContacts,
      failed: 1,
      rateLimitWaitMs: 300,
      estimatedCost: 0,
    });
  });

  it('an out-of-time redelivery goes on with the usage kept; the DLQ handler keeps it in the failure result', async () => {
    const make = async () => {
      const contacts = makeContacts(100);
      contacts[37] = { ...contacts[37], company_domain: 'x37.hang' };
      const h = await seededRequest(0, { contacts });
      const time = new VirtualClock();
      const api = new HangingEnrichmentApi(time, isHangingContact);
      const retry: RetryPolicy = { maxAttempts: 4, baseDelayMs: 0, maxDelayMs: 0, callTimeoutMs: 500 };
      return { ...h, time, api, deps: { ...h.worker(), api, retry, timeReserveMs: 2_000 } };
    };
    const contactsOf = (h: Awaited<ReturnType<typeof make>>) => h.api.calls.map((c) => c.contacts);

    const h = await make();
    let receiveCount = 0;
    let outcome: string | undefined;
    while (!outcome && receiveCount < 10) {
      receiveCount += 1;
      outcome = await processBatch(h.messages[0], h.deps, { budget: h.time.budget(6_000), receiveCount }).catch(
        () => undefined,
      );
    }
    expect(outcome).toBe('recorded');
    expect(receiveCount).toBeGreaterThan(1);
    expect(h.store.json(keys.batch(REQUEST_ID, 0)).usage).toEqual({
      providerCalls: h.api.calls.length,
      contactsSent: sent(contactsOf(h)),
      rateLimitWaitMs: 0,
    });
    expect(h.status.only().usage).toMatchObject({
      providerCalls: h.api.calls.length,
      contactsSent: sent(contactsOf(h)),
      failed: 1,
    });

    const dlq = await make();
    await expect(
      processBatch(dlq.messages[0], dlq.deps, { budget: dlq.time.budget(6_000), receiveCount: 1 }),
    ).rejects.toBeInstanceOf(BatchOutOfTimeError);
    expect(await failBatch(dlq.messages[0], 'moved to DLQ', dlq.deps)).toBe('recorded');
    expect(dlq.store.json(keys.failedBatch(REQUEST_ID, 0)).usage).toEqual({
      providerCalls: dlq.api.calls.length,
      contactsSent: sent(contactsOf(dlq)),
      rateLimitWaitMs: 0,
    });
    expect(dlq.status.only().usage).toMatchObject({ providerCalls: dlq.api.calls.length });
  });

  it('every contact failed, left for redelivery: the redelivery adds to the calls of the outage', async () => {
    const h = await seededRequest(100);
    const down = new FakeEnrichmentApi(() => true);
    await expect(processBatch(h.messages[0], { ...h.worker(), api: down })).rejects.toBeInstanceOf(
      EnrichmentUnavailableError,
    );
    expect(h.store.json<StoredProgress>(keys.batchProgress(REQUEST_ID, 0))!.usage).toEqual({
      providerCalls: down.calls.length,
      contactsSent: sent(down.calls),
      rateLimitWaitMs: 0,
    });
    expect(await processBatch(h.messages[0], h.worker(), { receiveCount: 2 })).toBe('recorded');
    expect(h.store.json(keys.batch(REQUEST_ID, 0)).usage).toEqual({
      providerCalls: down.calls.length + 1,
      contactsSent: sent(down.calls) + 100,
      rateLimitWaitMs: 0,
    });
  });

  it('the running usage counts a batch once: a redelivery of a recorded batch adds nothing', async () => {
    const h = await seededRequest(250);
    expect(await processBatch(h.messages[0], h.worker())).toBe('recorded');
    const rows = h.store.json<{ rows: OutputRow[] }>(keys.batch(REQUEST_ID, 0))!.rows;
    const once = {
      providerCalls: 1,
      contactsSent: 100,
      cacheHits: 0,
      matches: rows.filter((r) => r.enrichment_status === 'enriched').length,
      notFound: rows.filter((r) => r.enrichment_status === 'not_found').length,
      failed: 0,
      rateLimitWaitMs: 0,
    };
    expect(h.status.only().usage).toEqual(once);
    expect(await processBatch(h.messages[0], h.worker(), { receiveCount: 2 })).toBe('duplicate');
    expect(h.status.only().usage).toEqual(once);
    // Concurrent duplicates both call the provider; only the one that records the batch counts.
    const both = await Promise.all([processBatch(h.messages[1], h.worker()), processBatch(h.messages[1], h.worker())]);
    expect(both.sort()).toEqual(['duplicate', 'recorded']);
    expect(h.status.only().usage).toMatchObject({ providerCalls: 2, contactsSent: 200 });
    expect(h.metrics.emit).not.toHaveBeenCalledWith('rateLimitWait', expect.anything());
  });
});

describe("processBatch: an invocation's batches of one shard recorded by one update", () => {
  /** The messages as one invocation delivers them: each takes its seat before any starts. */
  const invocation = (messages: BatchMessage[], deps: WorkerDeps, receiveCount = 1) => {
    const recorder = invocationRecorder(deps);
    return Promise.allSettled(messages.map((m) => processBatch(m, deps, { receiveCount, seat: recorder.seat() })));
  };
  const records = (journal: string[]) => journal.filter((j) => j.startsWith('status.record'));
  const outcomes = (settled: PromiseSettledResult<string>[]) =>
    settled.map((s) => (s.status === 'fulfilled' ? s.value : 'failed'));

  it('records the batches of one shard with one update and completes the request exactly', async () => {
    const h = await seededRequest(450);
    expect(outcomes(await invocation(h.messages, h.worker()))).toEqual(Array(5).fill('recorded'));
    expect(records(h.status.journal)).toEqual(['status.record 0,1,2,3,4 together']);
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('a redelivery that meets a partly recorded shard: the recorded ones are duplicates, the others counted together', async () => {
    const h = await seededRequest(450);
    expect(outcomes(await invocation([h.messages[1], h.messages[3]], h.worker()))).toEqual(['recorded', 'recorded']);
    expect(records(h.status.journal)).toEqual(['status.record 1,3 together']);
    expect(outcomes(await invocation(h.messages, h.worker(), 2))).toEqual([
      'recorded',
      'duplicate',
      'recorded',
      'duplicate',
      'recorded',
    ]);
    // The recorded ones stop at their look-up (duplicates); the others are counted together.
    expect(records(h.status.journal)).toEqual(['status.record 1,3 together', 'status.record 0,2,4 together']);
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expect(h.status.only().usage).toMatchObject({ providerCalls: 5, contactsSent: 450 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('a grouped update that finds one of its batches counted meanwhile falls back to one update each', async () => {
    const h = await seededRequest(450);
    const deps = h.worker();
    // Batch 2 is counted by another worker after this invocation looked it up, before its grouped update.
    const recordBatches = h.status.recordBatches.bind(h.status);
    let raced = false;
    deps.status = Object.assign(Object.create(h.status), {
      recordBatches: async (...args: Parameters<typeof recordBatches>) => {
        if (!raced) {
          raced = true;
          await processBatch(h.messages[2], h.worker());
        }
        return recordBatches(...args);
      },
    });
    expect(outcomes(await invocation(h.messages, deps))).toEqual([
      'recorded',
      'recorded',
      'duplicate',
      'recorded',
      'recorded',
    ]);
    expect(records(h.status.journal)).toEqual([
      'status.record 2 processed',
      'status.record 0 processed',
      'status.record 1 processed',
      'status.record 3 processed',
      'status.record 4 processed',
    ]);
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expect(h.status.only().usage).toMatchObject({ contactsSent: 450 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('one message fails: the others are recorded together without it, and its redelivery completes the request', async () => {
    const h = await seededRequest(450);
    const crash = crashOnceAt('worker:after-enrich', (ctx) => ctx.batchIndex === 3);
    const settled = await invocation(h.messages, h.worker(crash));
    expect(outcomes(settled)).toEqual(['recorded', 'recorded', 'recorded', 'failed', 'recorded']);
    expect(records(h.status.journal)).toEqual(['status.record 0,1,2,4 together']);
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 4 });
    expect(outcomes(await invocation([h.messages[3]], h.worker(), 2))).toEqual(['recorded']);
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('a crash after the grouped update fails only its own message; promotion and assembly are repaired', async () => {
    const h = await seededRequest(450);
    // Batch 4, the highest, promotes the shard and has the output assembled: it crashes before.
    const crash = crashOnceAt('worker:after-shard-record', (ctx) => ctx.batchIndex === 4);
    expect(outcomes(await invocation(h.messages, h.worker(crash)))).toEqual([
      'recorded',
      'recorded',
      'recorded',
      'recorded',
      'failed',
    ]);
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 5 });
    expect(outcomes(await invocation([h.messages[4]], h.worker(), 2))).toEqual(['duplicate']);
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it("stores the shard's batches in one object, which the update names and the assembly reads once", async () => {
    const h = await seededRequest(450);
    expect(outcomes(await invocation(h.messages, h.worker()))).toEqual(Array(5).fill('recorded'));
    const puts = h.store.journal.filter((j) => j.startsWith('put ') && j.includes('/batches/'));
    expect(puts).toEqual([expect.stringMatching(/^put [^/]+\/batches\/g000000-[0-9a-f]{12}\.json$/)]);
    const groupKey = puts[0].slice('put '.length);
    expect(h.store.json<BatchGroupResult>(groupKey)!.batches.map((b) => b.batchIndex)).toEqual([0, 1, 2, 3, 4]);
    const groupId = /\/batches\/g(.+)\.json$/.exec(groupKey)![1];
    expect(await h.status.storedTogether(h.status.only())).toEqual(new Map([0, 1, 2, 3, 4].map((i) => [i, groupId])));
    for (let i = 0; i < 5; i++) expect(h.store.text(keys.batch(REQUEST_ID, i))).toBeUndefined();
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('a crash after the shared write leaves its batch out of the update: its copy in the object is never read', async () => {
    const h = await seededRequest(450);
    const crash = crashOnceAt('worker:after-result-write', (ctx) => ctx.batchIndex === 2);
    const settled = await invocation(h.messages, h.worker(crash));
    expect(outcomes(settled)).toEqual(['recorded', 'recorded', 'failed', 'recorded', 'recorded']);
    expect(records(h.status.journal)).toEqual(['status.record 0,1,3,4 together']);
    // The object holds batch 2 as written before the crash; only the update says which of its batches count.
    const groupKey = (await h.store.listKeys(keys.batchPrefix(REQUEST_ID))).find((k) => /\/batches\/g/.test(k))!;
    const group = h.store.json<BatchGroupResult>(groupKey)!;
    expect(group.batches.map((b) => b.batchIndex)).toEqual([0, 1, 2, 3, 4]);
    for (const row of group.batches[2].rows) row.enrichment_status = 'failed';
    h.store.put(groupKey, JSON.stringify(group));
    expect([...(await h.status.storedTogether(h.status.only())).keys()]).toEqual([0, 1, 3, 4]);

    // The redelivery stores and records batch 2 alone; the output takes it from its own key.
    expect(outcomes(await invocation([h.messages[2]], h.worker(), 2))).toEqual(['recorded']);
    expect(h.store.text(keys.batch(REQUEST_ID, 2))).toBeDefined();
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expect(h.status.only().failedContacts).toBe(0);
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('a dead-lettered batch whose result only a group object holds (a crash after the shared write) is counted as processed', async () => {
    const h = await seededRequest(450);
    const crash = crashOnceAt('worker:after-result-write', (ctx) => ctx.batchIndex === 2);
    expect(outcomes(await invocation(h.messages, h.worker(crash)))).toEqual([
      'recorded',
      'recorded',
      'failed',
      'recorded',
      'recorded',
    ]);
    expect(await failBatch(h.messages[2], 'maxReceiveCount', h.worker())).toBe('recorded');
    expect(h.store.text(keys.failedBatch(REQUEST_ID, 2))).toBeUndefined();
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('the same batch twice in one invocation is counted once', async () => {
    const h = await seededRequest(450);
    const settled = await invocation([...h.messages, h.messages[1]], h.worker());
    expect(outcomes(settled).sort()).toEqual([...Array(5).fill('recorded'), 'duplicate'].sort());
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });
});
