import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoStatusStore } from '../../src/adapters/statusTable';
import type { FaultHooks } from '../../src/core/ports';
import type { ReconcileDeps } from '../../src/core/reconcile';
import type { WorkerDeps } from '../../src/core/processBatch';
import type { StatusRecord } from '../../src/schemas/status';
import type { LambdaContext } from '../../src/handlers/processBatch';
import type { BatchMessage } from '../../src/schemas/message';
import type { EventSource } from '../../src/local/sqsEventSource';
import { assembleFn, dlqFn, intakeFn, reconcileFn, workerDepsFn, workerFn } from './functions';
import { currentService, startTestService, type TestService } from './service';

export type FaultContext = { requestId: string; batchIndex?: number };
export type SqsHandler = (event: SQSEvent, context?: LambdaContext) => Promise<SQSBatchResponse>;

/**
 * Knobs a test in this file may turn, reset to the service's defaults for every new service so
 * that one test's setting never leaks into the next one (startTestService only resets some).
 */
export const KNOB_DEFAULTS = {
  BATCH_SIZE: '100',
  ENRICHMENT_MAX_ATTEMPTS: '4',
  ENRICHMENT_SUBBATCH_MAX_ATTEMPTS: '2',
  // Exact assertions under 30% random errors: a good contact left alone fails all 12 tries once in
  // 2 million (the default 8: once in 15,000, which over the ~50 such contacts of a run would flake).
  ENRICHMENT_SINGLE_MAX_ATTEMPTS: '12',
  ENRICHMENT_TIMEOUT_MS: '10000',
  WORKER_TIME_RESERVE_MS: '5000',
  MOCK_SPIKE_MS: '0',
};

export function startFaultService(
  env: Record<string, string> = {},
  editServerlessYml?: Parameters<typeof startTestService>[1],
): Promise<TestService> {
  return startTestService({ ...KNOB_DEFAULTS, ...env }, editServerlessYml);
}

/** What crashAt throws: to the code under test, any error (it needs no way of telling it apart). */
export class InjectedCrash extends Error {
  constructor(readonly point: string) {
    super(`injected crash at ${point}`);
    this.name = 'InjectedCrash';
  }
}

export interface CrashHook extends FaultHooks {
  /** Crashes injected so far. */
  readonly crashes: number;
}

/**
 * A fault hook that throws InjectedCrash at `point`: `times` crashes for each batch (or, at the
 * assembly points, for each request), optionally only where `when` says so. Wired only through
 * makeHandler(deps) in tests; production wiring passes noFaults.
 */
export function crashAt(
  point: string,
  opts: { times?: number; when?: (ctx: FaultContext) => boolean | Promise<boolean> } = {},
): CrashHook {
  const times = opts.times ?? 1;
  const perKey = new Map<string, number>();
  let crashes = 0;
  return {
    get crashes() {
      return crashes;
    },
    async at(at, ctx) {
      if (at !== point) return;
      const key = `${ctx.requestId}/${ctx.batchIndex ?? '-'}`;
      if ((perKey.get(key) ?? 0) >= times) return;
      if (opts.when && !(await opts.when(ctx))) return;
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      crashes += 1;
      throw new InjectedCrash(point);
    },
  };
}

/**
 * An invocation that dies (its process crashes) when one of its messages reaches `point`, `deaths` times in all:
 * the event source sees the whole invocation fail and redelivers every message of it, while the messages of the
 * dead invocation stop at the next fault point they reach (a crashed process runs nothing more). Messages between
 * two points when it dies run on to the next one, as work in flight on other threads of a crashing process may.
 * `hooks` go into the worker's deps, `wrap` around its handler.
 */
export function dyingInvocations(point: string, opts: { deaths: number; afterHits?: number }) {
  const invocation = new AsyncLocalStorage<{ die: (err: Error) => void; dead: boolean; hits: number }>();
  const frozen = () => new Promise<void>(() => undefined);
  let deaths = 0;
  const hooks: FaultHooks & { readonly deaths: number } = {
    get deaths() {
      return deaths;
    },
    async at(at) {
      const inv = invocation.getStore();
      if (!inv) return;
      if (inv.dead) return frozen();
      if (at !== point || deaths >= opts.deaths) return;
      // Dies at the (afterHits + 1)-th message of the invocation that reaches the point: some are past it already.
      if (inv.hits++ < (opts.afterHits ?? 2)) return;
      inv.dead = true;
      deaths += 1;
      inv.die(new InjectedCrash(point));
      return frozen();
    },
  };
  const wrap =
    (handler: SqsHandler): SqsHandler =>
    (event, context) => {
      let die: (err: Error) => void = () => undefined;
      const died = new Promise<never>((_, reject) => {
        die = reject;
      });
      return invocation.run({ die, dead: false, hits: 0 }, () => Promise.race([handler(event, context), died]));
    };
  return { hooks, wrap };
}

