import { readFileSync } from 'node:fs';
import path from 'node:path';
import { METRICS } from '../../../src/core/metricNames';
import { processBatch } from '../../../src/core/processBatch';
import { assembleOutput } from '../../../src/core/assembleOutput';
import { reconcileAll, reconcileRequest } from '../../../src/core/reconcile';
import { keys } from '../../../src/core/status';
import { crashOnceAt, MemoryGateStore } from '../../support/fakes';
import { FIELDS, REQUEST_ID, seededRequest } from '../../support/workerHarness';
import { expectOutput, type OutputDoc } from '../../support/output';
import type { OutputRow } from '../../../src/schemas/contact';

const STALL_MS = 301_000;

/** A 450-contact request (5 batches) where only some batches went through. */
async function stalled(done: number[]) {
  const h = await seededRequest(450);
  for (const i of done) await processBatch(h.messages[i], h.worker());
  return h;
}

describe('reconcileRequest', () => {
  it('leaves a request alone while it is making progress', async () => {
    const h = await stalled([0, 1]);
    h.clock.advance(60_000);
    const report = await reconcileRequest(h.status.only(), h.reconciler());
    expect(report).toEqual({
      requestId: REQUEST_ID,
      action: 'none',
      resentBatches: [],
      recoveredBatches: [],
      expiredBatches: [],
    });
    expect(h.queue.sent).toHaveLength(0);
  });

  it('re-sends the batches that have no result, with the same contacts, and notes the visit', async () => {
    const h = await stalled([0, 1]);
    h.clock.advance(STALL_MS);
    const report = await reconcileRequest(h.status.only(), h.reconciler());
    expect(report.action).toBe('resent');
    expect(report.resentBatches).toEqual([2, 3, 4]);
    expect(h.queue.sent.map((m) => m.batchIndex)).toEqual([2, 3, 4]);
    for (const m of h.queue.sent) expect(m).toEqual(h.messages[m.batchIndex]);
    expect(h.status.only().updatedAt).toBe(h.clock.now().toISOString());

    // The visit counts as progress: an immediate second pass does nothing.
    expect((await reconcileRequest(h.status.only(), h.reconciler())).action).toBe('none');

    // Delivering the re-sent messages completes the request.
    for (const m of h.queue.drain()) await processBatch(m, h.worker());
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('re-reads input.json with the batch size the request was created with, not the current setting', async () => {
    const h = await stalled([0, 1, 2]);
    h.clock.advance(STALL_MS);
    await reconcileRequest(h.status.only(), { ...h.reconciler(), batchSize: 50 });
    for (const m of h.queue.sent) expect(m).toEqual(h.messages[m.batchIndex]);
    for (const m of h.queue.drain()) await processBatch(m, h.worker());
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('drops a batch index outside the request instead of counting it', async () => {
    const h = await stalled([0, 1, 2, 3]);
    expect(await processBatch({ ...h.messages[3], batchIndex: 7 }, h.worker())).toBe('out-of-range');
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 4 });
  });

  it('counts results that reached S3 but were never recorded, and re-sends only the rest', async () => {
    const h = await stalled([0]);
    await expect(processBatch(h.messages[2], h.worker(crashOnceAt('worker:after-result-write')))).rejects.toThrow(
      /crash/,
    );
    await h.store.putJson(keys.failedBatch(REQUEST_ID, 3), { requestId: REQUEST_ID, batchIndex: 3, rows: [] });
    h.clock.advance(STALL_MS);
    const report = await reconcileRequest(h.status.only(), h.reconciler());
    expect(report.action).toBe('recounted');
    expect(report.recoveredBatches).toEqual([2, 3]);
    expect(report.resentBatches).toEqual([1, 4]);
    expect(h.status.only()).toMatchObject({ processedBatches: 2, failedBatches: 1 });
    expect(h.queue.sent.map((m) => m.batchIndex)).toEqual([1, 4]);
  });

  it('assembles a request whose batches are all stored once they are recounted', async () => {
    const h = await stalled([]);
    for (const m of h.messages) {
      await expect(processBatch(m, h.worker(crashOnceAt('worker:after-result-write')))).rejects.toThrow(/crash/);
    }
    h.clock.advance(STALL_MS);
    const report = await reconcileRequest(h.status.only(), h.reconciler());
    expect(report.recoveredBatches).toEqual([0, 1, 2, 3, 4]);
    expect(report.action).toBe('assembled');
    expect(h.queue.sent).toHaveLength(0);
    expect(h.status.only()).toMatchObject({ status: 'completed', processedBatches: 5 });
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('assembles a request whose last worker crashed after counting', async () => {
    const h = await stalled([0, 1, 2, 3]);
    await expect(processBatch(h.messages[4], h.worker(crashOnceAt('worker:after-record')))).rejects.toThrow(/crash/);
    h.clock.advance(STALL_MS);
    expect((await reconcileRequest(h.status.only(), h.reconciler())).action).toBe('assembled');
    expect(h.status.only().status).toBe('completed');
  });

  it('past the deadline, records the missing batches as failed and finishes the request', async () => {
    const h = await stalled([0, 3]);
    h.clock.advance(3_600_000);
    const report = await reconcileRequest(h.status.only(), h.reconciler());
    expect(report.action).toBe('expired');
    expect(report.expiredBatches).toEqual([1, 2, 4]);
    expect(h.queue.sent).toHaveLength(0);
    expect(h.status.only()).toMatchObject({
      status: 'completed_with_errors',
      processedBatches: 2,
      failedBatches: 3,
      failedContacts: 250,
    });
    const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
    expectOutput(doc, { contacts: h.contacts, fields: FIELDS });
    const failedIdx = doc.enriched_contacts.flatMap((r, i) => (r.enrichment_status === 'failed' ? [i] : []));
    expect(failedIdx).toHaveLength(250);
    expect(failedIdx[0]).toBe(100);
    expect(doc.enriched_contacts[420].failure_reason).toMatch(/deadline/);
  });

  it('marks the request failed when nothing was processed before the deadline', async () => {
    const h = await stalled([]);
    h.clock.advance(3_600_000);
    expect((await reconcileRequest(h.status.only(), h.reconciler())).action).toBe('expired');
    expect(h.status.only()).toMatchObject({ status: 'failed', failedBatches: 5, failedContacts: 450 });
  });
});

describe('reconcileRequest: an expired batch still adds up', () => {
  it('keeps the rows and the calls a worker kept for a batch it never finished, as the DLQ handler does', async () => {
    const h = await stalled([0, 1, 3, 4]);
    // Batch 2's worker ran out of time: 30 rows settled, the calls of its deliveries kept with its progress.
    const settledRows = (await processBatchRows(h, 2)).map((r, i) => (i < 30 ? r : null));
    await h.store.putJson(keys.batchProgress(REQUEST_ID, 2), {
      requestId: REQUEST_ID,
      batchIndex: 2,
      rows: settledRows,
      pending: [{ at: Array.from({ length: 70 }, (_, i) => 30 + i), depth: 0, attempts: 1 }],
      callsSpent: 4,
      permanentFailures: 0,
      usage: { providerCalls: 4, contactsSent: 230, rateLimitWaitMs: 15 },
    });
    h.clock.advance(3_600_000);
    expect(await reconcileRequest(h.status.only(), h.reconciler())).toMatchObject({
      action: 'expired',
      expiredBatches: [2],
    });
    const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
    expectOutput(doc, { contacts: h.contacts, fields: FIELDS });
    expect(doc.enriched_contacts.slice(200, 230)).toEqual(settledRows.slice(0, 30));
    expect(doc.enriched_contacts.slice(230, 300).every((r) => r.failure_reason?.includes('deadline'))).toBe(true);
    expect(h.status.only()).toMatchObject({ status: 'completed_with_errors', failedContacts: 70 });
    expect(h.status.only().usage).toMatchObject({ providerCalls: 4 + 4, contactsSent: 230 + 350, failed: 70 });
  });
});

/** The rows a healthy worker would settle for a batch, without recording it (another request on the same contacts). */
async function processBatchRows(h: Awaited<ReturnType<typeof stalled>>, index: number) {
  const other = await seededRequest(0, { contacts: h.contacts });
  await processBatch(other.messages[index], other.worker());
  return other.store.json<{ rows: OutputRow[] }>(keys.batch(REQUEST_ID, index))!.rows;
}

describe('reconcileAll', () => {
  it('visits every processing request and keeps going when one fails', async () => {
    const h = await stalled([0]);
    h.clock.advance(STALL_MS);
    const broken = { ...h.status.only(), requestId: 'broken-1', inputFileKey: 'broken-1/input.json' };
    await h.status.create(broken); // no input.json: re-sending fails
    const reports = await reconcileAll(h.reconciler());
    expect(reports.map((r) => [r.requestId, r.action])).toEqual([[REQUEST_ID, 'resent']]);
    expect(h.log.entries.some((e) => e.level === 'error' && e.fields.requestId === 'broken-1')).toBe(true);
  });
});

describe('reconcileAll reports the provider gate (a pause shows even when no worker runs)', () => {
  const points = (emit: jest.Mock) =>
    emit.mock.calls.filter(([key]) => key === 'gateOpen').map(([, value, tags]) => [tags.reason, value]);

  it('one gateOpen point per reason each run: 1 for the reason it is paused for, 0 for the others', async () => {
    const h = await seededRequest(100);
    const gateStore = new MemoryGateStore();
    const now = h.clock.now().getTime();
    await gateStore.open('credits', now + 60_000, now);
    await reconcileAll({ ...h.reconciler(), gateStore });
    expect(points(h.metrics.emit)).toEqual([
      ['outage', 0],
      ['credits', 1],
      ['rate_limit', 0],
    ]);
    // Half open (the pause over, no trial has closed it yet): still paused. A rate-limit pause that ran out: closed.
    h.metrics.emit.mockClear();
    h.clock.advance(120_000);
    await reconcileAll({ ...h.reconciler(), gateStore });
    expect(points(h.metrics.emit)).toContainEqual(['credits', 1]);
    h.metrics.emit.mockClear();
    gateStore.item = { openUntil: now, reason: 'rate_limit', since: now };
    await reconcileAll({ ...h.reconciler(), gateStore });
    expect(points(h.metrics.emit)).toEqual([
      ['outage', 0],
      ['credits', 0],
      ['rate_limit', 0],
    ]);
  });

  it("the 'Provider credits spent' monitor's query would fire on the point a credit pause makes, and not without one", async () => {
    const monitors = JSON.parse(readFileSync(path.join(__dirname, '../../../docs/datadog-monitors.json'), 'utf8')) as {
      name: string;
      query: string;
    }[];
    const { query } = monitors.find((m) => m.name.endsWith('Provider credits spent'))!;
    // max(last_10m):max:<metric>{<tag>} by {env} >= <threshold>
    const parsed = /^max\(last_\d+m\):max:([\w.]+)\{(\w+):(\w+)\} by \{env\} >= (\d+(?:\.\d+)?)$/.exec(query);
    expect(parsed).not.toBeNull();
    const [, metric, tagKey, tagValue, threshold] = parsed!;
    expect(metric).toBe(METRICS.gateOpen.name);
    const fires = (emit: jest.Mock) =>
      emit.mock.calls.some(
        ([key, value, tags]) => key === 'gateOpen' && tags[tagKey] === tagValue && value >= Number(threshold),
      );
    const h = await seededRequest(100);
    const gateStore = new MemoryGateStore();
    await reconcileAll({ ...h.reconciler(), gateStore });
    expect(fires(h.metrics.emit)).toBe(false);
    const now = h.clock.now().getTime();
    await gateStore.open('credits', now + 300_000, now);
    await reconcileAll({ ...h.reconciler(), gateStore });
    expect(fires(h.metrics.emit)).toBe(true);
  });

  it('a gate that cannot be read is logged and the pass goes on', async () => {
    const h = await stalled([0]);
    h.clock.advance(STALL_MS);
    const gateStore = new MemoryGateStore();
    gateStore.failing = true;
    const reports = await reconcileAll({ ...h.reconciler(), gateStore });
    expect(reports.map((r) => r.action)).toEqual(['resent']);
    expect(h.log.entries.some((e) => e.level === 'error' && e.msg === 'reading the provider gate failed')).toBe(true);
  });
});

describe('large requests: the assembly goes to the assembleOutput function', () => {
  /** The assembly queue as the worker and reconcile see it: what they sent. */
  const assemblyQueue = () => {
    const sent: Array<{ requestId: string }> = [];
    return { sent, send: async (m: { requestId: string }) => void sent.push(m) };
  };

  it('the worker that records the last batch queues one assembly message instead of assembling; the assembly then finishes the request', async () => {
    const h = await seededRequest(450);
    const queue = assemblyQueue();
    const worker = { ...h.worker(), assemblyQueue: queue, assemblyInlineMaxBatches: 4 };
    for (const m of h.messages) await processBatch(m, worker);
    expect(queue.sent).toEqual([{ requestId: REQUEST_ID }]);
    expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: 5 });
    expect(h.store.json(keys.output(REQUEST_ID))).toMatchObject({ status: 'processing', enriched_contacts: [] }); // the placeholder
    expect(await assembleOutput(REQUEST_ID, worker)).toBe('finalized');
    expect(h.status.only().status).toBe('completed');
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('a request of at most assemblyInlineMaxBatches batches is still assembled inline', async () => {
    const h = await seededRequest(450);
    const queue = assemblyQueue();
    for (const m of h.messages)
      await processBatch(m, { ...h.worker(), assemblyQueue: queue, assemblyInlineMaxBatches: 5 });
    expect(queue.sent).toEqual([]);
    expect(h.status.only().status).toBe('completed');
  });

  it('reconcile queues a stalled complete request again only after the assembly timeout, and notes the visit', async () => {
    const h = await seededRequest(450);
    const queue = assemblyQueue();
    const worker = { ...h.worker(), assemblyQueue: queue, assemblyInlineMaxBatches: 4 };
    for (const m of h.messages) await processBatch(m, worker);
    queue.sent.length = 0; // the worker's message, lost (or its assembly kept failing)
    const reconciler = {
      ...h.reconciler(),
      assemblyQueue: queue,
      assemblyInlineMaxBatches: 4,
      assemblyTimeoutSeconds: 900,
    };

    // Past the stall window but within the assembly's timeout: the first assembly may still be running.
    h.clock.advance(STALL_MS);
    expect((await reconcileRequest(h.status.only(), reconciler)).action).toBe('none');
    expect(queue.sent).toEqual([]);

    h.clock.advance(900_000 - STALL_MS);
    expect(await reconcileRequest(h.status.only(), reconciler)).toMatchObject({
      action: 'assembled',
      assembly: 'queued',
    });
    expect(queue.sent).toEqual([{ requestId: REQUEST_ID }]);
    expect(h.status.only()).toMatchObject({ status: 'processing', updatedAt: h.clock.now().toISOString() });
    // The visit counts: the next pass waits for the assembly's timeout again.
    h.clock.advance(STALL_MS);
    expect((await reconcileRequest(h.status.only(), reconciler)).action).toBe('none');
    expect(queue.sent).toHaveLength(1);
  });
});
