import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { ownerIdOf, uploadPrefixOf } from '../../src/core/owner';
import { toEvent } from '../../src/local/sqsEventSource';
import { apiEvent, makeContacts } from '../support/factories';
import { readOutput, status } from '../support/flow';
import { expectedRows, expectOutput } from '../support/output';
import { startTestService, type TestService } from '../support/service';
import { startTraceAgent, type ReceivedSpan } from '../support/traceAgent';

/**
 * Item 6 of issue 10: one trace from the create call through SQS to the worker's spans, proved without a Datadog
 * account. Each invocation runs in its own Node process under dd-trace (test/support/tracedInvocation.ts), pointed
 * at a local trace intake (test/support/traceAgent.ts); each message goes from its queue to its function as
 * Lambda's event source delivers it, message attributes included. Two paths: an inline request (create → batch
 * queue → worker), and a referenced upload (create → intake queue → intake → batch queue → worker → assembly
 * queue → assembleOutput).
 */
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const DD = { DD_ENV: 'trace-test', DD_SERVICE: 'enrichment-service', DD_VERSION: '9.9.9-test' };

interface Invocation {
  result: { statusCode?: number; body?: string; batchItemFailures?: unknown[] };
  awsRequestId: string;
  logs: Array<Record<string, any>>;
}

type Fn = 'createEnrichment' | 'intake' | 'processBatch' | 'assembleOutput';

/** Runs functions in child processes under dd-trace, against one test service and one local trace intake. */
function tracedRunner(
  service: () => TestService,
  agent: () => Awaited<ReturnType<typeof startTraceAgent>>,
  dir: () => string,
) {
  async function invoke(fn: Fn, event: unknown, env: Record<string, string> = {}): Promise<Invocation> {
    const file = path.join(dir(), `${fn}.json`);
    writeFileSync(file, JSON.stringify(event));
    const credentials = await service().as(fn).s3.config.credentials();
    const { stdout } = await run(
      process.execPath,
      [
        '-r',
        'dd-trace/init',
        '-r',
        'ts-node/register/transpile-only',
        'test/support/tracedInvocation.ts',
        fn,
        file,
        credentials.accessKeyId,
      ],
      {
        cwd: ROOT,
        timeout: 60_000,
        env: {
          ...process.env,
          ...DD,
          DD_TRACE_ENABLED: 'true',
          DD_TRACE_AGENT_URL: agent().url,
          DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
          DD_REMOTE_CONFIGURATION_ENABLED: 'false',
          DD_TRACE_STARTUP_LOGS: 'false',
          LOG_SILENT: 'false',
          FUNCTION_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          ...env,
        },
      },
    );
    const lines = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const done = lines.find((l) => l.invocation)?.invocation;
    if (!done) throw new Error(`${fn} printed no result:\n${stdout}`);
    return { ...done, logs: lines.filter((l) => !l.invocation) };
  }

  /** Takes `count` messages off a queue (the batch queue unless told), with their attributes, as Lambda's event source does. */
  async function receiveAll(count: number, queueUrl = service().queueUrl): Promise<Message[]> {
    const got: Message[] = [];
    for (let i = 0; i < 20 && got.length < count; i++) {
      const res = await service().sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      got.push(...(res.Messages ?? []));
    }
    return got;
  }

  async function waitForSpans(names: string[]): Promise<ReceivedSpan[]> {
    for (let i = 0; i < 100; i++) {
      const all = agent().spans();
      if (names.every((n) => all.some((s) => s.name === n))) return all;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `spans ${names.join(', ')} never arrived; got ${[
        ...new Set(
          agent()
            .spans()
            .map((s) => s.name),
        ),
      ].join(', ')}`,
    );
  }
  return { invoke, receiveAll, waitForSpans };
}

