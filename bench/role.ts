/**
 * One role of the pipeline in its own process, so that its peak RSS is its own (the emulators live in the
 * bench's process). Started by bench/run.ts with the stack's environment; talks to it over IPC:
 *
 *   role=create:      waits for {go: body}, calls the create handler once, answers {result, ms, maxRssMB}.
 *   role=<function>:  an SQS-triggered function of serverless.yml (processBatch, handleFailedBatch, ...):
 *                     polls its queue through the real handler until told {stop}, answers {invocations, maxRssMB}.
 *   role=assembly:    assembleOutput alone against the byte-counting store (bench/assembly.ts) for {contacts}.
 *   role=intake-standin: the create use case on an upload reference against that store (bench/intakeStandIn.ts).
 */
import path from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ServerlessConfig } from '../src/local/serverlessConfig';
import { startSqsEventSource } from '../src/local/sqsEventSource';

const ROOT = path.resolve(__dirname, '..');
const send = (m: unknown) => process.send!(m);
const maxRssMB = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** The handler serverless.yml names for a function (`src/handlers/x.handler`), loaded as the function would. */
function handlerOf(sls: ServerlessConfig, functionKey: string): (...args: unknown[]) => Promise<unknown> {
  const spec = (sls.functions() as Record<string, { handler: string }>)[functionKey]?.handler;
  if (!spec) throw new Error(`no function ${functionKey} in serverless.yml`);
  const dot = spec.lastIndexOf('.');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(ROOT, spec.slice(0, dot)))[spec.slice(dot + 1)];
}

async function main(): Promise<void> {
  const role = process.env.BENCH_ROLE!;
  const sls = new ServerlessConfig({ stage: process.env.STAGE!, region: 'us-east-1', env: {} });
  if (role === 'assembly') {
    const { assemblyMemory } = await import('./assembly');
    process.once('message', async (m: { contacts: number }) => send({ ...(await assemblyMemory(m.contacts)), maxRssMB: maxRssMB() }));
  } else if (role === 'intake-standin') {
    const { intakeStandIn } = await import('./intakeStandIn');
    process.once('message', async (m: { contacts: number }) => send({ ...(await intakeStandIn(m.contacts)), maxRssMB: maxRssMB() }));
  } else if (role === 'create') {
    const create = handlerOf(sls, 'createEnrichment');
    process.once('message', async (m: { body: string }) => {
      const t0 = performance.now();
      const res = await create({ body: m.body, headers: {}, requestContext: { requestId: 'bench' } });
      send({ result: res, ms: performance.now() - t0, maxRssMB: maxRssMB() });
    });
  } else {
    const source = sls.sqsEventSources().find((s) => s.functionKey === role);
    if (!source) throw new Error(`${role} is not an SQS-triggered function`);
    const handler = handlerOf(sls, role);
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: process.env.SQS_ENDPOINT });
    const queueUrl = process.env[`BENCH_QUEUE_URL_${source.queueLogicalId}`]!;
    let invocations = 0;
    const events = startSqsEventSource({
      sqs,
      queueUrl,
      queueArn: process.env[`BENCH_QUEUE_ARN_${source.queueLogicalId}`]!,
      batchSize: source.batchSize,
      reportBatchItemFailures: source.reportBatchItemFailures,
      concurrency: Number(process.env.BENCH_WORKERS ?? 8),
      visibilityTimeout: 30,
      waitTimeSeconds: 1,
      // A Lambda context with the worker's timeout, so time budgets behave as deployed.
      invoke: (event) => {
        invocations++;
        const until = Date.now() + 60_000;
        return handler(event, { getRemainingTimeInMillis: () => until - Date.now() }) as never;
      },
    });
    process.once('message', async () => {
      await events.stop();
      sqs.destroy();
      send({ invocations, maxRssMB: maxRssMB() });
    });
  }
  send({ ready: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
