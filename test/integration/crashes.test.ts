import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { isComplete } from '../../src/core/status';
import type { BatchMessage } from '../../src/schemas/message';
import { DLQ_REASON } from '../../src/handlers/handleFailedBatch';
import type { FaultHooks } from '../../src/core/ports';
import { makeContacts, sqsEvent } from '../support/factories';
import {
  contactsOfBatches,
  countingDeliveries,
  drainedDepth,
  crashAt,
  dyingInvocations,
  reconcileWith,
  runPipeline,
  sendRaw,
  sleep,
  startFaultService,
  statusRecord,
  takeAllBatchMessages,
  workerWith,
  type CrashHook,
} from '../support/faults';
import { readOutput, status, submit, waitForFinal } from '../support/flow';
import type { TestService } from '../support/service';
import { workerFn } from '../support/functions';
import { expectedRows, expectOutput, failures } from '../support/output';

const FIELDS = ['personal_phone', 'linkedin_url'] as const;
const sorted = (s: Set<number> | undefined) => [...(s ?? [])].sort((a, b) => a - b);

/** The request is complete (every batch counted) as seen from the status item. */
const requestComplete = async ({ requestId }: { requestId: string }) => isComplete(await statusRecord(requestId));

describe('a crash at any step boundary, then normal redelivery: exact output (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startFaultService();
  });
  afterEach(() => service.close());

  /** 450 contacts (5 batches, the last one short) through the pipeline with `faults` in the worker. */
  async function runWith(faults: FaultHooks, concurrency = 4, batchSize?: number) {
    const contacts = makeContacts(450, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.json.totalBatches).toBe(5);
    runPipeline(service, { worker: workerWith(faults), concurrency, batchSize, visibilityTimeout: 1 });
    const final = await waitForFinal(res.json.requestId, 30_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 5, processedBatches: 5, failedBatches: 0 });
    expect(sorted((await statusRecord(res.json.requestId)).doneBatches)).toEqual([0, 1, 2, 3, 4]);
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
    return final;
  }

  it.each(['worker:after-enrich', 'worker:after-result-write', 'worker:after-shard-record', 'worker:after-record'])(
    'every batch crashes once at %s',
    async (point) => {
      const hook = crashAt(point);
      await runWith(hook);
      expect(hook.crashes).toBe(5);
    },
  );

  // Deployed, the worker takes up to 10 messages per invocation (serverless/functions.yml, batchSize 10). A crash
  // kills the invocation with messages at every stage: some recorded, some halfway, some not started. Every one of
  // them is redelivered, the ones already recorded included.
  it.each(['worker:after-enrich', 'worker:after-result-write', 'worker:after-shard-record', 'worker:after-record'])(
    'an invocation of up to 10 messages dies when its third reaches %s: every message redelivered, exact output',
    async (point) => {
      const contacts = makeContacts(2_000, { extra: true });
      const res = await submit({ contacts, fields_to_enrich: FIELDS });
      expect(res.json.totalBatches).toBe(20);
      const dying = dyingInvocations(point, { deaths: 2 });
      const worker = countingDeliveries(dying.wrap(workerWith(dying.hooks)));
      runPipeline(service, { worker: worker.handler, concurrency: 2, batchSize: 10, visibilityTimeout: 1 });
      const final = await waitForFinal(res.json.requestId, 60_000);

      expect(dying.hooks.deaths).toBe(2);
      // The dead invocations' messages came back: more deliveries than batches.
      expect([...worker.counts.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
      expect(final).toMatchObject({ status: 'completed', totalBatches: 20, processedBatches: 20, failedBatches: 0 });
      expect(sorted((await statusRecord(res.json.requestId)).doneBatches)).toEqual([...Array(20).keys()]);
      expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
      expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
    },
  );

  it('the batch that completes the request crashes after its counter update, before assembly', async () => {
    // One batch at a time, so the batch that sees the request complete is the one that completed it.
    const hook = crashAt('worker:after-record', { when: requestComplete });
    await runWith(hook, 1, 1);
    expect(hook.crashes).toBe(1);
  });

  it.each(['assembly:midway', 'assembly:after-upload'])('the assembly crashes once at %s', async (point) => {
    const hook = crashAt(point);
    await runWith(hook);
    expect(hook.crashes).toBe(1);
  });

  it('crashes at every point at once (each batch once per point, the assembly twice)', async () => {
    const hooks: CrashHook[] = [
      crashAt('worker:after-enrich'),
      crashAt('worker:after-result-write'),
      crashAt('worker:after-record'),
      crashAt('assembly:midway'),
      crashAt('assembly:after-upload'),
    ];
    await runWith({
      at: async (point, ctx) => {
        for (const h of hooks) await h.at(point, ctx);
      },
    });
    expect(hooks.map((h) => h.crashes)).toEqual([5, 5, 5, 1, 1]);
  });
});