/** Lookups over the spans received. */
function spanLookups(spans: () => ReceivedSpan[]) {
  const one = (name: string): ReceivedSpan => {
    const found = spans().filter((s) => s.name === name);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const byId = (id: string) => spans().find((s) => s.span_id === id);
  /** The span's ancestors, nearest first, as far as the received spans go. */
  const ancestors = (span: ReceivedSpan): ReceivedSpan[] => {
    const chain: ReceivedSpan[] = [];
    for (let p = byId(span.parent_id); p; p = byId(p.parent_id)) chain.push(p);
    return chain;
  };
  return { one, byId, ancestors };
}

describe('traces and logs across the SQS hop (dd-trace in a child process, local trace intake)', () => {
  let service: TestService;
  let agent: Awaited<ReturnType<typeof startTraceAgent>>;
  let dir: string;
  // Batch 1 holds a contact the mock answers with a 500 for the whole call: retries, then a bisection.
  const contacts = makeContacts(4, { poison: new Set([3]) });
  let create: Invocation;
  let worker: Invocation;
  let requestId: string;
  let messages: Message[];
  let spans: ReceivedSpan[];

  const { invoke, receiveAll, waitForSpans } = tracedRunner(
    () => service,
    () => agent,
    () => dir,
  );
  const { one, ancestors } = spanLookups(() => spans);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trace-test-'));
    agent = await startTraceAgent();
    service = await startTestService({
      BATCH_SIZE: '2',
      MOCK_INVALID_MODE: 'call',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '2',
    });
    create = await invoke(
      'createEnrichment',
      apiEvent({
        body: JSON.stringify({ contacts, fields_to_enrich: ['job_title'] }),
        headers: { 'x-api-key': 'trace-test-key' },
      }),
    );
    expect(create.result.statusCode).toBe(202);
    requestId = JSON.parse(create.result.body!).requestId;
    messages = await receiveAll(2);
    expect(messages).toHaveLength(2);
    // Batch 1 (the second entry of the SendMessageBatch call) with its poison contact, as Lambda delivers it: one record.
    const second = messages.find((m) => JSON.parse(m.Body!).batchIndex === 1)!;
    worker = await invoke('processBatch', toEvent([second], service.queueArn, 'us-east-1'));
    expect(worker.result.batchItemFailures).toEqual([]);
    spans = await waitForSpans(['enrichment.create', 'enrichment.batch', 'enrichment.api.call', 'enrichment.bisect']);
  }, 120_000);

  afterAll(async () => {
    await service?.close();
    await agent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("follows one trace from the create call through SendMessageBatch to the worker's batch and enrichment API spans", () => {
    const created = one('enrichment.create');
    expect(created.meta['enrichment.request_id']).toBe(requestId);
    const trace = created.trace_id;

    // Every batch message carries the send span's context in its `_datadog` attribute, not only the first entry
    // (serverless.yml's DD_TRACE_AWS_SDK_SQS_BATCH_PROPAGATION_ENABLED, which startTestService puts in the environment).
    const send = spans.filter((s) => s.meta['aws.operation'] === 'sendMessageBatch');
    expect(send).toHaveLength(1);
    expect(send[0].trace_id).toBe(trace);
    expect(ancestors(send[0])).toContain(created);
    for (const m of messages) {
      const carried = JSON.parse(m.MessageAttributes!._datadog.StringValue!);
      expect(carried['x-datadog-trace-id']).toBe(trace);
      expect(carried['x-datadog-parent-id']).toBe(send[0].span_id);
    }

    // The worker (another process) continues that trace: its batch span is a child of the send span.
    const batch = one('enrichment.batch');
    expect(batch.trace_id).toBe(trace);
    expect(batch.parent_id).toBe(send[0].span_id);
    expect(batch.meta['enrichment.request_id']).toBe(requestId);
    expect(batch.metrics['enrichment.batch_index']).toBe(1);

    // One span per enrichment API call, under the batch (directly or through a bisection), with its attempt,
    // status and retry tags: the whole call failed (500) and was retried, then the bisection's halves.
    const calls = spans.filter((s) => s.name === 'enrichment.api.call');
    expect(calls.length).toBeGreaterThanOrEqual(4);
    for (const call of calls) {
      expect(call.trace_id).toBe(trace);
      expect(ancestors(call)).toContain(batch);
      expect(call.meta['enrichment.request_id']).toBe(requestId);
      expect(call.metrics['enrichment.batch_index']).toBe(1);
      expect(call.meta['enrichment.retry']).toBe(String(call.metrics['enrichment.attempt'] > 1));
    }
    const whole = calls.filter((c) => c.parent_id === batch.span_id);
    expect(whole.map((c) => c.metrics['enrichment.attempt']).sort()).toEqual([1, 2, 3, 4]);
    expect(whole.every((c) => c.meta['http.status_code'] === '500')).toBe(true);
    const bisect = one('enrichment.bisect');
    expect(bisect.parent_id).toBe(batch.span_id);
    const halves = calls.filter((c) => c.parent_id === bisect.span_id);
    expect(halves.some((c) => c.meta['http.status_code'] === '200')).toBe(true);
  });

  it('puts no contact data on any span', () => {
    const values = contacts.flatMap((c) => Object.values(c).map(String));
    const carrying = spans
      .filter((s) => values.some((v) => JSON.stringify(s).includes(v)))
      .map((s) => `${s.name} ${s.resource}`);
    expect(carrying).toEqual([]);
  });

  it("joins the worker's log lines to its trace: dd.trace_id/dd.span_id, service/env/version and awsRequestId as JSON fields", () => {
    const batch = one('enrichment.batch');
    const trace = one('enrichment.create').trace_id;
    expect(worker.logs.length).toBeGreaterThan(0);
    for (const line of [...create.logs, ...worker.logs]) {
      expect(line).toMatchObject({ service: DD.DD_SERVICE, env: DD.DD_ENV, version: DD.DD_VERSION });
      expect(line.dd).toEqual({ trace_id: expect.stringMatching(/^\d+$/), span_id: expect.stringMatching(/^\d+$/) });
    }
    for (const line of create.logs) expect(line.awsRequestId).toBe(create.awsRequestId);
    for (const line of worker.logs) {
      expect(line.awsRequestId).toBe(worker.awsRequestId);
      // The request's trace: the one its create call started.
      expect(line.dd.trace_id).toBe(trace);
    }
    // The batch's own summary line names the batch span.
    const enriched = worker.logs.find((l) => l.msg === 'batch enriched');
    expect(enriched).toMatchObject({ requestId, batchIndex: 1, dd: { trace_id: trace, span_id: batch.span_id } });
  });
});

describe('traces across the intake and assembly queues: create → intake → worker → assembleOutput (dd-trace in child processes)', () => {
  let service: TestService;
  let agent: Awaited<ReturnType<typeof startTraceAgent>>;
  let dir: string;
  let spans: ReceivedSpan[];
  const { invoke, receiveAll, waitForSpans } = tracedRunner(
    () => service,
    () => agent,
    () => dir,
  );
  const { one, ancestors } = spanLookups(() => spans);
  const KEY = 'trace-upload-key';
  const FIELDS = ['job_title'] as const;
  const contacts = makeContacts(4);
  let requestId: string;
  let intakeMessages: Message[];
  let batchMessages: Message[];
  let assemblyMessages: Message[];
  let intake: Invocation;
  let worker: Invocation;
  let assembly: Invocation;

  /** The trace context a message carried (dd-trace's `_datadog` attribute). */
  const carried = (m: Message): Record<string, string> =>
    JSON.parse(m.MessageAttributes?._datadog?.StringValue ?? '{}');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trace-test-'));
    agent = await startTraceAgent();
    service = await startTestService({ BATCH_SIZE: '2' });
    const { IntakeQueue, AssemblyQueue } = service.resources.queues;
    // 1. A contacts file under the caller's uploads prefix; the create call references it: 202 validating.
    const key = `${uploadPrefixOf(ownerIdOf(KEY))}trace.json`;
    await service.s3.send(
      new PutObjectCommand({ Bucket: service.bucket, Key: key, Body: JSON.stringify({ contacts }) }),
    );
    const body = JSON.stringify({ contacts: `s3://${service.bucket}/${key}`, fields_to_enrich: FIELDS });
    const create = await invoke('createEnrichment', apiEvent({ body, headers: { 'x-api-key': KEY } }));
    expect(create.result.statusCode).toBe(202);
    expect(JSON.parse(create.result.body!)).toMatchObject({ status: 'validating' });
    requestId = JSON.parse(create.result.body!).requestId;
    // 2. The intake message, to the intake function: it sends the two batch messages.
    intakeMessages = await receiveAll(1, IntakeQueue.url);
    expect(intakeMessages).toHaveLength(1);
    intake = await invoke('intake', toEvent(intakeMessages, IntakeQueue.arn, 'us-east-1'));
    expect(intake.result.batchItemFailures).toEqual([]);
    batchMessages = await receiveAll(2);
    expect(batchMessages).toHaveLength(2);
    // 3. Both batches to one worker invocation that assembles nothing inline: completing the request queues the assembly.
    worker = await invoke('processBatch', toEvent(batchMessages, service.queueArn, 'us-east-1'), {
      ASSEMBLY_INLINE_MAX_BATCHES: '0',
    });
    expect(worker.result.batchItemFailures).toEqual([]);
    assemblyMessages = await receiveAll(1, AssemblyQueue.url);
    expect(assemblyMessages).toHaveLength(1);
    // 4. The assembly message, to the assembleOutput function.
    assembly = await invoke('assembleOutput', toEvent(assemblyMessages, AssemblyQueue.arn, 'us-east-1'));
    expect(assembly.result.batchItemFailures).toEqual([]);
    spans = await waitForSpans(['enrichment.create', 'enrichment.intake', 'enrichment.batch', 'enrichment.assembly']);
  }, 120_000);

  afterAll(async () => {
    await service?.close();
    await agent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("continues the create call's trace in the intake (across the intake queue) and in the workers (across the batch queue)", () => {
    const created = one('enrichment.create');
    expect(created.meta['enrichment.request_id']).toBe(requestId);
    const trace = created.trace_id;

    // The create call's SendMessage to the intake queue carries its context; the intake's span is its child.
    const toIntake = carried(intakeMessages[0]);
    expect(toIntake['x-datadog-trace-id']).toBe(trace);
    const intakeSend = spans.find((s) => s.span_id === toIntake['x-datadog-parent-id'])!;
    expect(intakeSend).toMatchObject({
      trace_id: trace,
      meta: expect.objectContaining({ 'aws.operation': 'sendMessage' }),
    });
    expect(ancestors(intakeSend)).toContain(created);
    const intakeSpan = one('enrichment.intake');
    expect(intakeSpan.trace_id).toBe(trace);
    expect(intakeSpan.parent_id).toBe(intakeSend.span_id);
    expect(intakeSpan.meta['enrichment.request_id']).toBe(requestId);

    // The intake's SendMessageBatch to the batch queue carries it on, on every entry; each worker batch span is its child.
    const batchSends = spans.filter((s) => s.meta['aws.operation'] === 'sendMessageBatch');
    expect(batchSends).toHaveLength(1);
    expect(batchSends[0].trace_id).toBe(trace);
    expect(ancestors(batchSends[0])).toContain(intakeSpan);
    for (const m of batchMessages)
      expect(carried(m)).toMatchObject({ 'x-datadog-trace-id': trace, 'x-datadog-parent-id': batchSends[0].span_id });
    const batches = spans.filter((s) => s.name === 'enrichment.batch');
    expect(batches.map((b) => b.metrics['enrichment.batch_index']).sort()).toEqual([0, 1]);
    for (const batch of batches) {
      expect(batch.trace_id).toBe(trace);
      expect(batch.parent_id).toBe(batchSends[0].span_id);
      expect(batch.meta['enrichment.request_id']).toBe(requestId);
    }
    expect(intake.logs.find((l) => l.msg === 'upload taken in')).toMatchObject({
      requestId,
      dd: { trace_id: trace, span_id: intakeSpan.span_id },
    });
  });

  it('continues it in the assembly (across the assembly queue), under the worker batch that queued it; the request ends completed', async () => {
    const trace = one('enrichment.create').trace_id;
    // The worker batch that completed the request sent the assembly message inside its span.
    const toAssembly = carried(assemblyMessages[0]);
    expect(toAssembly['x-datadog-trace-id']).toBe(trace);
    const assemblySend = spans.find((s) => s.span_id === toAssembly['x-datadog-parent-id'])!;
    expect(assemblySend).toMatchObject({
      trace_id: trace,
      meta: expect.objectContaining({ 'aws.operation': 'sendMessage' }),
    });
    const queuedBy = ancestors(assemblySend).filter((s) => s.name === 'enrichment.batch');
    expect(queuedBy).toHaveLength(1);
    const assembled = one('enrichment.assembly');
    expect(assembled.trace_id).toBe(trace);
    expect(assembled.parent_id).toBe(assemblySend.span_id);
    expect(assembled.meta['enrichment.request_id']).toBe(requestId);
    // Its log lines join that span (the handler's own summary line comes after the span ends: under the Lambda
    // layer the invocation span covers it; here no span is active then, so it carries no dd ids).
    expect(assembly.logs.find((l) => l.msg === 'request finalized')).toMatchObject({
      requestId,
      dd: { trace_id: trace, span_id: assembled.span_id },
    });
    expect(assembly.logs.find((l) => l.msg === 'assembly message handled')).toMatchObject({
      requestId,
      outcome: 'finalized',
    });

    expect(await status(requestId, { 'x-api-key': KEY })).toMatchObject({
      status: 'completed',
      totalBatches: 2,
      processedBatches: 2,
    });
    expectOutput(await readOutput(service, requestId), expectedRows(contacts, [...FIELDS]));
  });

  it('puts no contact data on any span', () => {
    const values = contacts.flatMap((c) => Object.values(c).map(String));
    expect(
      spans.filter((s) => values.some((v) => JSON.stringify(s).includes(v))).map((s) => `${s.name} ${s.resource}`),
    ).toEqual([]);
  });
});
