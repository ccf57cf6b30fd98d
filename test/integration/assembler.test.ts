import type { SQSEvent } from 'aws-lambda';
import type { FaultHooks } from '../../src/core/ports';
import type { OutputRow } from '../../src/schemas/contact';
import { makeContacts } from '../support/factories';
import {
  crashAt,
  drainedDepth,
  reconcileWith,
  runPipeline,
  sendRaw,
  sleep,
  startFaultService,
  statusRecord,
  waitForRecord,
  type SqsHandler,
} from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { assembleFn } from '../support/functions';
import { expectCsvMatches, expectedRows, expectOutput, parseNdjson, csvColumns } from '../support/output';
import type { TestService } from '../support/service';

const FIELDS = ['professional_email', 'job_title'] as const;

/** The assembleOutput function, counting its invocations and the requests they were for. */
function countedAssembler(handler: SqsHandler = assembleFn()) {
  const requests: string[] = [];
  return {
    requests,
    handler: (event: SQSEvent) => {
      for (const r of event.Records) requests.push((JSON.parse(r.body) as { requestId: string }).requestId);
      return handler(event);
    },
  };
}

/** A fault hook that fails the test's assembly if any assembly pass starts. */
const noAssemblyPass: FaultHooks = {
  at: (point) => {
    if (point.startsWith('assembly:')) throw new Error(`an assembly pass ran (${point})`);
  },
};