describe('sharded counting: a crash between the shard record and its promotion (fauxqs + dynalite)', () => {
  let service: TestService;
  afterEach(() => service.close());

  /** 300 one-contact batches: shards of 256 and 44 batches. */
  async function sharded(env: Record<string, string> = {}) {
    service = await startFaultService({ BATCH_SIZE: '1', ...env });
    const contacts = makeContacts(300);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.json.totalBatches).toBe(300);
    return { contacts, requestId: res.json.requestId as string, messages: await takeAllBatchMessages(service) };
  }
  /** The status item as stored, not summed. */
  const storedItem = async (requestId: string) =>
    (
      await DynamoDBDocumentClient.from(service.ddb).send(
        new GetCommand({ TableName: service.table, Key: { requestId }, ConsistentRead: true }),
      )
    ).Item!;
  /** Every message twice, the two copies of each 50 at the same time (concurrent duplicates on one shard). */
  const deliverAll = async (handler: ReturnType<typeof workerFn>, messages: BatchMessage[], receiveCount = 1) => {
    for (let i = 0; i < messages.length; i += 50) {
      const chunk = messages.slice(i, i + 50).map((m) => ({ body: JSON.stringify(m), receiveCount }));
      await Promise.all([handler(sqsEvent(chunk)), handler(sqsEvent(chunk))]);
    }
  };

  it('every batch recorded but no shard promoted: status reads still count them all; redeliveries promote each shard once and complete the request', async () => {
    const { contacts, requestId, messages } = await sharded();
    const hook = crashAt('worker:after-shard-record', { times: Infinity });
    await deliverAll(workerWith(hook), messages);
    expect(hook.crashes).toBeGreaterThanOrEqual(300);
    const recorded = await statusRecord(requestId);
    expect(recorded).toMatchObject({ status: 'processing', processedBatches: 300, failedBatches: 0 });
    expect(recorded.doneBatches?.size).toBe(300);
    expect((await storedItem(requestId)).fullShards).toBeUndefined();

    // One redelivery from shard 1 promotes shard 1 only: the request is not complete on the status item.
    const callsBefore = service.mockApi.calls();
    await workerFn()(sqsEvent([{ body: JSON.stringify(messages[280]), receiveCount: 2 }]));
    await workerFn()(sqsEvent([{ body: JSON.stringify(messages[281]), receiveCount: 2 }])); // promotes nothing twice
    expect(await storedItem(requestId)).toMatchObject({
      processedBatches: 44,
      fullShards: new Set([1]),
      status: 'processing',
    });
    expect(await statusRecord(requestId)).toMatchObject({ status: 'processing', processedBatches: 300 });

    // 5 messages of shard 0 again, twice and concurrently: shard 0 promoted once, the request completes exactly
    // (each duplicate that sees it complete re-drives the assembly, as before sharding).
    await deliverAll(workerFn(), messages.slice(0, 5), 2);
    expect(service.mockApi.calls() - callsBefore).toBe(0); // duplicates never reach the API
    const final = await waitForFinal(requestId, 30_000);
    expect(final).toMatchObject({ status: 'completed', totalBatches: 300, processedBatches: 300, failedBatches: 0 });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
    const item = await storedItem(requestId);
    expect(item.fullShards).toBeUndefined(); // the final item has a constant size
    expect(item.running).toBeUndefined(); // out of the index of running requests
  }, 60_000);

  it('a lost promotion with every message lost is repaired by reconcile, which counts the shards', async () => {
    const { contacts, requestId, messages } = await sharded({ RECONCILE_STALL_SECONDS: '1' });
    const hook = crashAt('worker:after-shard-record', {
      times: Infinity,
      when: (ctx) => ctx.batchIndex === 299 || ctx.batchIndex === 100,
    });
    for (let i = 0; i < messages.length; i += 50) {
      await workerWith(hook)(sqsEvent(messages.slice(i, i + 50).map((m) => ({ body: JSON.stringify(m) }))));
    }
    expect(hook.crashes).toBe(2);
    expect(await statusRecord(requestId)).toMatchObject({ status: 'processing', processedBatches: 300 });
    await sleep(1_200);
    expect((await reconcileWith()()).reconciled).toEqual([expect.objectContaining({ requestId, action: 'assembled' })]);
    const final = await waitForFinal(requestId, 10_000);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 300, failedBatches: 0 });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
  });
});

