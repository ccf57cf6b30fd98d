/**
 * One role of the pipeline in its own process, so that its peak RSS is its own (the emulators live in the
 * bench's process). Started by bench/run.ts with the stack's environment; talks to it over IPC:
 *
 *   role=create:      waits for {body, headers}, calls the create handler once, answers {result, ms, maxRssMB}.
 *   role=<function>:  an SQS-triggered function of serverless.yml (processBatch, handleFailedBatch, ...):
 *                     polls its queue through the real handler until told {stop}, answers {invocations, maxRssMB}.
 *   role=assembly:    assembleOutput alone against the byte-counting store (bench/assembly.ts) for {contacts}.
 *   role=intake-standin: the intake use case (runIntake) on an upload against that store (bench/intakeStandIn.ts).
 *   role=floor:       the pipeline's AWS calls with no work (bench/floor.ts): answers each {op, calls, concurrency,
 *                     base} with {wallMs, cpuMs} until told {stop}.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ServerlessConfig } from '../src/local/serverlessConfig';
import { startSqsEventSource } from '../src/local/sqsEventSource';

const ROOT = path.resolve(__dirname, '..');
const send = (m: unknown) => process.send!(m);
/** The last answer: then exit on our own, so that --cpu-prof writes its profile. */
const finish = (m: unknown) => process.send!(m, () => process.exit(0));
/**
 * This process's peak RSS: Linux's VmHWM, which starts afresh with the program. Not resourceUsage().maxRSS:
 * getrusage keeps the peak across fork + exec, so it would report the bench process's RSS at the fork.
 */
function maxRssMB(): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(
    existsSync('/proc/self/status') ? readFileSync('/proc/self/status', 'utf8') : '',
  );
  return Math.round((hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) / 1024);
}

/**
 * The handler serverless.yml names for a function (`src/handlers/x.handler`), bundled by esbuild as the
 * deployed function is (custom.esbuild) and loaded from the bundle: no ts-node compiling in the measured path.
 */
function handlerOf(sls: ServerlessConfig, functionKey: string): (...args: unknown[]) => Promise<unknown> {
  const spec = (sls.functions() as Record<string, { handler: string }>)[functionKey]?.handler;
  if (!spec) throw new Error(`no function ${functionKey} in serverless.yml`);
  const dot = spec.lastIndexOf('.');
  // Our code bundled; packages (plain JavaScript) loaded from node_modules, found from the bundle's folder.
  const outfile = path.join(mkdtempSync(path.join(ROOT, '.bench-')), `${functionKey}.js`);
  buildSync({
    entryPoints: [path.join(ROOT, `${spec.slice(0, dot)}.ts`)],
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    outfile,
    logLevel: 'error',
  });
  const handler = require(outfile)[spec.slice(dot + 1)];
  rmSync(path.dirname(outfile), { recursive: true, force: true });
  return handler;
}

async function main(): Promise<void> {
  const role = process.env.BENCH_ROLE!;
  const sls = new ServerlessConfig({ stage: process.env.STAGE!, region: 'us-east-1', env: {} });
  if (role === 'assembly') {
    const { assemblyMemory } = await import('./assembly');
    process.once('message', async (m: { contacts: number }) =>
      finish({ ...(await assemblyMemory(m.contacts)), maxRssMB: maxRssMB() }),
    );
  } else if (role === 'intake-standin') {
    const { intakeStandIn } = await import('./intakeStandIn');
    process.once('message', async (m: { contacts: number }) =>
      finish({ ...(await intakeStandIn(m.contacts)), maxRssMB: maxRssMB() }),
    );
  } else if (role === 'floor') {
    const { floorCaller } = await import('./floor');
    const caller = floorCaller();
    await caller.setUp();
    process.on(
      'message',
      async (m: { stop?: boolean; op: never; calls: number; concurrency: number; base: number }) => {
        if (!m.stop)
          return send(
            await caller
              .run(m.op, m.calls, m.concurrency, m.base)
              .catch((err: Error) => ({ error: `${m.op}: ${err.name}: ${err.message}` })),
          );
        caller.stop();
        finish({ maxRssMB: maxRssMB() });
      },
    );
  } else if (role === 'create') {
    const create = handlerOf(sls, 'createEnrichment');
    process.once('message', async (m: { body: string; headers?: Record<string, string> }) => {
      const t0 = performance.now();
      const res = await create({ body: m.body, headers: m.headers ?? {}, requestContext: { requestId: 'bench' } });
      finish({ result: res, ms: performance.now() - t0, maxRssMB: maxRssMB() });
    });
  } else {
    const source = sls.sqsEventSources().find((s) => s.functionKey === role);
    if (!source) throw new Error(`${role} is not an SQS-triggered function`);
    const handler = handlerOf(sls, role);
    // The function's own timeout from serverless.yml (the intake's 900 s, the worker's), as Lambda gives it.
    const timeoutMs = sls.functionTimeoutSeconds(role) * 1000;
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
      // A Lambda context with the function's timeout, so time budgets behave as deployed.
      invoke: (event) => {
        invocations++;
        const until = Date.now() + timeoutMs;
        return handler(event, { getRemainingTimeInMillis: () => until - Date.now() }) as never;
      },
    });
    process.once('message', async () => {
      await events.stop();
      sqs.destroy();
      finish({ invocations, maxRssMB: maxRssMB() });
    });
  }
  send({ ready: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
