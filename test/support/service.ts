import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Context, SQSEvent } from 'aws-lambda';
import { createAwsClients, resetClients, type AwsClients } from '../../src/adapters/clients';
import { resetQueueUrls } from '../../src/adapters/sqs';
import { resetConfig } from '../../src/config';
import { handler as mockEnrich } from '../../src/handlers/mockEnrich';
import { resetWorkerBreaker } from '../../src/handlers/workerWiring';
import { provisionFromServerlessYml, type LocalResources } from '../../src/local/provision';
import { ServerlessConfig } from '../../src/local/serverlessConfig';
import { describeDecision, startIamEdge, type IamEdge } from '../../src/local/iamEdge';
import { functionRoles } from '../../src/local/iamRoles';
import { startSqsEventSource, type EventSource } from '../../src/local/sqsEventSource';
import type { Emulators } from '../../src/local/emulators';
import { apiEvent } from './factories';
import { lambdaContext } from './lambdaContext';

let counter = 0;
const TEST_DD_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:datadog-api-key-test';

/** The service the functions of this test file run against (startTestService points process.env at it). */
let current: TestService | undefined;
/** The harness's own settings (test/support/env.ts), kept over serverless.yml's deployed defaults. */
const HARNESS_ENV = {
  METRICS_ENABLED: process.env.METRICS_ENABLED ?? 'false',
  PUBLIC_API_URL: process.env.PUBLIC_API_URL ?? '',
};

/** The emulators started by globalSetup. */
export function emulators(): Emulators {
  const s3 = process.env.TEST_S3_ENDPOINT;
  const dynamo = process.env.TEST_DYNAMODB_ENDPOINT;
  if (!s3 || !dynamo)
    throw new Error('emulators are not running (the integration tier starts them: test/support/globalSetup.ts)');
  return {
    s3Endpoint: s3,
    sqsEndpoint: process.env.TEST_SQS_ENDPOINT!,
    dynamodbEndpoint: dynamo,
    stop: async () => undefined,
  };
}

