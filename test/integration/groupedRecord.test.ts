import type { FaultHooks } from '../../src/core/ports';
import { makeHandler } from '../../src/handlers/processBatch';
import { workerDeps } from '../../src/handlers/workerWiring';
import type { BatchMessage } from '../../src/schemas/message';
import { makeContacts, sqsEvent } from '../support/factories';
import {
  countingDeliveries,
  crashAt,
  drainedDepth,
  dyingInvocations,
  runPipeline,
  startFaultService,
  statusRecord,
  takeAllBatchMessages,
} from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { as, type TestService } from '../support/service';
import { expectedRows, expectOutput } from '../support/output';

const FIELDS = ['personal_phone', 'linkedin_url'] as const;
const sorted = (s: Iterable<number> | undefined) => [...(s ?? [])].sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * The worker function (production handler and wiring) with the status store's record calls counted:
 * `together` lists each grouped update's batches (sorted), `alone` each batch recorded by itself. `beforeTogether` runs
 * before a grouped update is sent (another worker recording meanwhile).
 */
function countingWorker(opts: { faults?: FaultHooks; beforeTogether?: () => Promise<void> } = {}) {
  const together: number[][] = [];
  const alone: number[] = [];
  const handler = makeHandler(() => {
    const deps = workerDeps(as('processBatch'));
    const status = deps.status;
    return {
      ...deps,
      ...(opts.faults ? { faults: opts.faults } : {}),
      status: {
        ...status,
        recordBatch: (...args: Parameters<typeof status.recordBatch>) => {
          alone.push(args[1]);
          return status.recordBatch(...args);
        },
        recordBatches: async (...args: Parameters<NonNullable<typeof status.recordBatches>>) => {
          together.push(sorted(args[2].map((b) => b.batchIndex)));
          await opts.beforeTogether?.();
          return status.recordBatches!(...args);
        },
      },
    };
  });
  return { handler, together, alone };
}

const event = (messages: BatchMessage[], receiveCount = 1) =>
  sqsEvent(messages.map((m) => ({ body: JSON.stringify(m), messageId: `m${m.batchIndex}`, receiveCount })));

