import { mapLimit } from '../../src/core/batching';
import type { ReconcileReport } from '../../src/core/reconcile';
import { isComplete } from '../../src/core/status';
import { makeContacts, sqsEvent } from '../support/factories';
import {
  contactsOfBatches,
  crashAt,
  drainedDepth,
  loseBatchMessages,
  reconcileWith,
  runPipeline,
  sleep,
  startFaultService,
  statusRecord,
  takeAllBatchMessages,
  waitForRecord,
  workerWith,
} from '../support/faults';
import { readOutput, status, submit, waitForFinal } from '../support/flow';
import type { TestService } from '../support/service';
import { workerFn } from '../support/functions';
import { expectedRows, expectOutput, failures } from '../support/output';

const FIELDS = ['professional_email', 'linkedin_url'] as const;
const DEADLINE_REASON = 'request deadline passed before the batch was processed';
const sorted = (s: Set<number> | undefined) => [...(s ?? [])].sort((a, b) => a - b);
const reportFor = (reports: ReconcileReport[], requestId: string) => reports.filter((r) => r.requestId === requestId);
/** Past RECONCILE_STALL_SECONDS=1 since the last progress. */
const STALL_MS = 1_200;

describe('reconcile: lost messages, crashes between steps, deadlines (fauxqs + dynalite)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('a lost batch message is re-sent once progress stalls, and the request completes exactly', async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1' });
    const contacts = makeContacts(500, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    await loseBatchMessages(service, new Set([3]));
    runPipeline(service, { concurrency: 4, visibilityTimeout: 30 });
    await waitForRecord(requestId, (r) => r.processedBatches === 4);

    // Within the stall window reconcile leaves the request alone.
    expect(reportFor((await reconcileWith()()).reconciled, requestId)).toEqual([]);
    await sleep(STALL_MS);
    const [report] = reportFor((await reconcileWith()()).reconciled, requestId);
    expect(report).toMatchObject({ action: 'resent', resentBatches: [3], recoveredBatches: [], expiredBatches: [] });

    const final = await waitForFinal(requestId, 20_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 5, processedBatches: 5, failedBatches: 0 });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
    expect((await reconcileWith()()).reconciled).toEqual([]);
  });

  it('a batch result stored but never counted (crash, then message lost) is re-counted, not re-sent', async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1' });
    const contacts = makeContacts(300);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    const messages = await takeAllBatchMessages(service);
    const response = await workerWith(crashAt('worker:after-result-write', { when: (c) => c.batchIndex === 1 }))(
      sqsEvent(messages.map((m) => ({ body: JSON.stringify(m), messageId: `m${m.batchIndex}` }))),
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]); // …and that message is lost
    expect(await statusRecord(requestId)).toMatchObject({ processedBatches: 2, status: 'processing' });

    await sleep(STALL_MS);
    const [report] = reportFor((await reconcileWith()()).reconciled, requestId);
    expect(report).toMatchObject({ action: 'assembled', recoveredBatches: [1], resentBatches: [] });
    const final = await status(requestId);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 3, failedBatches: 0 });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
    expect(await drainedDepth(service)).toBe(0); // nothing was re-sent
  });

  it('a crash after the last count, with the message lost, is finished by reconcile assembling the output', async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1' });
    const contacts = makeContacts(300);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    const messages = await takeAllBatchMessages(service);
    const hook = crashAt('worker:after-record', { when: async (c) => isComplete(await statusRecord(c.requestId)) });
    // One at a time, so the crash hits the batch that completed the request.
    for (const m of messages) await workerWith(hook)(sqsEvent([{ body: JSON.stringify(m) }]));
    expect(hook.crashes).toBe(1);
    expect(await statusRecord(requestId)).toMatchObject({ processedBatches: 3, status: 'processing' });

    await sleep(STALL_MS);
    const [report] = reportFor((await reconcileWith()()).reconciled, requestId);
    expect(report).toMatchObject({ action: 'assembled' });
    expect(await status(requestId)).toMatchObject({ status: 'completed', processedBatches: 3, failedBatches: 0 });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
  });

  it('never double-counts: two concurrent reconcile runs racing redeliveries of the same batches', async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1' });
    const contacts = makeContacts(600);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    const messages = await takeAllBatchMessages(service);
    const crashing = workerWith(
      crashAt('worker:after-result-write', { when: (c) => c.batchIndex === 2 || c.batchIndex === 4 }),
    );
    const first = await crashing(
      sqsEvent(messages.map((m) => ({ body: JSON.stringify(m), messageId: `m${m.batchIndex}` }))),
    );
    expect(first.batchItemFailures).toEqual(
      expect.arrayContaining([{ itemIdentifier: 'm2' }, { itemIdentifier: 'm4' }]),
    );
    expect(await statusRecord(requestId)).toMatchObject({ processedBatches: 4 });

    await sleep(STALL_MS);
    const worker = workerFn();
    const redeliver = (i: number) => worker(sqsEvent([{ body: JSON.stringify(messages[i]), receiveCount: 2 }]));
    const results = await Promise.all([
      reconcileWith()(),
      redeliver(2),
      reconcileWith()(),
      redeliver(4),
      redeliver(2),
      redeliver(0),
    ]);

    const final = await waitForFinal(requestId, 10_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 6, processedBatches: 6, failedBatches: 0 });
    expect(sorted((await statusRecord(requestId)).doneBatches)).toEqual([0, 1, 2, 3, 4, 5]);
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
    for (const r of results) if ('batchItemFailures' in r) expect(r.batchItemFailures).toEqual([]);
    // Running it again afterwards finds nothing to do.
    expect((await reconcileWith()()).reconciled).toEqual([]);
    expect(await statusRecord(requestId)).toMatchObject({ processedBatches: 6, failedBatches: 0 });
  });

  it('never double-counts while workers are running: repeated reconcile passes re-send in-flight batches', async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1' });
    const contacts = makeContacts(2_000);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    // One batch per invocation, so that batches are still in flight while reconcile runs (10 per invocation finish
    // all 20 at once).
    runPipeline(service, { concurrency: 2, visibilityTimeout: 30, batchSize: 1 });
    // A clock ahead of the workers' makes every pass see a stalled request.
    const ahead = reconcileWith({ clock: { now: () => new Date(Date.now() + 5_000) } });
    let resent = 0;
    for (let i = 0; i < 100 && (await statusRecord(requestId)).status === 'processing'; i++) {
      const [a, b] = await Promise.all([ahead(), ahead()]);
      for (const r of reportFor([...a.reconciled, ...b.reconciled], requestId)) resent += r.resentBatches.length;
      await sleep(150);
    }
    expect(resent).toBeGreaterThan(0);

    const final = await waitForFinal(requestId, 20_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 20, processedBatches: 20, failedBatches: 0 });
    expect(sorted((await statusRecord(requestId)).doneBatches)).toHaveLength(20);
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
  });

  it('past the deadline the unprocessed batches are marked failed: completed_with_errors, and late deliveries change nothing', async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1', REQUEST_DEADLINE_SECONDS: '1' });
    const contacts = makeContacts(500);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    const messages = await takeAllBatchMessages(service);
    const worker = workerFn();
    await mapLimit(
      messages.filter((m) => m.batchIndex !== 1),
      4,
      (m) => worker(sqsEvent([{ body: JSON.stringify(m) }])),
    );
    expect(await statusRecord(requestId)).toMatchObject({ processedBatches: 4, status: 'processing' });

    await sleep(STALL_MS);
    const [report] = reportFor((await reconcileWith()()).reconciled, requestId);
    expect(report).toMatchObject({ action: 'expired', expiredBatches: [1] });
    const final = await status(requestId);
    expect(final).toMatchObject({
      status: 'completed_with_errors',
      totalBatches: 5,
      processedBatches: 4,
      failedBatches: 1,
    });
    const expected = expectedRows(contacts, [...FIELDS], failures(contactsOfBatches([1], 500), DEADLINE_REASON));
    expectOutput(await readOutput(service, requestId), expected);

    // The batch turns up after all: the answer the client already has stays as it is.
    const before = await statusRecord(requestId);
    expect(await worker(sqsEvent([{ body: JSON.stringify(messages[1]) }]))).toEqual({ batchItemFailures: [] });
    expect(await statusRecord(requestId)).toEqual(before);
    expectOutput(await readOutput(service, requestId), expected);
  });

  it('past the deadline with no batch processed: failed, every contact listed as failed', async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1', REQUEST_DEADLINE_SECONDS: '1' });
    const contacts = makeContacts(250, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    await takeAllBatchMessages(service); // every message lost

    await sleep(STALL_MS);
    const [report] = reportFor((await reconcileWith()()).reconciled, requestId);
    expect(report).toMatchObject({ action: 'expired', expiredBatches: [0, 1, 2] });
    expect(await status(requestId)).toMatchObject({
      status: 'failed',
      processedBatches: 0,
      failedBatches: 3,
      summary: { enriched: 0, not_found: 0, failed: 250 },
    });
    expectOutput(
      await readOutput(service, requestId),
      expectedRows(contacts, [...FIELDS], failures(contacts.keys(), DEADLINE_REASON)),
    );
  });
});