describe('the assembleOutput function: large requests are assembled through the assembly queue (fauxqs + dynalite)', () => {
  let service: TestService;
  // Requests of more than 2 batches take the queue path; 500 contacts are 5 batches.
  beforeEach(async () => {
    service = await startFaultService({ ASSEMBLY_INLINE_MAX_BATCHES: '2' });
  });
  afterEach(() => service.close());

  const assemblyQueue = () => service.resources.queues.AssemblyQueue;

  async function expectExactOutputs(requestId: string, rows: OutputRow[]) {
    expectOutput(await readOutput(service, requestId), rows);
    expect(parseNdjson((await service.getObjectText(`${requestId}/output.ndjson`))!)).toEqual(
      JSON.parse(JSON.stringify(rows)),
    );
    expectCsvMatches((await service.getObjectText(`${requestId}/output.csv`))!, rows, csvColumns(FIELDS));
  }

  it('a request over assemblyInlineMaxBatches is assembled by the assembler, exact in all three formats; a duplicate message after final does nothing', async () => {
    const contacts = makeContacts(500, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.json.totalBatches).toBe(5);
    const assembler = countedAssembler();
    runPipeline(service, { assembler: assembler.handler });
    const final = await waitForFinal(res.json.requestId, 30_000);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 5, failedBatches: 0 });
    expect(assembler.requests).toEqual([res.json.requestId]);
    await expectExactOutputs(res.json.requestId, expectedRows(contacts, [...FIELDS]));
    expect(await drainedDepth(service, assemblyQueue().url)).toBe(0);

    // A duplicate message (the worker's redelivery, reconcile) once the request is final: no pass, no change.
    const before = await statusRecord(res.json.requestId);
    const again = await assembleFn({ faults: noAssemblyPass })({
      Records: [{ messageId: 'dup', body: JSON.stringify({ requestId: res.json.requestId }) }],
    } as SQSEvent);
    expect(again).toEqual({ batchItemFailures: [] });
    expect(await statusRecord(res.json.requestId)).toEqual(before);
    await expectExactOutputs(res.json.requestId, expectedRows(contacts, [...FIELDS]));
  }, 60_000);

  it('a request of at most assemblyInlineMaxBatches is still assembled inline by the worker', async () => {
    const contacts = makeContacts(200);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const assembler = countedAssembler();
    runPipeline(service, { assembler: assembler.handler });
    expect((await waitForFinal(res.json.requestId, 30_000)).status).toBe('completed');
    expect(assembler.requests).toEqual([]);
    await expectExactOutputs(res.json.requestId, expectedRows(contacts, [...FIELDS]));
  }, 60_000);

  it('an assembler that crashes at assembly:midway is redelivered and the output is still exact', async () => {
    const contacts = makeContacts(500, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const hook = crashAt('assembly:midway');
    const assembler = countedAssembler(assembleFn({ faults: hook }));
    runPipeline(service, { assembler: assembler.handler });
    expect(await waitForFinal(res.json.requestId, 30_000)).toMatchObject({ status: 'completed', processedBatches: 5 });
    expect(hook.crashes).toBe(1);
    expect(assembler.requests).toEqual([res.json.requestId, res.json.requestId]);
    await expectExactOutputs(res.json.requestId, expectedRows(contacts, [...FIELDS]));
    expect(await drainedDepth(service, assemblyQueue().url)).toBe(0);
  }, 60_000);

  it('a complete request whose assembly message was lost is queued again by reconcile, then assembled', async () => {
    const contacts = makeContacts(500);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    // The assembly message the worker sends is lost (taken and dropped); later ones reach the assembler.
    const assembler = countedAssembler();
    let lose = true;
    runPipeline(service, {
      assembler: (event) => (lose ? Promise.resolve({ batchItemFailures: [] }) : assembler.handler(event)),
    });
    await waitForRecord(requestId, (r) => r.processedBatches === 5);
    // A batch redelivered meanwhile (an invocation that outlived the 1 s visibility timeout) repeats its shard's
    // promotion and asks for the assembly again, as it would to repair a crash: those messages are lost too, until the
    // workers are done.
    expect(await drainedDepth(service)).toBe(0);
    expect(await drainedDepth(service, assemblyQueue().url)).toBe(0);
    expect((await statusRecord(requestId)).status).toBe('processing');
    lose = false;

    // Within the assembly's timeout reconcile waits (the first assembly may still be running); after it, it queues again.
    // Its clock starts at the status's last update: 1.2 s past it.
    await sleep(Date.parse((await statusRecord(requestId)).updatedAt) + 1_200 - Date.now());
    expect((await reconcileWith({ stallSeconds: 1, assemblyTimeoutSeconds: 60 })()).reconciled).toEqual([]);
    expect((await reconcileWith({ stallSeconds: 1, assemblyTimeoutSeconds: 1 })()).reconciled).toEqual([
      expect.objectContaining({ requestId, action: 'assembled', assembly: 'queued' }),
    ]);
    expect((await waitForFinal(requestId, 30_000)).status).toBe('completed');
    expect(assembler.requests).toEqual([requestId]);
    await expectExactOutputs(requestId, expectedRows(contacts, [...FIELDS]));
  }, 60_000);

  /** What the assembly alone read, which the run that finalized the request deletes. */
  async function workFiles(requestId: string) {
    return {
      batches: await service.listKeys(`${requestId}/batches/`),
      input: (await service.getObjectText(`${requestId}/input.json`)) !== undefined,
    };
  }

  it('once final, the batch results and the inline input are deleted (by the assembler and by an inline assembly), and the outputs stay exact', async () => {
    const large = makeContacts(500, { extra: true });
    const small = makeContacts(150);
    const a = await submit({ contacts: large, fields_to_enrich: FIELDS });
    const b = await submit({ contacts: small, fields_to_enrich: FIELDS });
    expect(await workFiles(a.json.requestId)).toEqual({ batches: [], input: true });
    runPipeline(service);
    expect((await waitForFinal(a.json.requestId, 30_000)).status).toBe('completed');
    expect((await waitForFinal(b.json.requestId, 30_000)).status).toBe('completed');
    for (const id of [a.json.requestId, b.json.requestId])
      expect(await workFiles(id)).toEqual({ batches: [], input: false });
    await expectExactOutputs(a.json.requestId, expectedRows(large, [...FIELDS]));
    await expectExactOutputs(b.json.requestId, expectedRows(small, [...FIELDS]));
  }, 60_000);

  it('a run that finds the batch results deleted by a run that finalized meanwhile answers already-final, and the outputs stand', async () => {
    const contacts = makeContacts(500, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const requestId: string = res.json.requestId;
    // Complete, not assembled: the assembly message the worker sends is taken and dropped.
    runPipeline(service, { assembler: () => Promise.resolve({ batchItemFailures: [] }) });
    await waitForRecord(requestId, (r) => r.processedBatches === 5);
    expect((await statusRecord(requestId)).status).toBe('processing');

    // Run B reads one batch ahead and stops halfway until run A has finalized and deleted the batch results.
    let reachedMidway!: () => void;
    const midway = new Promise<void>((r) => (reachedMidway = r));
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    const held: FaultHooks = {
      at: async (point) => {
        if (point !== 'assembly:midway') return;
        reachedMidway();
        await resumed;
      },
    };
    const event = (id: string) => ({ Records: [{ messageId: id, body: JSON.stringify({ requestId }) }] }) as SQSEvent;
    const runB = assembleFn({ faults: held, prefetch: 1 })(event('b'));
    await midway;
    expect(await assembleFn()(event('a'))).toEqual({ batchItemFailures: [] });
    const final = await statusRecord(requestId);
    expect(final.status).toBe('completed');
    expect(await workFiles(requestId)).toEqual({ batches: [], input: false });
    resume();
    expect(await runB).toEqual({ batchItemFailures: [] });
    expect(await statusRecord(requestId)).toEqual(final);
    await expectExactOutputs(requestId, expectedRows(contacts, [...FIELDS]));
  }, 60_000);

  it('a malformed assembly message is dropped, not retried', async () => {
    const { url } = assemblyQueue();
    await sendRaw(service, 'not json', url);
    runPipeline(service);
    expect(await drainedDepth(service, url)).toBe(0);
  });
});