/** The mock enrichment API's real handler behind a real HTTP server, as the worker sees it in AWS. */
export async function startMockApi(): Promise<{
  url: string;
  calls: () => number;
  /** How many answers the mock gave, by HTTP status. */
  statuses: () => Record<number, number>;
  close(): Promise<void>;
}> {
  let calls = 0;
  const statuses: Record<number, number> = {};
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      calls += 1;
      const result = await mockEnrich(apiEvent({ body: Buffer.concat(chunks).toString('utf8'), path: '/mock/enrich' }));
      statuses[result.statusCode] = (statuses[result.statusCode] ?? 0) + 1;
      res.writeHead(result.statusCode, result.headers as http.OutgoingHttpHeaders);
      res.end(result.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mock/enrich`,
    calls: () => calls,
    statuses: () => ({ ...statuses }),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface TestService {
  stage: string;
  resources: LocalResources;
  bucket: string;
  table: string;
  queueUrl: string;
  dlqUrl: string;
  queueArn: string;
  dlqArn: string;
  mockApi: Awaited<ReturnType<typeof startMockApi>>;
  /** The local IAM edge the functions reach AWS through: each function's role from serverless.yml, enforced. */
  iam: IamEdge;
  /** A function's own AWS clients: they sign as that function, so the edge applies its role. */
  as(functionKey: string): AwsClients;
  /** The test's own clients below: straight to the emulators, with no role applied (the operator's view). */
  s3: S3Client;
  sqs: SQSClient;
  ddb: DynamoDBClient;
  getObjectText(key: string): Promise<string | undefined>;
  listKeys(prefix?: string): Promise<string[]>;
  scanTable(): Promise<number>;
  queueDepth(url?: string): Promise<number>;
  /** The worker's timeout in serverless.yml (processBatch and handleFailedBatch share it), in ms. */
  workerTimeoutMs: number;
  /**
   * Lambda's SQS event source mapping, with the given handler as the function. It polls with the
   * function's role (`functionKey`: processBatch for the batch queue, handleFailedBatch for the DLQ).
   * Each invocation gets a Lambda context whose deadline is `timeoutMs` away (default: the worker's timeout).
   */
  deliver(
    url: string,
    arn: string,
    handler: (event: SQSEvent, context: Context) => Promise<unknown>,
    opts?: {
      concurrency?: number;
      visibilityTimeout?: number;
      batchSize?: number;
      timeoutMs?: number;
      functionKey?: string;
    },
  ): EventSource;
  /**
   * Resolves once the invocations `deliver` has under way now have ended (later ones are not waited for). A
   * request's status turns final before the invocation that finalized it returns: the assembly then deletes the
   * batch results and the inline input, and the handler's own bookkeeping follows.
   */
  invocationsEnded(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Provisions a fresh copy of serverless.yml's resources on the shared emulators under a unique
 * stage, and points this process's configuration (the same env vars Lambda gets) at them.
 */
export async function startTestService(
  env: Record<string, string> = {},
  /** Edits serverless.yml as read, before anything is provisioned (e.g. a role without a statement). */
  editServerlessYml?: (sls: ServerlessConfig) => void,
): Promise<TestService> {
  // Jest loads this module afresh for every test file in the one process, so the counter alone
  // repeats; a random part makes names unique across the whole run (a clash fails CreateTable).
  const stage = `t${++counter}x${randomUUID().slice(0, 12)}`;
  const emu = emulators();
  const mockApi = await startMockApi();
  // A deployed stage's params, with what a deploy must pass (a Datadog key secret; the mock API is started here).
  const sls = new ServerlessConfig({
    stage,
    region: 'us-east-1',
    env: {},
    params: { ddApiKeySecretArn: TEST_DD_SECRET },
  });
  editServerlessYml?.(sls);
  const resources = await provisionFromServerlessYml(sls, emu).catch(async (err: unknown) => {
    await mockApi.close(); // an open server would keep jest from exiting
    throw err;
  });
  const iam = await startIamEdge({
    upstream: { s3Sqs: emu.s3Endpoint, dynamodb: emu.dynamodbEndpoint },
    functions: functionRoles(sls, resources),
    region: 'us-east-1',
  }).catch(async (err: unknown) => {
    await mockApi.close();
    throw err;
  });
  const guarded = { takeDenials: () => iam.takeDenials().map(describeDecision) };
  openEdges.add(guarded);
  Object.assign(process.env, sls.environment(), HARNESS_ENV, {
    S3_ENDPOINT: iam.url,
    SQS_ENDPOINT: iam.url,
    DYNAMODB_ENDPOINT: iam.url,
    ENRICHMENT_API_URL: mockApi.url,
    ENRICHMENT_BACKOFF_BASE_MS: '2',
    ENRICHMENT_BACKOFF_MAX_MS: '20',
    // Test clocks run fast: an open circuit waits half a second, not serverless.yml's 30 s.
    ENRICHMENT_BREAKER_COOLDOWN_MS: '500',
    MOCK_LATENCY_MS: '0',
    MOCK_FAILURE_RATE: '0',
    MOCK_SPIKE_RATE: '0',
    MOCK_THROTTLE_RATE: '0',
    MOCK_INVALID_MODE: 'contact',
    // The result cache is off unless a test turns it on (CACHE_TTL_DAYS): other tests send the same generated
    // contacts again and count the provider calls and rows of each request on its own.
    CACHE_TTL_DAYS: '0',
    ...env,
  });
  resetConfig();
  resetWorkerBreaker();
  resetClients();
  resetQueueUrls();

  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const s3 = new S3Client({ region: 'us-east-1', endpoint: emu.s3Endpoint, forcePathStyle: true, credentials });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: emu.sqsEndpoint, credentials });
  const ddb = new DynamoDBClient({ region: 'us-east-1', endpoint: emu.dynamodbEndpoint, credentials });
  const bucket = Object.values(resources.buckets)[0];
  const table = Object.values(resources.tables)[0];
  const sources: EventSource[] = [];
  const underWay = new Set<Promise<unknown>>();
  const functionClients = new Map<string, AwsClients>();
  const as = (functionKey: string): AwsClients => {
    let clients = functionClients.get(functionKey);
    if (!clients) {
      clients = createAwsClients(iam.credentialsOf(sls.functionName(functionKey)));
      functionClients.set(functionKey, clients);
    }
    return clients;
  };

  const workerTimeoutMs = sls.functionTimeoutSeconds('processBatch') * 1000;

  current = {
    workerTimeoutMs,
    stage,
    resources,
    bucket,
    table,
    queueUrl: resources.queues.BatchQueue.url,
    queueArn: resources.queues.BatchQueue.arn,
    dlqUrl: resources.queues.BatchDeadLetterQueue.url,
    dlqArn: resources.queues.BatchDeadLetterQueue.arn,
    mockApi,
    iam,
    as,
    s3,
    sqs,
    ddb,
    async getObjectText(key) {
      try {
        const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return await res.Body!.transformToString();
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async listKeys(prefix) {
      const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (res.Contents ?? []).map((o) => o.Key!);
    },
    async scanTable() {
      return (await ddb.send(new ScanCommand({ TableName: table }))).Count ?? 0;
    },
    async queueDepth(url = resources.queues.BatchQueue.url) {
      const res = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return (
        Number(res.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    },
    deliver(url, arn, handler, opts = {}) {
      const functionKey =
        opts.functionKey ?? (url === resources.queues.BatchDeadLetterQueue.url ? 'handleFailedBatch' : 'processBatch');
      const source = startSqsEventSource({
        sqs: as(functionKey).sqs,
        renewSqs: sqs,
        queueUrl: url,
        queueArn: arn,
        // The function's own batchSize from serverless.yml (the worker's 10), unless the test says otherwise.
        batchSize: opts.batchSize ?? sls.sqsEventSources().find((s) => s.functionKey === functionKey)?.batchSize ?? 1,
        reportBatchItemFailures: true,
        concurrency: opts.concurrency ?? 4,
        visibilityTimeout: opts.visibilityTimeout ?? 1,
        waitTimeSeconds: 1,
        invoke: (event) => {
          const run = handler(event, lambdaContext(opts.timeoutMs ?? workerTimeoutMs));
          underWay.add(run);
          const done = () => underWay.delete(run);
          run.then(done, done);
          return run;
        },
      });
      sources.push(source);
      return source;
    },
    async invocationsEnded() {
      await Promise.allSettled([...underWay]);
    },
    async close() {
      await Promise.allSettled(sources.map((s) => s.stop()));
      await mockApi.close();
      await iam.close();
      // Hooks of a test file run before the guard's: keep what was denied for it to report.
      openEdges.delete(guarded);
      const left = guarded.takeDenials();
      if (left.length) openEdges.add({ takeDenials: () => left.splice(0) });
      for (const c of functionClients.values()) for (const client of Object.values(c)) client.destroy();
      s3.destroy();
      sqs.destroy();
      ddb.destroy();
    },
  };
  return current;
}

/** The test service started last and not closed, if any. */
export function runningService(): TestService | undefined {
  return current;
}

export function currentService(): TestService {
  if (!current) throw new Error('no test service is running (startTestService)');
  return current;
}

/** One function of the current test service, by its key in serverless.yml. */
export function as(functionKey: string): AwsClients {
  return currentService().as(functionKey);
}

/** Running edges, for test/support/iamGuard.ts (kept on globalThis so the guard imports nothing). */
const openEdges: Set<{ takeDenials(): string[] }> = ((
  globalThis as { __iamEdges__?: Set<{ takeDenials(): string[] }> }
).__iamEdges__ ??= new Set());
