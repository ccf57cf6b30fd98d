import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDynalite, type ExpireItems } from './dynalite';

// fauxqs ships as an ES module only; keep a real import() under CommonJS compilation.
const nativeImport = new Function('specifier', 'return import(specifier)') as <T>(specifier: string) => Promise<T>;

interface FauxqsApp {
  listen(o: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
  server: import('node:http').Server;
}

/** An AWS call as an emulator received it: the service and the operation (SQS, DynamoDB) or the HTTP method (S3). */
export type EmulatorCall = (service: 's3' | 'sqs' | 'dynamodb', operation: string, req: IncomingMessage) => void;

export interface Emulators {
  /** fauxqs: S3 and SQS on one port. */
  s3Endpoint: string;
  sqsEndpoint: string;
  /** dynalite: DynamoDB. */
  dynamodbEndpoint: string;
  /**
   * dynalite's store reads (a Scan's or Query's) not yet closed, each holding every item as it was when it opened;
   * where this process started dynalite.
   */
  dynamodbOpenReads?(): number;
  /**
   * Deletes a table's items whose TTL attribute (epoch seconds) is at or before `nowSeconds` inside dynalite, as
   * DynamoDB's TTL does (no API call, no capacity); where this process started dynalite. Returns how many went.
   */
  expireItems?: ExpireItems;
  stop(): Promise<void>;
}

/** The address clients connect to for a server listening on `host`: a wildcard address means this machine. */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts fauxqs (S3 + SQS) and dynalite (DynamoDB) in this process, listening on `host` (default 127.0.0.1:
 * neither checks credentials, so anyone who can reach them can read and change everything). Port 0 picks a free port.
 */
export async function startEmulators(
  opts: { s3SqsPort?: number; dynamodbPort?: number; host?: string; onCall?: EmulatorCall } = {},
): Promise<Emulators> {
  const host = opts.host ?? '127.0.0.1';
  // fauxqs's own startFauxqs() always listens on 0.0.0.0; its app listens where it is told.
  const { buildApp } = await nativeImport<{ buildApp(o: object): FauxqsApp }>('fauxqs');
  const fauxqs = buildApp({ logger: false });
  const fauxqsPort = Number(new URL(await fauxqs.listen({ port: opts.s3SqsPort ?? 0, host })).port);
  const { onCall } = opts;
  // SQS's JSON protocol names its operation in x-amz-target (AmazonSQS.ReceiveMessage); S3 requests carry none.
  const target = (req: IncomingMessage) =>
    String(req.headers['x-amz-target'] ?? '')
      .split('.')
      .pop() ?? '';
  if (onCall)
    fauxqs.server.prependListener('request', (req: IncomingMessage) => {
      const operation = target(req);
      if (operation) onCall('sqs', operation, req);
      else onCall('s3', req.method ?? '', req);
    });

  const dynalite = startDynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynamo = dynalite.server;
  if (onCall) dynamo.prependListener('request', (req: IncomingMessage) => onCall('dynamodb', target(req), req));
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(opts.dynamodbPort ?? 0, host, () => resolve());
  });
  const dynamoPort = (dynamo.address() as AddressInfo).port;

  const fauxqsUrl = `http://${connectHost(host)}:${fauxqsPort}`;
  return {
    s3Endpoint: fauxqsUrl,
    sqsEndpoint: fauxqsUrl,
    dynamodbEndpoint: `http://${connectHost(host)}:${dynamoPort}`,
    dynamodbOpenReads: dynalite.openReads,
    expireItems: dynalite.expireItems,
    async stop() {
      // Idle keep-alive connections (SDK clients, downloads) would hold the servers open.
      dynamo.closeAllConnections();
      await Promise.allSettled([fauxqs.close(), new Promise<void>((resolve) => dynamo.close(() => resolve()))]);
    },
  };
}

/** The offline stack signs requests with fixed fake credentials: nothing here talks to AWS. */
export function useFakeAwsCredentials(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_ACCESS_KEY_ID ||= 'local';
  env.AWS_SECRET_ACCESS_KEY ||= 'local';
  env.AWS_REGION ||= 'us-east-1';
  env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ||= '1';
  // The SDK's notice that future versions need Node 22 would repeat in every local function process.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';
}
