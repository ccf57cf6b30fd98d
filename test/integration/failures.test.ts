import { GetQueueAttributesCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { describeContactError } from '../../src/core/enrichBatch';
import { POISON_CONTACT_ERROR } from '../../src/handlers/mockData';
import { DLQ_REASON } from '../../src/handlers/handleFailedBatch';
import { makeContacts, scatteredIndexes, sqsEvent } from '../support/factories';
import {
  contactsOfBatches,
  KNOB_DEFAULTS,
  crashAt,
  deleteMessages,
  drainedDepth,
  receiveAll,
  runPipeline,
  sleep,
  startFaultService,
  statusRecord,
  takeAllBatchMessages,
  workerWith,
} from '../support/faults';
import { readOutput, status, submit, waitForFinal } from '../support/flow';
import type { TestService } from '../support/service';
import type { BatchMessage } from '../../src/schemas/message';
import type { StoredProgress } from '../../src/core/processBatch';
import { keys } from '../../src/core/status';
import { workerFn } from '../support/functions';
import { expectedRows, expectOutput, failures, summaryOf } from '../support/output';

const FIELDS = ['professional_email', 'personal_phone', 'job_title'] as const;
/** The mock answers a `.invalid` contact with a per-contact error, as bulk enrichment APIs do... */
const POISON_REASON = describeContactError(POISON_CONTACT_ERROR.error);
/** ...or, with MOCK_INVALID_MODE=call, with a 500 for every call that includes it: the bisection isolates it. */
const CALL_MODE = { MOCK_INVALID_MODE: 'call' };
/**
 * The bisection under whole-call 500s, many batches at once. Here 4 to 8 workers share one process,
 * so one circuit breaker sees all their failing calls interleaved (the roots of 8 poisoned batches
 * alone fail 32 calls in a row); on AWS and on npm start each instance handles one batch at a time.
 * The breaker is set out of reach to test the bisection; callBudget.test.ts tests the breaker.
 */
const BISECTION = { ...CALL_MODE, ENRICHMENT_BREAKER_THRESHOLD: '1000' };
const CALL_MODE_REASON = 'enrichment API answered 500';
const BATCH_SIZE = Number(KNOB_DEFAULTS.BATCH_SIZE);
/** Poison contacts per batch (batches of BATCH_SIZE), for the batches that hold any. */
const poisonPerBatch = (indexes: Iterable<number>) => {
  const counts = new Map<number, number>();
  for (const i of indexes) counts.set(Math.floor(i / BATCH_SIZE), (counts.get(Math.floor(i / BATCH_SIZE)) ?? 0) + 1);
  return [...counts.values()];
};
/**
 * The most calls the bisection may make for a batch holding `poison` bad contacts, with the fault service's attempts
 * (KNOB_DEFAULTS): the whole batch's attempts, then for each bad contact one path of halves down to it (each failing
 * half tried for the sub-batch attempts and its clean sibling once, at most log2(batch size) levels) and its own
 * attempts alone. A search that tried the contacts one by one would make at least a call per contact.
 */
const bisectionCalls = (poison: number) =>
  Number(KNOB_DEFAULTS.ENRICHMENT_MAX_ATTEMPTS) +
  poison *
    (Math.ceil(Math.log2(BATCH_SIZE)) * (Number(KNOB_DEFAULTS.ENRICHMENT_SUBBATCH_MAX_ATTEMPTS) + 1) +
      Number(KNOB_DEFAULTS.ENRICHMENT_SINGLE_MAX_ATTEMPTS));
/** Each mode: its service knobs, the poison contacts' failure reason, and the most API calls a request may take. */
const POISON_MODES = [
  // One answer per batch names the bad contacts: no retry, no bisection.
  ['a per-contact error', {}, POISON_REASON, (_poisoned: number[], batches: number) => batches],
  [
    'a whole-call 500 (bisection)',
    BISECTION,
    CALL_MODE_REASON,
    (poisoned: number[], batches: number) =>
      batches - poisoned.length + poisoned.reduce((sum, p) => sum + bisectionCalls(p), 0),
  ],
] as const;
/** The batch queue's messages still inside their DelaySeconds. */
const delayedDepth = async (service: TestService) =>
  Number(
    (
      await service.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: service.queueUrl,
          AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
        }),
      )
    ).Attributes?.ApproximateNumberOfMessagesDelayed,
  );