describe("an invocation's batches of one shard recorded by one update (fauxqs + dynalite)", () => {
  let service: TestService;
  afterEach(() => service.close());

  /** 2,000 contacts: 20 batches of 100, all on shard 0, their messages taken off the queue. */
  async function twentyBatches(env: Record<string, string> = {}, contacts = makeContacts(2_000, { extra: true })) {
    service = await startFaultService(env);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.json.totalBatches).toBe(20);
    return { contacts, requestId: res.json.requestId as string, messages: await takeAllBatchMessages(service) };
  }

  it('10 messages, one update: a redelivery whose grouped update meets the shard partly recorded meanwhile falls back to one update each, and nothing is counted twice', async () => {
    const { contacts, requestId, messages } = await twentyBatches();
    const first = countingWorker();
    expect(await first.handler(event(messages.slice(0, 10)))).toEqual({ batchItemFailures: [] });
    expect(first.together).toEqual([range(0, 10)]);
    expect(first.alone).toEqual([]);
    expect(sorted((await statusRecord(requestId)).doneBatches)).toEqual(range(0, 10));
    // One object holds the ten results (one PUT), none under a batch's own key.
    expect(await service.listKeys(`${requestId}/batches/`)).toEqual([
      expect.stringMatching(new RegExp(`^${requestId}/batches/g000000-[0-9a-f]{12}\\.json$`)),
    ]);

    // Batches 10-14 are delivered twice at once: the redelivery (5-14) looks them up before the first delivery
    // (10-14, its own worker) records them, and its grouped update meets them counted: each batch alone instead.
    const racing = countingWorker();
    const redelivery = countingWorker({
      beforeTogether: async () => {
        expect(await racing.handler(event(messages.slice(10, 15)))).toEqual({ batchItemFailures: [] });
      },
    });
    expect(await redelivery.handler(event(messages.slice(5, 20), 2))).toEqual({ batchItemFailures: [] });
    expect(racing.together).toEqual([range(10, 15)]);
    // 5-9 were duplicates at their look-up; 10-19 met in one update, which failed its condition.
    expect(redelivery.together).toEqual([range(10, 20)]);
    expect(sorted(redelivery.alone)).toEqual(range(10, 20));

    const final = await waitForFinal(requestId, 10_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 20, processedBatches: 20, failedBatches: 0 });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
  });

  it('one message fails: the others are recorded together without it; its redelivery completes the request', async () => {
    const { contacts, requestId, messages } = await twentyBatches();
    const worker = countingWorker({ faults: crashAt('worker:after-enrich', { when: (c) => c.batchIndex === 3 }) });
    expect(await worker.handler(event(messages.slice(0, 10)))).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm3' }],
    });
    expect(worker.together).toEqual([[0, 1, 2, 4, 5, 6, 7, 8, 9]]);
    expect(worker.alone).toEqual([]);
    const record = await statusRecord(requestId);
    expect(sorted(record.doneBatches)).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9]);
    expect(record).toMatchObject({ status: 'processing', processedBatches: 9, failedBatches: 0 });

    // The invocation's messages come back with the rest: the recorded ones are duplicates, 3 goes on with 10-19.
    const again = countingWorker();
    expect(await again.handler(event(messages, 2))).toEqual({ batchItemFailures: [] });
    expect(again.together).toEqual([[3, ...range(10, 20)]]);
    const final = await waitForFinal(requestId, 10_000);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 20, failedBatches: 0 });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
  });

  it('one message runs out of time: it is handed back with its progress, the others are recorded together without it', async () => {
    // Batch 7 holds a contact whose calls hang: 0.5 s a call, 2 s kept back from a 5 s invocation leave it 3 s.
    const contacts = makeContacts(2_000, { extra: true, hang: new Set([750]) });
    const { requestId, messages } = await twentyBatches(
      { ENRICHMENT_TIMEOUT_MS: '500', WORKER_TIME_RESERVE_MS: '2000', ENRICHMENT_SINGLE_MAX_ATTEMPTS: '8' },
      contacts,
    );
    const worker = countingWorker();
    const deadline = Date.now() + 5_000;
    const res = await worker.handler(event(messages.slice(0, 10)), {
      getRemainingTimeInMillis: () => deadline - Date.now(),
    });
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm7' }] });
    expect(worker.together).toEqual([[0, 1, 2, 3, 4, 5, 6, 8, 9]]);
    expect(worker.alone).toEqual([]);
    const record = await statusRecord(requestId);
    expect(sorted(record.doneBatches)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9]);
    expect(record).toMatchObject({ status: 'processing', processedBatches: 9, failedBatches: 0 });
    expect(record.usage).toMatchObject({ contactsSent: 900 });
  });

  it.each(['worker:after-result-write', 'worker:after-shard-record', 'worker:after-record'])(
    'invocations of 10 that die when their third message reaches %s, with grouped records: exact output',
    async (point) => {
      const { contacts, requestId } = await (async () => {
        service = await startFaultService();
        const contacts = makeContacts(2_000, { extra: true });
        const res = await submit({ contacts, fields_to_enrich: FIELDS });
        return { contacts, requestId: res.json.requestId as string };
      })();
      const dying = dyingInvocations(point, { deaths: 2 });
      const counted = countingWorker({ faults: dying.hooks });
      const worker = countingDeliveries(dying.wrap(counted.handler));
      runPipeline(service, { worker: worker.handler, concurrency: 2, batchSize: 10, visibilityTimeout: 1 });
      const final = await waitForFinal(requestId, 60_000);

      expect(dying.hooks.deaths).toBe(2);
      expect(counted.together.length).toBeGreaterThan(0);
      expect(final).toMatchObject({ status: 'completed', totalBatches: 20, processedBatches: 20, failedBatches: 0 });
      expect(sorted((await statusRecord(requestId)).doneBatches)).toEqual(range(0, 20));
      expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
      expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
    },
  );
});
