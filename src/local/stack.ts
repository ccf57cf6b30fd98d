import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLogger } from '../logger';
import { connectHost, startEmulators, useFakeAwsCredentials, type Emulators } from './emulators';
import { startGateway } from './gateway';
import { describeDecision, startIamEdge, type IamEdge } from './iamEdge';
import { functionRoles } from './iamRoles';
import { freePort } from './tcpPorts';
import { provisionFromServerlessYml, type LocalResources } from './provision';
import { ServerlessConfig } from './serverlessConfig';
import { startSqsEventSource, type EventSource } from './sqsEventSource';
import { startSweeper, sweepTargets, type Sweeper } from './sweeper';

export interface StackOptions {
  /** The address the API edge and the emulators listen on (HOST); 127.0.0.1 unless told otherwise. */
  host?: string;
  /** HTTP API port: the local API Gateway edge in front of serverless offline. */
  port?: number;
  /** serverless offline's Lambda invoke port. */
  lambdaPort?: number;
  /** fauxqs (S3 + SQS); 0 picks a free port. */
  s3SqsPort?: number;
  /** dynalite (DynamoDB); 0 picks a free port. */
  dynamodbPort?: number;
  /** Concurrent batch workers (Lambda concurrency of processBatch). */
  workers?: number;
  /** Seconds before a failed batch message is retried locally. */
  retryVisibilitySeconds?: number;
  /** Extra environment for the functions (e.g. MOCK_FAILURE_RATE). */
  env?: NodeJS.ProcessEnv;
  /** Requests each function of the API handles at once; more wait at the edge (LOCAL_API_CONCURRENCY). */
  apiConcurrency?: number;
  /** Requests that may wait per function before the edge answers 429 (LOCAL_API_QUEUE). */
  apiQueue?: number;
  /** The edge's integration and client timeout in ms; API Gateway's 29 s unless set (tests). */
  apiTimeoutMs?: number;
  /** Where serverless offline's output goes; 'inherit' prints it. */
  stdio?: 'inherit' | 'ignore';
  /** The API keys clients must send in x-api-key; none given: one is generated. */
  apiKeys?: string[];
}

/** API_KEYS (comma-separated, one per client) and API_KEY, as `npm start` reads them. */
function apiKeysFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const keys = [...(env.API_KEYS ?? '').split(','), env.API_KEY ?? ''].map((k) => k.trim()).filter(Boolean);
  return [...new Set(keys)];
}

/** The stack's options from the environment, as `npm start` and `npm run demo` read them (docs/configuration.md: The offline stack). */
export function stackOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): StackOptions {
  const num = (name: string) => (env[name] ? Number(env[name]) : undefined);
  return {
    host: env.HOST || undefined,
    apiConcurrency: num('LOCAL_API_CONCURRENCY'),
    apiQueue: num('LOCAL_API_QUEUE'),
    apiTimeoutMs: num('LOCAL_API_TIMEOUT_MS'),
    port: num('PORT'),
    lambdaPort: num('LAMBDA_PORT'),
    s3SqsPort: num('FAUXQS_PORT'),
    dynamodbPort: num('DYNAMODB_PORT'),
    workers: num('LOCAL_WORKERS'),
    retryVisibilitySeconds: num('LOCAL_RETRY_VISIBILITY_SECONDS'),
    apiKeys: apiKeysFromEnv(env),
  };
}

/** The one home of the offline stack's defaults (docs/configuration.md: The offline stack). */
const DEFAULTS = {
  host: '127.0.0.1',
  // 8 capped the stack's own mock, which 8 workers call with up to 10 batches each, at ~110 calls a second (50 ms
  // latency each): a 1M job took 132 s; with 16 the stack's two processes keep both cores busy (113 s). 32: no faster.
  apiConcurrency: 16,
  apiQueue: 1000,
  port: 3000,
  lambdaPort: 3002,
  s3SqsPort: 4566,
  dynamodbPort: 8000,
  workers: 8,
  retryVisibilitySeconds: 5,
};

