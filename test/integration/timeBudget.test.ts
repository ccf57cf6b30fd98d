import { DLQ_REASON } from '../../src/handlers/handleFailedBatch';
import { makeContacts } from '../support/factories';
import {
  countingDeliveries,
  drainedDepth,
  runPipeline,
  sendRaw,
  sleep,
  startFaultService,
  timedInvocations,
  type TimedInvocation,
} from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { dlqFn, workerFn } from '../support/functions';
import type { TestService } from '../support/service';
import { expectedRows, expectOutput, failures } from '../support/output';

const FIELDS = ['professional_email', 'job_title'] as const;
const HANG = 37;

/** Invocations that ran up to (or past) the deadline their Lambda context gave them. */
const overran = (invocations: TimedInvocation[]) => invocations.filter((i) => i.tookMs >= i.allowedMs);

describe('worker time budget: a hanging enrichment call (fauxqs + dynalite, real queue and DLQ)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('one .hang contact and a 10 s worker timeout: no invocation overruns, the 99 others are enriched, the hanging one fails after redeliveries', async () => {
    // 0.5 s per call and 2 s kept back: about 16 calls fit one 10 s invocation, while the whole
    // bisection down to the hanging contact needs about 24 (4 + 6 levels × 2 + 8 alone).
    service = await startFaultService({
      ENRICHMENT_TIMEOUT_MS: '500',
      WORKER_TIME_RESERVE_MS: '2000',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '8',
    });
    const contacts = makeContacts(100, { hang: new Set([HANG]) });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.json.totalBatches).toBe(1);

    const worker = timedInvocations(workerFn());
    const dlq = timedInvocations(dlqFn());
    const deliveries = countingDeliveries(worker.handler);
    runPipeline(service, {
      worker: deliveries.handler,
      dlq: dlq.handler,
      timeoutMs: 10_000,
      visibilityTimeout: 1,
      concurrency: 1,
    });
    const final = await waitForFinal(res.json.requestId, 60_000);

    expect(overran([...worker.invocations, ...dlq.invocations])).toEqual([]);
    expect(worker.invocations.every((i) => i.allowedMs <= 10_000)).toBe(true);
    // It did not fit one invocation: the message came back, and the contact failed on its attempts, not in the DLQ.
    expect(deliveries.counts.get(0)).toBeGreaterThanOrEqual(2);
    expect(deliveries.counts.get(0)).toBeLessThanOrEqual(5);
    expect(dlq.invocations).toHaveLength(0);

    expect(final).toMatchObject({
      status: 'completed_with_errors',
      totalBatches: 1,
      processedBatches: 1,
      failedBatches: 0,
    });
    expect(final.summary?.failed).toBe(1);
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures([HANG], 'enrichment API timed out')),
    );
    expect(await drainedDepth(service)).toBe(0);
  }, 90_000);

  it('a contact that hangs through every delivery: the DLQ handler keeps the 99 rows the worker settled and fails only it', async () => {
    // 3 s invocations with 1 s kept back leave 2 s, about 5 calls of 0.4 s: five deliveries settle
    // every good contact (about 16 calls) but not the 20 tries the hanging contact gets alone.
    // The circuit breaker's threshold must stay above the lone contact's attempts (config refuses it otherwise).
    service = await startFaultService({
      ENRICHMENT_TIMEOUT_MS: '400',
      WORKER_TIME_RESERVE_MS: '1000',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '20',
      ENRICHMENT_BREAKER_THRESHOLD: '21',
    });
    const contacts = makeContacts(100, { hang: new Set([HANG]) });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });

    const worker = timedInvocations(workerFn());
    const dlq = timedInvocations(dlqFn());
    const deliveries = countingDeliveries(worker.handler);
    runPipeline(service, {
      worker: deliveries.handler,
      dlq: dlq.handler,
      timeoutMs: 3_000,
      visibilityTimeout: 1,
      concurrency: 1,
    });
    const final = await waitForFinal(res.json.requestId, 60_000);

    expect(overran([...worker.invocations, ...dlq.invocations])).toEqual([]);
    expect(deliveries.counts.get(0)).toBe(5); // maxReceiveCount in serverless.yml
    expect(dlq.invocations).toHaveLength(1);
    expect(final).toMatchObject({
      status: 'completed_with_errors',
      totalBatches: 1,
      processedBatches: 0,
      failedBatches: 1,
    });
    expect(final.summary?.failed).toBe(1);
    expectOutput(
      await readOutput(service, res.json.requestId),
      expectedRows(contacts, [...FIELDS], failures([HANG], DLQ_REASON)),
    );
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  }, 90_000);

  it('the local event source keeps a running message hidden past its short visibility timeout, as AWS does for a running function', async () => {
    service = await startFaultService();
    let runs = 0;
    let running = false;
    let overlapped = false;
    // Several pollers and a 1 s visibility: without renewal the message would be handed out again mid-run.
    service.deliver(
      service.queueUrl,
      service.queueArn,
      async (event) => {
        runs += 1;
        if (running) overlapped = true;
        if (runs > 1) return { batchItemFailures: [] };
        running = true;
        await sleep(3_500);
        running = false;
        // Failed: it must come back soon after (quick local retries), not only at the queue's 360 s.
        return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
      },
      { concurrency: 3, visibilityTimeout: 1 },
    );
    await sendRaw(service, 'not a batch message; the handler above does not read it');
    const until = Date.now() + 15_000;
    while (runs < 2 && Date.now() < until) await sleep(100);

    expect(runs).toBe(2);
    expect(overlapped).toBe(false);
    expect(await drainedDepth(service)).toBe(0);
  }, 30_000);
});