const batchesOf = (indexes: Iterable<number>) => new Set([...indexes].map((i) => Math.floor(i / BATCH_SIZE)));

describe('enrichment API faults, poison contacts and failing batches (fauxqs + dynalite)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('MOCK_FAILURE_RATE=0.3 with latency spikes past the client timeout: completes, every contact enriched or not_found', async () => {
    service = await startFaultService({
      MOCK_FAILURE_RATE: '0.3',
      MOCK_SPIKE_RATE: '0.1',
      MOCK_SPIKE_MS: '300',
      ENRICHMENT_TIMEOUT_MS: '150',
    });
    const contacts = makeContacts(3_000);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 8, visibilityTimeout: 30 });
    const final = await waitForFinal(res.json.requestId, 60_000);

    expect(final).toMatchObject({ status: 'completed', totalBatches: 30, processedBatches: 30, failedBatches: 0 });
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
    // The faults really happened: failed answers, and calls beyond one per batch (a clean run makes exactly 30).
    expect(service.mockApi.statuses()[500]).toBeGreaterThan(0);
    expect(service.mockApi.calls()).toBeGreaterThan(30);
  });

  it('an enrichment API outage fails nothing for good: each batch is held (no receive spent, its progress kept) and enriched once the API is back', async () => {
    service = await startFaultService({ MOCK_FAILURE_RATE: '1', ENRICHMENT_BREAKER_COOLDOWN_MS: '1000' });
    const contacts = makeContacts(250);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const messages = await takeAllBatchMessages(service);
    expect(messages.map((m) => [m.batchIndex, m.holds])).toEqual([
      [0, undefined],
      [1, undefined],
      [2, undefined],
    ]);
    const worker = workerFn();
    const deliver = (receiveCount: number) =>
      sqsEvent(messages.map((m) => ({ body: JSON.stringify(m), messageId: `b${m.batchIndex}`, receiveCount })));
    const failedIds = async (event: SQSEvent) =>
      (await worker(event)).batchItemFailures.map((f) => f.itemIdentifier).sort();

    // Down: every contact fails and the gate opens. Each batch is held although its own calls failed (it cannot
    // tell an outage from contacts the provider always refuses): every record is acknowledged (no receive spent, no
    // step towards the DLQ), nothing is counted, and a copy with ownHolds: 1 and outageSince is queued with a delay.
    const heldAt = Date.now();
    expect(await failedIds(deliver(1))).toEqual([]);
    expect(await statusRecord(res.json.requestId)).toMatchObject({
      status: 'processing',
      processedBatches: 0,
      failedBatches: 0,
    });
    const callsDown = service.mockApi.calls();
    expect(callsDown).toBeGreaterThan(0);
    process.env.MOCK_FAILURE_RATE = '0';
    expect(await service.queueDepth()).toBe(0);
    expect(await delayedDepth(service)).toBe(3);
    // The delay is honoured: the copies are not visible at once (the first hold waits at least 5 s).
    expect(await receiveAll(service)).toEqual([]);

    // The held copies: exactly one per batch, the original message plus ownHolds: 1 and when the outage hold began,
    // each a new message (received for the first time: the hold spent no receive), visible only after the delay.
    const held: Message[] = [];
    while (held.length < 3 && Date.now() - heldAt < 15_000) {
      held.push(...(await receiveAll(service)));
      if (held.length < 3) await sleep(200);
    }
    expect(Date.now() - heldAt).toBeGreaterThanOrEqual(4_500);
    const copies = held.map((m) => JSON.parse(m.Body!) as BatchMessage).sort((a, b) => a.batchIndex - b.batchIndex);
    expect(copies).toEqual(messages.map((m) => ({ ...m, ownHolds: 1, outageSince: expect.any(String) })));
    for (const copy of copies) expect(Date.parse(copy.outageSince!)).toBeGreaterThanOrEqual(heldAt - 1_000);
    expect(held.map((m) => m.Attributes?.ApproximateReceiveCount)).toEqual(['1', '1', '1']);
    await deleteMessages(service, held);
    // What each held batch kept: nothing settled yet (no contact failed), its pending parts covering each of its
    // contacts exactly once. Back up, each part costs exactly one call.
    const kept = await Promise.all(
      messages.map(async (m) => {
        const text = await service.getObjectText(keys.batchProgress(m.requestId, m.batchIndex));
        return JSON.parse(text ?? 'null') as StoredProgress | null;
      }),
    );
    let parts = 0;
    for (const [b, progress] of kept.entries()) {
      expect(progress).not.toBeNull();
      expect(progress!.rows).toEqual(messages[b].contacts.map(() => null));
      expect(progress!.permanentFailures).toBe(0);
      const at = progress!.pending.flatMap((p) => p.at).sort((x, y) => x - y);
      expect(at).toEqual(messages[b].contacts.map((_, i) => i));
      parts += progress!.pending.length;
    }

    // After the cool-down, the held copies enrich everything: one call per pending part, nothing failed, each contact once.
    const heldEvent = sqsEvent(
      held.map((m) => ({
        body: m.Body!,
        messageId: `h${(JSON.parse(m.Body!) as BatchMessage).batchIndex}`,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount),
      })),
    );
    expect((await worker(heldEvent)).batchItemFailures).toEqual([]);
    expect(service.mockApi.calls()).toBe(callsDown + parts);
    const final = await waitForFinal(res.json.requestId, 10_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 3, processedBatches: 3, failedBatches: 0 });
    expect(final.summary).toMatchObject({ failed: 0 });
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
    // Nothing re-sent again, nothing dead-lettered.
    expect(await service.queueDepth()).toBe(0);
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  });

  it.each(POISON_MODES)(
    'poison contacts (%s) scattered through a request: exactly they fail, all neighbours are enriched, with a bounded number of API calls',
    async (_mode, mode, reason, maxCalls) => {
      // Small backoff keeps the bisection's retries quick.
      service = await startFaultService({ ENRICHMENT_BACKOFF_BASE_MS: '2', ENRICHMENT_BACKOFF_MAX_MS: '20', ...mode });
      const poison = scatteredIndexes(3_000, 30);
      expect(batchesOf(poison).size).toBeGreaterThan(15);
      const contacts = makeContacts(3_000, { poison });
      const res = await submit({ contacts, fields_to_enrich: FIELDS });
      runPipeline(service, { concurrency: 4, visibilityTimeout: 30 });
      const final = await waitForFinal(res.json.requestId, 60_000);

      const expected = expectedRows(contacts, [...FIELDS], failures(poison, reason));
      expect(final).toMatchObject({
        status: 'completed_with_errors',
        totalBatches: 30,
        processedBatches: 30,
        failedBatches: 0,
      });
      const { enriched, not_found } = summaryOf(expected);
      expect(final.summary).toEqual({ enriched, not_found, failed: 30 });
      expectOutput(await readOutput(service, res.json.requestId), expected);
      // The work it took, counted rather than timed (a busy machine is only slower): isolating the poison
      // contacts costs calls along the paths down to them, not a call per contact.
      expect(service.mockApi.calls()).toBeLessThanOrEqual(maxCalls(poisonPerBatch(poison), 30));
    },
  );

  it.each(POISON_MODES)(
    'poison contacts (%s) and MOCK_FAILURE_RATE=0.3 together: still exactly the poison contacts fail',
    async (_mode, mode, reason) => {
      service = await startFaultService({ MOCK_FAILURE_RATE: '0.3', ...mode });
      const poison = scatteredIndexes(4_000, 40, 7);
      const contacts = makeContacts(4_000, { poison });
      const res = await submit({ contacts, fields_to_enrich: FIELDS });
      runPipeline(service, { concurrency: 8, visibilityTimeout: 30 });
      const final = await waitForFinal(res.json.requestId, 60_000);

      expect(final).toMatchObject({ status: 'completed_with_errors', processedBatches: 40, failedBatches: 0 });
      expectOutput(
        await readOutput(service, res.json.requestId),
        expectedRows(contacts, [...FIELDS], failures(poison, reason)),
      );
    },
  );

  it('a batch whose worker crashes every time reaches the DLQ: its contacts are failed, the request still finishes', async () => {
    service = await startFaultService();
    const contacts = makeContacts(500);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const hook = crashAt('worker:after-enrich', { times: Infinity, when: (ctx) => ctx.batchIndex === 2 });
    runPipeline(service, { worker: workerWith(hook), concurrency: 4, visibilityTimeout: 1 });
    const final = await waitForFinal(res.json.requestId, 30_000);

    expect(final).toMatchObject({
      status: 'completed_with_errors',
      totalBatches: 5,
      processedBatches: 4,
      failedBatches: 1,
    });
    expect(hook.crashes).toBe(5); // maxReceiveCount in serverless.yml
    const expected = expectedRows(contacts, [...FIELDS], failures(contactsOfBatches([2], 500), DLQ_REASON));
    expectOutput(await readOutput(service, res.json.requestId), expected);
    expect(final.summary).toMatchObject({ failed: 100 });
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  });

  it('a batch that reaches the DLQ after its result was stored (the count kept failing) is counted once, consistently', async () => {
    service = await startFaultService();
    const contacts = makeContacts(300);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const hook = crashAt('worker:after-result-write', { times: Infinity, when: (ctx) => ctx.batchIndex === 1 });
    runPipeline(service, { worker: workerWith(hook), concurrency: 4, visibilityTimeout: 1 });
    const final = await waitForFinal(res.json.requestId, 30_000);

    expect(hook.crashes).toBe(5);
    // The contacts were enriched and stored, so output, counts and status must all say so.
    expect(final).toMatchObject({ status: 'completed', totalBatches: 3, processedBatches: 3, failedBatches: 0 });
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
  });

  it('all batches reach the DLQ: status failed, output still lists every contact as failed', async () => {
    service = await startFaultService();
    const contacts = makeContacts(250, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const hook = crashAt('worker:after-enrich', { times: Infinity });
    runPipeline(service, { worker: workerWith(hook), concurrency: 4, visibilityTimeout: 1 });
    const final = await waitForFinal(res.json.requestId, 30_000);

    expect(final).toMatchObject({ status: 'failed', totalBatches: 3, processedBatches: 0, failedBatches: 3 });
    expect(final.summary).toEqual({ enriched: 0, not_found: 0, failed: 250 });
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures(contacts.keys(), DLQ_REASON)),
    );
    expect((await status(res.json.requestId)).failedBatches).toBe(3);
  });

  it('every contact unenrichable (per-contact errors): status failed at once, output still lists every contact as failed with its reason', async () => {
    service = await startFaultService();
    const all = new Set(Array.from({ length: 150 }, (_, i) => i));
    const contacts = makeContacts(150, { poison: all });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 4, visibilityTimeout: 1 });
    const final = await waitForFinal(res.json.requestId, 60_000);

    // A per-contact error is final: nothing is retried, redelivered or dead-lettered. One call per batch.
    expect(final).toMatchObject({ status: 'failed', totalBatches: 2, processedBatches: 2, failedBatches: 0 });
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures(all, POISON_REASON)),
    );
    expect(service.mockApi.calls()).toBe(2);
  });

  it('every contact unenrichable (whole-call 500s): looks like an outage, so held for PROVIDER_OUTAGE_HOLD_SECONDS, then redelivered and dead-lettered; status failed', async () => {
    service = await startFaultService({
      ...CALL_MODE,
      ENRICHMENT_BREAKER_COOLDOWN_MS: '50',
      PROVIDER_OUTAGE_HOLD_SECONDS: '3',
    });
    const all = new Set(Array.from({ length: 150 }, (_, i) => i));
    const contacts = makeContacts(150, { poison: all });
    const submittedAt = Date.now();
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 4, visibilityTimeout: 1 });
    const final = await waitForFinal(res.json.requestId, 60_000);

    // Nothing tells it from an outage (no call of the fleet succeeds), so its batches were held for the outage bound
    // before they spent their receives: it could not have ended sooner.
    expect(Date.now() - submittedAt).toBeGreaterThanOrEqual(3_000);

    expect(final).toMatchObject({ status: 'failed', totalBatches: 2, processedBatches: 0, failedBatches: 2 });
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures(all, DLQ_REASON)),
    );
  });
});