export const withFaults = (faults: FaultHooks): (() => WorkerDeps) => workerDepsFn({ faults });

/** The worker function (src/handlers/processBatch) with a fault hook wired in. */
export const workerWith = (faults: FaultHooks): SqsHandler => workerFn(faults);

/** The reconcile function (src/handlers/reconcile), optionally with its clock or other deps replaced. */
export const reconcileWith = (overrides: Partial<ReconcileDeps> = {}) => reconcileFn(overrides);

/** Counts the records that reach a handler, by batch index (-1 for bodies that are not batch messages). */
export function countingDeliveries(handler: SqsHandler): { handler: SqsHandler; counts: Map<number, number> } {
  const counts = new Map<number, number>();
  return {
    counts,
    handler: (event, context) => {
      for (const r of event.Records) {
        let index = -1;
        try {
          index = (JSON.parse(r.body) as BatchMessage).batchIndex ?? -1;
        } catch {
          /* not a batch message */
        }
        counts.set(index, (counts.get(index) ?? 0) + 1);
      }
      return handler(event, context);
    },
  };
}

/**
 * Lambda's SQS event source mapping of the intake function on the intake queue (serverless.yml), polling with
 * the intake's role. `timeoutMs`: each invocation's deadline (short ones make the intake continue itself).
 */
export function runIntakeSource(
  service: TestService,
  opts: { intake?: SqsHandler; concurrency?: number; visibilityTimeout?: number; timeoutMs?: number } = {},
): EventSource {
  const q = service.resources.queues.IntakeQueue;
  return service.deliver(q.url, q.arn, opts.intake ?? intakeFn(), {
    functionKey: 'intake',
    concurrency: opts.concurrency ?? 1,
    visibilityTimeout: opts.visibilityTimeout ?? 1,
    timeoutMs: opts.timeoutMs ?? 900_000,
  });
}

/**
 * Lambda's SQS event source mappings of serverless.yml for a request's batches: the worker on the batch queue,
 * handleFailedBatch on the dead-letter queue, and assembleOutput on the assembly queue (large requests). The 1 s
 * visibility timeout makes retries quick; tests whose workers run long on purpose pass a longer one so that a
 * slow batch is not redelivered.
 */
export function runPipeline(
  service: TestService,
  opts: {
    worker?: SqsHandler;
    dlq?: SqsHandler;
    assembler?: SqsHandler;
    concurrency?: number;
    visibilityTimeout?: number;
    batchSize?: number;
    timeoutMs?: number;
  } = {},
): void {
  service.deliver(service.queueUrl, service.queueArn, opts.worker ?? workerFn(), {
    concurrency: opts.concurrency ?? 4,
    visibilityTimeout: opts.visibilityTimeout ?? 1,
    batchSize: opts.batchSize,
    timeoutMs: opts.timeoutMs,
  });
  service.deliver(service.dlqUrl, service.dlqArn, opts.dlq ?? dlqFn(), {
    concurrency: 2,
    visibilityTimeout: 1,
    timeoutMs: opts.timeoutMs,
  });
  const assembly = service.resources.queues.AssemblyQueue;
  service.deliver(assembly.url, assembly.arn, opts.assembler ?? assembleFn(), {
    functionKey: 'assembleOutput',
    concurrency: 1,
    visibilityTimeout: 1,
    timeoutMs: opts.timeoutMs,
  });
}

/** One invocation as a handler saw it: the time it had (its context's deadline) and the time it took. */
export interface TimedInvocation {
  allowedMs: number;
  tookMs: number;
}

