import { cancelEnrichment } from '../../../src/core/cancel';
import { createEnrichment, type CreateDeps } from '../../../src/core/createEnrichment';
import { EnrichmentError } from '../../../src/core/errors';
import { renderInput } from '../../../src/core/inputFile';
import { runIntake } from '../../../src/core/intake';
import { noFaults } from '../../../src/core/ports';
import { failBatch, processBatch, type StoredProgress, type WorkerDeps } from '../../../src/core/processBatch';
import { reconcileRequest } from '../../../src/core/reconcile';
import { HttpError } from '../../../src/core/retry';
import { keys, toStatusResponse } from '../../../src/core/status';
import { mockEnrichContact } from '../../../src/handlers/mockData';
import type { Contact, EnrichField, OutputRow } from '../../../src/schemas/contact';
import type { BatchMessage } from '../../../src/schemas/message';
import { makeContacts } from '../../support/factories';
import {
  FakeEnrichmentApi,
  intakeDepsFor,
  ManualClock,
  MemoryObjectStore,
  MemoryQueue,
  MemoryStatusStore,
  NO_RETRY_DELAY,
  recordingLogger,
} from '../../support/fakes';
import type { OutputDoc } from '../../support/output';
import { FIELDS, REQUEST_ID, seededRequest } from '../../support/workerHarness';

type Harness = Awaited<ReturnType<typeof seededRequest>>;
const cancelDeps = (h: Harness) => ({ status: h.status, clock: h.clock, log: h.log, metrics: h.metrics });

/** Every input contact once, in order, and the statuses the rows hold. */
function rowsOf(h: Harness): { doc: OutputDoc; statuses: string[] } {
  const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
  const rows = doc.enriched_contacts;
  expect(rows.map((r) => [r.first_name, r.last_name, r.company_domain])).toEqual(
    h.contacts.map((c) => [c.first_name, c.last_name, c.company_domain]),
  );
  return { doc, statuses: rows.map((r) => r.enrichment_status) };
}

describe('cancelEnrichment', () => {
  it('marks a running request cancelling, answers a second cancel the same, and 404s another key', async () => {
    const h = await seededRequest(300);
    h.status.records.get(REQUEST_ID)!.owner = 'owner-a';
    await expect(cancelEnrichment(REQUEST_ID, 'owner-b', cancelDeps(h))).rejects.toMatchObject({ kind: 'not_found' });
    expect(h.status.only().cancelRequestedAt).toBeUndefined();

    const first = await cancelEnrichment(REQUEST_ID, 'owner-a', cancelDeps(h));
    expect(first.outcome).toBe('accepted');
    expect(toStatusResponse(first.record, 'url').status).toBe('cancelling');
    const again = await cancelEnrichment(REQUEST_ID, 'owner-a', cancelDeps(h));
    expect(again.outcome).toBe('cancelling');
    expect(h.metrics.emit).toHaveBeenCalledWith('requestCancel', 1, { result: 'accepted' });
    expect(h.metrics.emit).toHaveBeenCalledWith('requestCancel', 1, { result: 'repeated' });
  });

  it('answers a final request with a conflict naming its status', async () => {
    const h = await seededRequest(150);
    for (const m of h.messages) await processBatch(m, h.worker());
    expect(h.status.only().status).toBe('completed');
    const err = await cancelEnrichment(REQUEST_ID, undefined, cancelDeps(h)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnrichmentError);
    expect(err).toMatchObject({ kind: 'request_final', message: expect.stringContaining('completed') });
  });
});

