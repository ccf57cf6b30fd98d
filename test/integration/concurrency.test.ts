import type { SQSBatchResponse } from 'aws-lambda';
import { mapLimit } from '../../src/core/batching';
import type { BatchMessage } from '../../src/schemas/message';
import { makeContacts, sqsEvent } from '../support/factories';
import {
  drainedDepth,
  runPipeline,
  sendRaw,
  shuffled,
  startFaultService,
  statusRecord,
  takeAllBatchMessages,
  type SqsHandler,
} from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import type { TestService } from '../support/service';
import { workerFn } from '../support/functions';
import { expectedRows, expectOutput, summaryOf } from '../support/output';

const FIELDS = ['professional_email', 'job_title'] as const;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (s: Set<number> | undefined) => [...(s ?? [])].sort((a, b) => a - b);

/** A worker that also reports the most invocations it saw in flight at once. */
function measuringConcurrency(handler: SqsHandler) {
  let inFlight = 0;
  const seen = { max: 0 };
  const wrapped: SqsHandler = async (event, context) => {
    inFlight += 1;
    seen.max = Math.max(seen.max, inFlight);
    try {
      return await handler(event, context);
    } finally {
      inFlight -= 1;
    }
  };
  return { handler: wrapped, seen };
}

describe('concurrency and redelivery (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startFaultService();
  });
  afterEach(() => service.close());

  it('20,000 contacts, 8 concurrent workers: 20,000 rows in input order, each contact once, every batch counted once', async () => {
    const contacts = makeContacts(20_000, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.statusCode).toBe(202);
    const requestId: string = res.json.requestId;

    const worker = measuringConcurrency(workerFn());
    runPipeline(service, { worker: worker.handler, concurrency: 8, visibilityTimeout: 60 });
    const final = await waitForFinal(requestId, 60_000);

    const expected = expectedRows(contacts, [...FIELDS]);
    expect(final).toMatchObject({
      status: 'completed',
      totalContacts: 20_000,
      totalBatches: 200,
      processedBatches: 200,
      failedBatches: 0,
    });
    expect(final.summary).toEqual({
      enriched: summaryOf(expected).enriched,
      not_found: summaryOf(expected).not_found,
      failed: 0,
    });
    expect(sorted((await statusRecord(requestId)).doneBatches)).toEqual(range(200));
    const doc = await readOutput(service, requestId);
    expectOutput(doc, expected);
    expect(new Set(doc.enriched_contacts.map((r) => (r as { crm_id?: string }).crm_id)).size).toBe(20_000);
    expect(worker.seen.max).toBeGreaterThanOrEqual(4);
    expect(service.mockApi.calls()).toBe(200);
    expect(await drainedDepth(service)).toBe(0);
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  });

  it('every message delivered twice and some three times, shuffled and overlapping: same output and counts as a clean run', async () => {
    const contacts = makeContacts(2_000, { extra: true });
    const worker = workerFn();
    const invoke = (bodies: string[]) => worker(sqsEvent(bodies.map((body) => ({ body }))));

    // The clean run: each message delivered once.
    const clean = await submit({ contacts, fields_to_enrich: FIELDS });
    const cleanMessages = await takeAllBatchMessages(service);
    expect(cleanMessages).toHaveLength(20);
    const cleanResponses = await mapLimit(cleanMessages, 8, (m) => invoke([JSON.stringify(m)]));
    expect(cleanResponses.flatMap((r) => r.batchItemFailures)).toEqual([]);
    const cleanFinal = await waitForFinal(clean.json.requestId, 10_000);
    const cleanDoc = await readOutput(service, clean.json.requestId);

    // The same request again as a new job (without dedupe: false it would be a duplicate of the first),
    // with at-least-once delivery at its worst.
    const res = await submit({ contacts, fields_to_enrich: FIELDS, dedupe: false });
    const requestId: string = res.json.requestId;
    const messages = await takeAllBatchMessages(service);
    const deliveries: string[][] = [];
    for (const m of messages) {
      const body = JSON.stringify(m);
      const copies = m.batchIndex % 3 === 0 ? 3 : 2;
      // Some copies arrive together in one event, so they race inside one invocation too.
      if (m.batchIndex % 4 === 1) deliveries.push([body, body], ...Array.from({ length: copies - 2 }, () => [body]));
      else deliveries.push(...Array.from({ length: copies }, () => [body]));
    }
    expect(deliveries.flat()).toHaveLength(47);
    const responses: SQSBatchResponse[] = await mapLimit(shuffled(deliveries, 11), 8, invoke);
    expect(responses.flatMap((r) => r.batchItemFailures)).toEqual([]);

    const final = await waitForFinal(requestId, 10_000);
    const doc = await readOutput(service, requestId);
    expect(doc.enriched_contacts).toEqual(cleanDoc.enriched_contacts);
    expect(doc.summary).toEqual(cleanDoc.summary);
    const counts = (s: typeof final) => ({
      status: s.status,
      totalBatches: s.totalBatches,
      processedBatches: s.processedBatches,
      failedBatches: s.failedBatches,
      summary: s.summary,
    });
    expect(counts(final)).toEqual(counts(cleanFinal));
    expect(final).toMatchObject({ status: 'completed', processedBatches: 20, failedBatches: 0 });
    expectOutput(doc, expectedRows(contacts, [...FIELDS]));

    // Redeliveries after the end change nothing.
    const before = await statusRecord(requestId);
    const late = await mapLimit(shuffled(messages, 3), 8, (m) => invoke([JSON.stringify(m)]));
    expect(late.flatMap((r) => r.batchItemFailures)).toEqual([]);
    expect(await statusRecord(requestId)).toEqual(before);
    expect((await readOutput(service, requestId)).enriched_contacts).toEqual(cleanDoc.enriched_contacts);
  });

  it('duplicates on the queue itself (each message sent three times) are absorbed by the workers', async () => {
    const contacts = makeContacts(1_500);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    const messages: BatchMessage[] = await takeAllBatchMessages(service);
    for (const m of [...messages, ...shuffled(messages, 5), ...shuffled(messages, 9)])
      await sendRaw(service, JSON.stringify(m));
    expect(await service.queueDepth()).toBe(45);

    runPipeline(service, { concurrency: 8, visibilityTimeout: 30, batchSize: 10 });
    const final = await waitForFinal(requestId, 30_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 15, processedBatches: 15, failedBatches: 0 });
    expect(sorted((await statusRecord(requestId)).doneBatches)).toEqual(range(15));
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
    expect(await drainedDepth(service)).toBe(0);
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  });
});
