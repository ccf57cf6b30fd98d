import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { toEvent } from '../../src/local/sqsEventSource';
import { apiEvent, makeContacts } from '../support/factories';
import { startTestService, type TestService } from '../support/service';
import { startTraceAgent, type ReceivedSpan } from '../support/traceAgent';

/**
 * Item 6 of issue 10: one trace from the create call through SQS to the worker's spans, proved without a Datadog
 * account. Each invocation runs in its own Node process under dd-trace (test/support/tracedInvocation.ts), pointed
 * at a local trace intake (test/support/traceAgent.ts); the batch message goes from the queue to the worker as
 * Lambda's event source delivers it, message attributes included.
 */
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const DD = { DD_ENV: 'trace-test', DD_SERVICE: 'enrichment-service', DD_VERSION: '9.9.9-test' };

interface Invocation {
  result: { statusCode?: number; body?: string; batchItemFailures?: unknown[] };
  awsRequestId: string;
  logs: Array<Record<string, any>>;
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

  async function invoke(fn: 'createEnrichment' | 'processBatch', event: unknown): Promise<Invocation> {
    const file = path.join(dir, `${fn}.json`);
    writeFileSync(file, JSON.stringify(event));
    const credentials = await service.as(fn).s3.config.credentials();
    const { stdout } = await run(
      process.execPath,
      ['-r', 'dd-trace/init', '-r', 'ts-node/register/transpile-only', 'test/support/tracedInvocation.ts', fn, file, credentials.accessKeyId],
      {
        cwd: ROOT,
        timeout: 60_000,
        env: {
          ...process.env,
          ...DD,
          DD_TRACE_ENABLED: 'true',
          DD_TRACE_AGENT_URL: agent.url,
          DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
          DD_REMOTE_CONFIGURATION_ENABLED: 'false',
          DD_TRACE_STARTUP_LOGS: 'false',
          LOG_SILENT: 'false',
        },
      },
    );
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const done = lines.find((l) => l.invocation)?.invocation;
    if (!done) throw new Error(`${fn} printed no result:\n${stdout}`);
    return { ...done, logs: lines.filter((l) => !l.invocation) };
  }

  async function receiveAll(count: number): Promise<Message[]> {
    const got: Message[] = [];
    for (let i = 0; i < 20 && got.length < count; i++) {
      const res = await service.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: service.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
      );
      got.push(...(res.Messages ?? []));
    }
    return got;
  }

  async function waitForSpans(names: string[]): Promise<ReceivedSpan[]> {
    for (let i = 0; i < 100; i++) {
      const all = agent.spans();
      if (names.every((n) => all.some((s) => s.name === n))) return all;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`spans ${names.join(', ')} never arrived; got ${[...new Set(agent.spans().map((s) => s.name))].join(', ')}`);
  }

  const one = (name: string): ReceivedSpan => {
    const found = spans.filter((s) => s.name === name);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const byId = (id: string) => spans.find((s) => s.span_id === id);
  /** The span's ancestors, nearest first, as far as the received spans go. */
  const ancestors = (span: ReceivedSpan): ReceivedSpan[] => {
    const chain: ReceivedSpan[] = [];
    for (let p = byId(span.parent_id); p; p = byId(p.parent_id)) chain.push(p);
    return chain;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trace-test-'));
    agent = await startTraceAgent();
    service = await startTestService({ BATCH_SIZE: '2', MOCK_INVALID_MODE: 'call', ENRICHMENT_SINGLE_MAX_ATTEMPTS: '2' });
    create = await invoke('createEnrichment', apiEvent({ body: JSON.stringify({ contacts, fields_to_enrich: ['job_title'] }), headers: { 'x-api-key': 'trace-test-key' } }));
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

  it('follows one trace from the create call through SendMessageBatch to the worker\'s batch and enrichment API spans', () => {
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
    const carrying = spans.filter((s) => values.some((v) => JSON.stringify(s).includes(v))).map((s) => `${s.name} ${s.resource}`);
    expect(carrying).toEqual([]);
  });

  it('joins the worker\'s log lines to its trace: dd.trace_id/dd.span_id, service/env/version and awsRequestId as JSON fields', () => {
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