export interface Stack {
  apiUrl: string;
  /** The keys the API takes in x-api-key (the first is the one to use; generated when none was given). */
  apiKeys: string[];
  emulators: Emulators;
  /** The local IAM edge the functions reach the emulators through, with each function's role applied. */
  iam: IamEdge;
  resources: LocalResources;
  /** Environment the functions run with: endpoints and resource names. */
  env: NodeJS.ProcessEnv;
  invoke(functionKey: string, event: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

const log = createLogger({ service: 'enrichment-service', component: 'local-stack' });
const ROOT = path.resolve(__dirname, '../..');
/** serverless offline's esbuild folder (custom.esbuild.outputWorkFolder): its own, as `sls package` empties its. */
const OFFLINE_BUILD_FOLDER = '.esbuild-offline';

async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null)
      throw new Error(`serverless offline exited with code ${child.exitCode} before it was ready`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`serverless offline did not answer on ${url} within ${timeoutMs / 1000}s`);
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** SIGINT to the child's process group, then SIGKILL to whatever is left after `graceMs`. */
async function stopProcessGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  if (running(child)) {
    const exited = new Promise((r) => child.once('exit', r));
    signalGroup('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
  signalGroup('SIGKILL');
}

/**
 * The whole service on one machine: emulators in this process, resources from serverless.yml,
 * serverless offline for the HTTP API and the functions, and local SQS event sources and a
 * reconcile schedule standing in for Lambda's triggers.
 */
/** The most warm-up invocations started at once (else one function at a time). */
const WARM_AT_ONCE = 40;
/** The function a job runs many of at once: one per batch message in flight (serverless/functions.yml). */
const BATCH_WORKER = 'processBatch';

/**
 * One warm-up invocation. On a loaded machine starting every instance at once can outlast a function's timeout
 * (serverless offline answers `[504] - Lambda timeout.`): that is tried again, then left to start on first use, since
 * warming only saves the first batches' start. Any other failure (a function that cannot start) is thrown.
 */
export async function warmUp(call: () => Promise<unknown>, functionKey: string, attempts = 3): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await call();
      return;
    } catch (err) {
      if (!/Lambda timeout/.test(String(err))) throw err;
      if (attempt >= attempts) {
        log.warn('local stack: a warm-up invocation timed out; the function starts on first use', { functionKey });
        return;
      }
    }
  }
}

/**
 * The warm-up invocations before the ready line, per function: the batch worker and the stack's own mock API (which
 * the workers call) `workers` times, every other function once: a job runs one of each at a time, and more start on
 * first use, as on Lambda. (Every queue-triggered function `workers` times took 11 s of an 8-worker stack's start and
 * ~0.8 GB, for threads a job rarely uses.) Message-free events: each answers without work.
 */
export function warmUpPlan(
  queueFunctions: string[],
  httpFunctions: string[],
  workers: number,
  ownMock: string | undefined,
): Array<{ functionKey: string; instances: number; event: unknown }> {
  return [
    ...queueFunctions.map((functionKey) => ({
      functionKey,
      instances: functionKey === BATCH_WORKER ? workers : 1,
      event: { Records: [] },
    })),
    ...[...new Set(httpFunctions)].map((functionKey) => ({
      functionKey,
      instances: functionKey === ownMock ? workers : 1,
      // No body and no key: each answers 4xx without an AWS call.
      event: { httpMethod: 'GET', path: '/', headers: {}, requestContext: {} },
    })),
  ];
}

/**
 * serverless offline's node arguments. The preloads give each function (a worker thread) its own identity, which the
 * IAM edge maps to its role (functionCredentials.js), and its heap limits (functionMemory.js).
 */