describe('a cancelled request', () => {
  it('has its workers record its batches without the provider, and ends cancelled with every contact once', async () => {
    const h = await seededRequest(350);
    expect(await processBatch(h.messages[0], h.worker())).toBe('recorded');
    await cancelEnrichment(REQUEST_ID, undefined, cancelDeps(h));
    const calls = h.api.calls.length;
    for (const m of h.messages.slice(1)) expect(await processBatch(m, h.worker())).toBe('cancelled');
    expect(h.api.calls).toHaveLength(calls);

    const record = h.status.only();
    expect(record.status).toBe('cancelled');
    const { doc, statuses } = rowsOf(h);
    expect(statuses.slice(100).every((s) => s === 'cancelled')).toBe(true);
    expect(doc.enriched_contacts.slice(0, 100)).toEqual(
      h.contacts.slice(0, 100).map((c) => expect.objectContaining({ ...mockEnrichContact(c, FIELDS), ...c })),
    );
    const summary = doc.summary as OutputDoc['summary'] & { cancelled: number };
    expect(summary.cancelled).toBe(250);
    expect(summary.enriched + summary.not_found + summary.failed + summary.cancelled).toBe(350);
    expect(summary.total).toBe(350);
    const response = toStatusResponse(record, 'url');
    expect(response.summary).toMatchObject({ cancelled: 250 });
    expect(response.downloadUrls).toBeDefined();
    const u = record.usage!;
    expect(u.cacheHits + u.matches + u.notFound + u.failed + (u.cancelled ?? 0)).toBe(350);
    expect(u.cancelled).toBe(250);
    // Once cancelled, a cancel answers it again (200 at the edge).
    expect((await cancelEnrichment(REQUEST_ID, undefined, cancelDeps(h))).outcome).toBe('cancelled');
  });

  it('keeps the rows a held batch settled before the cancel and cancels only the rest', async () => {
    const h = await seededRequest(100);
    const settled = h.contacts.slice(0, 40).map((c) => ({ ...c, ...mockEnrichContact(c, FIELDS), source: 'provider' }));
    await h.store.putJson(keys.batchProgress(REQUEST_ID, 0), {
      requestId: REQUEST_ID,
      batchIndex: 0,
      rows: [...settled, ...Array.from({ length: 60 }, () => null)] as (OutputRow | null)[],
      pending: [{ at: Array.from({ length: 60 }, (_, i) => 40 + i), depth: 0, attempts: 0 }],
      callsSpent: 1,
      permanentFailures: 0,
      usage: { providerCalls: 1, contactsSent: 100, rateLimitWaitMs: 0 },
    } satisfies StoredProgress);
    await cancelEnrichment(REQUEST_ID, undefined, cancelDeps(h));
    expect(await processBatch({ ...h.messages[0], holds: 1 }, h.worker())).toBe('cancelled');
    expect(h.api.calls).toHaveLength(0);
    const { statuses } = rowsOf(h);
    expect(statuses.slice(0, 40).every((s) => s !== 'cancelled')).toBe(true);
    expect(statuses.slice(40).every((s) => s === 'cancelled')).toBe(true);
    expect(h.status.only()).toMatchObject({ status: 'cancelled', cancelledContacts: 60 });
    expect(h.status.only().usage).toMatchObject({ providerCalls: 1, cancelled: 60 });
  });

  it('has a dead-lettered batch of it recorded cancelled, not failed', async () => {
    const h = await seededRequest(100);
    await cancelEnrichment(REQUEST_ID, undefined, cancelDeps(h));
    expect(await failBatch(h.messages[0], 'kept failing', h.worker())).toBe('cancelled');
    const { statuses } = rowsOf(h);
    expect(statuses.every((s) => s === 'cancelled')).toBe(true);
    expect(h.status.only()).toMatchObject({ status: 'cancelled', failedBatches: 0, cancelledContacts: 100 });
  });

  it('is finished by reconcile once quiet: its missing batches recorded as cancelled, none re-sent', async () => {
    const h = await seededRequest(300);
    await processBatch(h.messages[1], h.worker());
    await cancelEnrichment(REQUEST_ID, undefined, cancelDeps(h));
    h.clock.advance(301_000);
    const report = await reconcileRequest(h.status.only(), h.reconciler());
    expect(report).toMatchObject({ action: 'cancelled', cancelledBatches: [0, 2], resentBatches: [] });
    expect(h.queue.sent).toHaveLength(0);
    const { statuses } = rowsOf(h);
    expect(statuses.filter((s) => s === 'cancelled')).toHaveLength(200);
    expect(statuses.slice(100, 200).every((s) => s !== 'cancelled')).toBe(true);
    expect(h.status.only().status).toBe('cancelled');
  });
});