describe('partial batch responses (fauxqs + dynalite)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('reports batchItemFailures for the failing record only; neighbours are recorded; malformed records are dropped', async () => {
    service = await startFaultService();
    const contacts = makeContacts(400);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    const messages = await takeAllBatchMessages(service);
    const hook = crashAt('worker:after-enrich', { times: Infinity, when: (ctx) => ctx.batchIndex === 2 });
    const event = sqsEvent([
      ...messages.map((m) => ({ body: JSON.stringify(m), messageId: `m${m.batchIndex}` })),
      { body: 'not json', messageId: 'garbage' },
      { body: JSON.stringify({ requestId, batchIndex: 9 }), messageId: 'not-a-batch' },
    ]);

    const response = await workerWith(hook)(event);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
    const record = await statusRecord(requestId);
    expect(record).toMatchObject({ status: 'processing', processedBatches: 3, failedBatches: 0 });
    expect(sorted(record.doneBatches)).toEqual([0, 1, 3]);

    // Lambda retries only m2; the neighbours are not enriched again.
    const callsBefore = service.mockApi.calls();
    expect(
      await workerFn()(sqsEvent([{ body: JSON.stringify(messages[2]), messageId: 'm2', receiveCount: 2 }])),
    ).toEqual({ batchItemFailures: [] });
    expect(service.mockApi.calls() - callsBefore).toBe(1);
    expect(await waitForFinal(requestId, 5_000)).toMatchObject({
      status: 'completed',
      processedBatches: 4,
      failedBatches: 0,
    });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
  });

  it('through the event source with batchSize 10: a message that always crashes never makes its neighbours retry', async () => {
    service = await startFaultService({ BATCH_SIZE: '10' });
    const contacts = makeContacts(100);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.json.totalBatches).toBe(10);
    const requestId: string = res.json.requestId;
    await sendRaw(service, '{"not":"a batch message"}');

    const hook = crashAt('worker:after-enrich', { times: Infinity, when: (ctx) => ctx.batchIndex === 4 });
    const worker = countingDeliveries(workerWith(hook));
    runPipeline(service, { worker: worker.handler, concurrency: 1, batchSize: 10, visibilityTimeout: 1 });
    const final = await waitForFinal(requestId, 30_000);

    expect(final).toMatchObject({ status: 'completed_with_errors', processedBatches: 9, failedBatches: 1 });
    const expected = expectedRows(contacts, [...FIELDS], failures(contactsOfBatches([4], 100, 10), DLQ_REASON));
    expectOutput(await readOutput(service, requestId), expected);
    // Each neighbour once; the bad batch as often as the redrive policy allows (maxReceiveCount 5); the malformed one once.
    expect(Object.fromEntries(worker.counts)).toEqual({
      '-1': 1,
      0: 1,
      1: 1,
      2: 1,
      3: 1,
      4: 5,
      5: 1,
      6: 1,
      7: 1,
      8: 1,
      9: 1,
    });
    expect(hook.crashes).toBe(5);
    expect((await status(requestId)).failedBatches).toBe(1);
    expect(await drainedDepth(service)).toBe(0);
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  });
});