/** Records, for every invocation of `handler`, how long it had before its deadline and how long it ran. */
export function timedInvocations(handler: SqsHandler): { handler: SqsHandler; invocations: TimedInvocation[] } {
  const invocations: TimedInvocation[] = [];
  return {
    invocations,
    handler: async (event, context) => {
      if (!context) throw new Error('timedInvocations needs the Lambda context the event source passes');
      const allowedMs = context.getRemainingTimeInMillis();
      const started = Date.now();
      try {
        return await handler(event, context);
      } finally {
        invocations.push({ allowedMs, tookMs: Date.now() - started });
      }
    },
  };
}

/** Receives every visible message of a queue, hidden for `hideSeconds`; nothing is deleted. */
export async function receiveAll(service: TestService, url = service.queueUrl, hideSeconds = 300): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const res = await service.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: hideSeconds,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (!res.Messages?.length) return out;
    out.push(...res.Messages);
  }
}

export async function deleteMessages(service: TestService, messages: Message[], url = service.queueUrl): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const entries = messages.slice(i, i + 10).map((m, j) => ({ Id: `d${j}`, ReceiptHandle: m.ReceiptHandle! }));
    const res = await service.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: entries }));
    if (res.Failed?.length) throw new Error(`could not delete ${res.Failed.length} messages`);
  }
}

/** Makes received messages visible again at once. */
export async function releaseMessages(
  service: TestService,
  messages: Message[],
  url = service.queueUrl,
): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const entries = messages
      .slice(i, i + 10)
      .map((m, j) => ({ Id: `r${j}`, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
    await service.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries }));
  }
}

/** Takes every message of the batch queue off it for good, returning the batch messages they carried, by index. */
export async function takeAllBatchMessages(service: TestService): Promise<BatchMessage[]> {
  const messages = await receiveAll(service);
  await deleteMessages(service, messages);
  return messages.map((m) => JSON.parse(m.Body!) as BatchMessage).sort((a, b) => a.batchIndex - b.batchIndex);
}

/** Simulated message loss: the batch queue's messages for `lost` batches are deleted unprocessed, the rest put back. */
export async function loseBatchMessages(service: TestService, lost: ReadonlySet<number>): Promise<void> {
  const messages = await receiveAll(service);
  const isLost = (m: Message) => lost.has((JSON.parse(m.Body!) as BatchMessage).batchIndex);
  const gone = messages.filter(isLost);
  if (gone.length !== lost.size) throw new Error(`expected ${lost.size} messages to lose, found ${gone.length}`);
  await deleteMessages(service, gone);
  await releaseMessages(
    service,
    messages.filter((m) => !isLost(m)),
  );
}

export async function sendRaw(service: TestService, body: string, url = service.queueUrl): Promise<void> {
  await service.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
}

/** The status item straight from DynamoDB (counts summed over its shards), with the done-batch set its shards hold. */
export const statusRecord = async (requestId: string): Promise<StatusRecord> => {
  const store = dynamoStatusStore(process.env.TABLE_NAME, DynamoDBDocumentClient.from(currentService().ddb));
  const record = await store.get(requestId);
  if (!record) throw new Error(`no status item for ${requestId}`);
  return { ...record, doneBatches: await store.doneBatches(record) };
};

/** Polls the stored status item until `done` holds; fails after `timeoutMs`. */
export async function waitForRecord(
  requestId: string,
  done: (r: StatusRecord) => boolean,
  timeoutMs = 20_000,
): Promise<StatusRecord> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await statusRecord(requestId);
    if (done(r)) return r;
    if (Date.now() > until)
      throw new Error(
        `status item never reached the expected state: ${JSON.stringify({ ...r, doneBatches: [...(r.doneBatches ?? [])] })}`,
      );
    await new Promise((res) => setTimeout(res, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seeded shuffle (mulberry32), so a failing order can be replayed. */
export function shuffled<T>(items: readonly T[], seed = 7): T[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Indexes of the contacts in the given batches. */
export function contactsOfBatches(batches: Iterable<number>, total: number, batchSize = 100): number[] {
  const out: number[] = [];
  for (const b of batches) for (let i = b * batchSize; i < Math.min(total, (b + 1) * batchSize); i++) out.push(i);
  return out;
}

/** Waits (a few seconds at most) for a queue to drain, since an event source deletes a message only after its handler returned; returns the depth. */
export async function drainedDepth(service: TestService, url = service.queueUrl, timeoutMs = 5_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const depth = await service.queueDepth(url);
    if (depth === 0 || Date.now() > until) return depth;
    await sleep(100);
  }
}