describe('a cancel that lands while a batch is being worked on', () => {
  const cancelNow = (h: Harness) => h.status.requestCancel(REQUEST_ID, h.clock.now().toISOString());
  const retrying = { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 };

  it('stops its retries: the flag is read again before a retry, and the batch is recorded cancelled', async () => {
    const h = await seededRequest(100);
    let calls = 0;
    // The cancel lands during the first call, which then fails (500): the retry must not go out.
    const api = {
      async enrich(contacts: Contact[], fields: EnrichField[]) {
        calls += 1;
        if (calls > 1) return contacts.map((c) => mockEnrichContact(c, fields));
        await cancelNow(h);
        throw new HttpError(500, 'enrichment API answered 500');
      },
    };
    expect(await processBatch(h.messages[0], { ...h.worker(), api, retry: retrying })).toBe('cancelled');
    expect(calls).toBe(1);
    expect(h.status.only().status).toBe('cancelled');
    expect(new Set(rowsOf(h).statuses)).toEqual(new Set(['cancelled']));
  });

  it('settles a batch a pause stopped instead of holding it, when the request was cancelled meanwhile', async () => {
    const h = await seededRequest(100);
    // No tokens (a pause past the budget): the batch would be held; the cancel landed while it waited.
    const limiter = {
      async take() {
        await cancelNow(h);
        return false;
      },
      async pause() {},
    };
    expect(await processBatch(h.messages[0], { ...h.worker(), queue: h.queue, limiter })).toBe('cancelled');
    expect(h.queue.drain()).toEqual([]);
    expect(h.api.calls).toHaveLength(0);
    expect(h.status.only().status).toBe('cancelled');
  });

  it('reads nothing more on the healthy path: one look-up of the request per batch', async () => {
    const h = await seededRequest(100);
    const lookups = jest.spyOn(h.status, 'lookupBatch');
    expect(await processBatch(h.messages[0], { ...h.worker(), retry: retrying })).toBe('recorded');
    expect(lookups).toHaveBeenCalledTimes(1);
  });
});

describe('an upload cancelled while its intake sends', () => {
  it('has its intake record the batches it did not send as cancelled, and ends cancelled with every contact once', async () => {
    const contacts = makeContacts(550);
    const store = new MemoryObjectStore();
    const status = new MemoryStatusStore();
    const clock = new ManualClock();
    const log = recordingLogger();
    const api = new FakeEnrichmentApi();
    const queue = new MemoryQueue();
    const worker: WorkerDeps = { store, status, clock, log, faults: noFaults, api, retry: NO_RETRY_DELAY };
    // The first group goes out and is enriched; then the caller cancels.
    const sending = {
      sent: [] as BatchMessage[],
      async send(messages: BatchMessage[]) {
        this.sent.push(...messages);
        if (this.sent.length > messages.length) return queue.send(messages);
        for (const m of messages) await processBatch(m, worker);
        await cancelEnrichment('r-1', undefined, { status, clock, log });
      },
    };
    const deps: CreateDeps = {
      store,
      status,
      queue,
      intakeQueue: { send: async () => undefined },
      clock,
      log,
      bucket: 'unit-bucket',
      batchSize: 100,
      deadlineSeconds: 3600,
      ttlDays: 30,
      newId: () => 'r-1',
    };
    await store.upload('uploads/c.json', renderInput(contacts, ['job_title']));
    await createEnrichment({ contacts: 'uploads/c.json', fields_to_enrich: FIELDS }, deps);
    expect(await runIntake('r-1', intakeDepsFor({ ...deps, queue: sending }, { sendGroupBatches: 2 }))).toBe(
      'processing',
    );
    // Sent: the first group, and after the move to processing the nudge (the last batch again); 2 to 4 never.
    expect(sending.sent.map((m) => m.batchIndex)).toEqual([0, 1, 5]);
    expect(api.calls).toHaveLength(2);
    // Every batch counted while validating: the intake's nudge (a duplicate of the last batch) has it assembled.
    for (const m of queue.drain()) await processBatch(m, worker);
    expect(api.calls).toHaveLength(2);
    const record = status.records.get('r-1')!;
    expect(record).toMatchObject({ status: 'cancelled', cancelledContacts: 350 });
    const rows = store.json<OutputDoc>(keys.output('r-1'))!.enriched_contacts;
    expect(rows.map((r) => r.last_name)).toEqual(contacts.map((c) => c.last_name));
    expect(rows.slice(0, 200).every((r) => r.enrichment_status !== 'cancelled')).toBe(true);
    expect(rows.slice(200).every((r) => r.enrichment_status === 'cancelled')).toBe(true);
  });
});