export function serverlessOfflineArgs(region: string): string[] {
  return [
    '-r',
    path.join(__dirname, 'functionCredentials.js'),
    '-r',
    path.join(__dirname, 'functionMemory.js'),
    path.join(ROOT, 'node_modules/serverless/bin/serverless.js'),
    'offline',
    'start',
    '--stage',
    'local',
    '--region',
    region,
  ];
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  useFakeAwsCredentials();
  const port = opts.port ?? DEFAULTS.port;
  const apiKeys = opts.apiKeys?.length ? opts.apiKeys : [`local-${randomBytes(12).toString('hex')}`];
  const lambdaPort = opts.lambdaPort ?? DEFAULTS.lambdaPort;
  const host = opts.host ?? DEFAULTS.host;
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const emulators = await startEmulators({
    s3SqsPort: opts.s3SqsPort ?? DEFAULTS.s3SqsPort,
    dynamodbPort: opts.dynamodbPort ?? DEFAULTS.dynamodbPort,
    host,
  });
  const apiUrl = `http://${host === DEFAULTS.host ? 'localhost' : connectHost(host)}:${port}`;
  // serverless offline listens inside; the gateway in front of it applies API Gateway's and Lambda's size limits.
  const offlinePort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DD_FLUSH_TO_LOG: 'true',
    DD_TRACE_ENABLED: 'false',
    DD_ENHANCED_METRICS: 'false',
    METRICS_ENABLED: process.env.METRICS_ENABLED ?? 'false',
    ...opts.env,
    OFFLINE_HTTP_PORT: String(offlinePort),
    // Its own esbuild folder (serverless.yml, custom.esbuild): `sls package` cleans .esbuild/ when it is done.
    OFFLINE_ESBUILD_FOLDER: OFFLINE_BUILD_FOLDER,
    OFFLINE_BUNDLE_EXTERNALS: 'repository',
    OFFLINE_LAMBDA_PORT: String(lambdaPort),
    PUBLIC_API_URL: apiUrl,
    // The stack's own mock, in the provider's dialect (People Data Labs': its base, the adapter adds /v5/person/bulk).
    ENRICHMENT_API_URL:
      opts.env?.ENRICHMENT_API_URL ??
      `${apiUrl}/mock${(opts.env?.ENRICHMENT_PROVIDER ?? process.env.ENRICHMENT_PROVIDER) === 'peopledatalabs' ? '' : '/enrich'}`,
    // The stack's own mock sits behind the key check like every route; a provider of the user's brings its own key.
    ...(opts.env?.ENRICHMENT_API_URL ? {} : { ENRICHMENT_API_KEY: apiKeys[0] }),
  };
  const sls = new ServerlessConfig({ stage: 'local', region, env });
  let resources: LocalResources;
  let iam: IamEdge;
  // Each function's secret derives from this one (functionCredentials.js): a forger who read the repository
  // still cannot sign as a function.
  const iamSecret = randomBytes(32).toString('hex');
  try {
    resources = await provisionFromServerlessYml(sls, emulators);
    iam = await startIamEdge({
      secret: iamSecret,
      upstream: { s3Sqs: emulators.s3Endpoint, dynamodb: emulators.dynamodbEndpoint },
      functions: functionRoles(sls, resources),
      region,
      log,
      // Always printed, LOG_SILENT or not: AWS would refuse the same call.
      onDenied: (d) => console.error(`IAM denied: ${describeDecision(d)}`),
    });
  } catch (err) {
    await emulators.stop();
    throw err;
  }
  // The functions reach S3, SQS and DynamoDB only through the IAM edge, as their roles allow.
  Object.assign(env, {
    S3_ENDPOINT: iam.url,
    SQS_ENDPOINT: iam.url,
    DYNAMODB_ENDPOINT: iam.url,
    LOCAL_IAM_SECRET: iamSecret,
  });

  // The functions resolve the SDK from the repository's node_modules (custom.esbuild.exclude): never from a copy an
  // earlier start installed into the build folder, at a version the lock may have left since.
  rmSync(path.join(ROOT, OFFLINE_BUILD_FOLDER, '.build', 'node_modules'), { recursive: true, force: true });
  const serverless = serverlessOfflineArgs(region);
  const child = spawn(process.execPath, [path.join(__dirname, 'watchdog.js'), process.execPath, ...serverless], {
    cwd: ROOT,
    env,
    // stdin: the watchdog's lifeline; it kills its group when this process dies, even by SIGKILL.
    stdio: ['pipe', opts.stdio ?? 'inherit', opts.stdio ?? 'inherit'],
    // Its own process group, so stopping it also stops what it started (esbuild's service).
    detached: true,
  });
  child.stdin!.on('error', () => {}); // EPIPE once the watchdog is gone
  const sources: EventSource[] = [];
  const pollers: SQSClient[] = [];
  const operatorSqs = new SQSClient({ region, endpoint: emulators.sqsEndpoint });
  pollers.push(operatorSqs);

  const invoke = async (functionKey: string, event: unknown): Promise<unknown> => {
    // Waits as long as the function may run, and a little more (serverless offline ends it at its timeout): fetch's
    // own 300 s header timeout failed assembleOutput invocations that were still within their 900 s.
    const res = await postJson(
      `http://127.0.0.1:${lambdaPort}/2015-03-31/functions/${sls.functionName(functionKey)}/invocations`,
      JSON.stringify(event),
      (sls.functionTimeoutSeconds(functionKey) + 30) * 1000,
    );
    const payload = res.text ? JSON.parse(res.text) : undefined;
    if (res.status >= 300 || res.functionError) {
      throw new Error(`${functionKey} failed: ${payload?.errorMessage ?? payload?.Message ?? res.status}`);
    }
    return payload;
  };

  let gateway: { close(): Promise<void> } | undefined;
  // The deployed lifecycle rule and TTLs on the local clock (LOCAL_RESULT_TTL_MINUTES; 0: nothing expires), with the
  // stack's own credentials straight to the emulators.
  const ttlMinutes = Number(sls.environment().RESULT_TTL_MINUTES ?? 0);
  const admin = { region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  const sweepS3 = new S3Client({ ...admin, endpoint: emulators.s3Endpoint, forcePathStyle: true });
  const sweepDdb = new DynamoDBClient({ ...admin, endpoint: emulators.dynamodbEndpoint });
  const sweeper: Sweeper | undefined =
    ttlMinutes > 0
      ? startSweeper(sweepTargets(sls), {
          s3: sweepS3,
          ddb: sweepDdb,
          expireItems: emulators.expireItems,
          ttlMinutes,
          now: () => new Date(),
          log,
        })
      : undefined;
  const stop = async () => {
    await sweeper?.stop();
    sweepS3.destroy();
    sweepDdb.destroy();
    await Promise.allSettled(sources.map((s) => s.stop()));
    await gateway?.close();
    await stopProcessGroup(child, 5000);
    for (const poller of pollers) poller.destroy();
    await iam.close();
    await emulators.stop();
  };

  try {
    await waitForHttp(
      `http://127.0.0.1:${offlinePort}/enrichment/00000000-0000-4000-8000-000000000000`,
      child,
      120_000,
    );
    gateway = await startGateway({
      port,
      host,
      target: { host: '127.0.0.1', port: offlinePort },
      tooLarge: sls.tooLargeResponse(),
      apiKeys: new Set(apiKeys),
      invalidApiKey: sls.invalidApiKeyResponse(),
      routes: sls.httpRoutes(),
      concurrency: opts.apiConcurrency ?? DEFAULTS.apiConcurrency,
      maxQueued: opts.apiQueue ?? DEFAULTS.apiQueue,
      timeoutMs: opts.apiTimeoutMs,
    });
  } catch (err) {
    await stop();
    throw err;
  }

  // serverless offline starts a worker thread for each concurrent invocation that finds no idle one: 2-3 s each on
  // 2 cores, so a job's first batches waited 6-15 s. warmUpPlan's invocations start them now, before the ready line;
  // they stay (custom.terminateIdleLambdaTime).
  const workers = opts.workers ?? DEFAULTS.workers;
  const ownMock = opts.env?.ENRICHMENT_API_URL
    ? undefined
    : sls.httpRoutes().find((r) => `${apiUrl}/${r.path}` === env.ENRICHMENT_API_URL)?.functionKey;
  const warm = warmUpPlan(
    sls.sqsEventSources().map((s) => s.functionKey),
    sls.httpRoutes().map((r) => r.functionKey),
    workers,
    ownMock,
  );
  try {
    // All at once up to WARM_AT_ONCE instances (each its own thread), else one function at a time: about 100 threads
    // at once (16 workers) took longer than a function's timeout on a loaded machine (a 504 "Lambda timeout", which
    // warmUp tries again); one at a time, a 2-worker stack took 2 s longer to start (13.4 s against 11.5 s).
    const warmAll = (w: (typeof warm)[number]) =>
      Array.from({ length: w.instances }, () => warmUp(() => invoke(w.functionKey, w.event), w.functionKey));
    if (warm.reduce((n, w) => n + w.instances, 0) <= WARM_AT_ONCE) await Promise.all(warm.flatMap(warmAll));
    else for (const w of warm) await Promise.all(warmAll(w));
  } catch (err) {
    await stop();
    throw err;
  }

  for (const source of sls.sqsEventSources()) {
    const queue = resources.queues[source.queueLogicalId];
    if (!queue)
      throw new Error(
        `function ${source.functionKey} listens to ${source.queueLogicalId}, which is not a queue in resources`,
      );
    // Lambda's event source mapping polls with the function's role.
    const sqs = new SQSClient({
      region,
      endpoint: iam.url,
      credentials: iam.credentialsOf(sls.functionName(source.functionKey)),
    });
    pollers.push(sqs);
    sources.push(
      startSqsEventSource({
        sqs,
        renewSqs: operatorSqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        batchSize: source.batchSize,
        reportBatchItemFailures: source.reportBatchItemFailures,
        concurrency: workers,
        visibilityTimeout: opts.retryVisibilitySeconds ?? DEFAULTS.retryVisibilitySeconds,
        invoke: (event) => invoke(source.functionKey, event),
        log,
      }),
    );
  }
  return { apiUrl, apiKeys, emulators, iam, resources, env, invoke, stop };
}

/** A POST to a local endpoint, given up (the request destroyed) after `timeoutMs`. */
function postJson(
  url: string,
  body: string,
  timeoutMs: number,
): Promise<{ status: number; functionError?: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const functionError = res.headers['x-amz-function-error'];
          resolve({
            status: res.statusCode ?? 0,
            functionError: Array.isArray(functionError) ? functionError[0] : functionError,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}
