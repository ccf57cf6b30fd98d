import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { Logger } from '../logger';
import {
  deleteObjectsAuthorizations,
  dynamodbAuthorizations,
  isDeleteObjects,
  s3Arn,
  s3Authorizations,
  serviceOf,
  sqsAuthorizations,
  type Authorization,
  type Service,
} from './awsRequests';
import { ChecksumCheck, type ChecksumRefusal, declaredChecksums } from './checksums';
import type { FunctionRole } from './iamRoles';
import { LOCAL_ACCOUNT_ID } from './serverlessConfig';
import { type AuthFailure, functionSecret, HEX_SHA256, STREAMING_UNSIGNED_TRAILER, verifySigV4 } from './sigv4';

/** One IAM decision the edge took for a function. */
export interface Decision extends Authorization {
  functionKey: string;
  roleName: string;
  allowed: boolean;
  /** Why an action was checked that the request itself does not name. */
  note?: string;
}

export interface IamEdgeOptions {
  /** fauxqs (S3 and SQS) and dynalite (DynamoDB). */
  upstream: { s3Sqs: string; dynamodb: string };
  /** The functions that may call, each signing with its function name as access key id. */
  functions: FunctionRole[];
  /**
   * The stack's secret, from which each function's secret is derived (functionSecret); a random one when not given.
   * Every request must carry a valid SigV4 signature made with its function's secret.
   */
  secret?: string;
  region: string;
  port?: number;
  log?: Logger;
  /** Called for every denial (the offline stack prints them). */
  onDenied?: (decision: Decision) => void;
}

export interface IamEdge {
  url: string;
  /** The credentials a function signs with: its name as access key id, its secret derived from the stack's. */
  credentialsOf(functionName: string): { accessKeyId: string; secretAccessKey: string };
  /** Every `function action` pair that was allowed, including s3:ListBucket checks implied by a missing key. */
  used(): Set<string>;
  /** Denials since the last call, oldest first (at most the last 1,000). */
  takeDenials(): Decision[];
  close(): Promise<void>;
}

/** fauxqs (fastify's bodyLimit) refuses a request body over 11 MiB by closing the connection mid-upload. */
export const EMULATOR_MAX_BODY_BYTES = 11 * 1024 * 1024;
export const TOO_LARGE_MESSAGE =
  'Your proposed upload exceeds the maximum allowed size: the offline S3 emulator accepts at most 11 MiB (11534336 bytes) per request; parts are 8 MiB (PUT each part of POST /enrichment/uploads to its own URL)';

const MISSING_KEY_NOTE =
  'S3 answers a GetObject/HeadObject of a missing key with 403 unless the caller may s3:ListBucket';

export const describeDecision = (d: Decision) =>
  `function ${d.functionKey} (role ${d.roleName}) may not ${d.action} on ${d.resource}${d.note ? ` (${d.note})` : ''}`;

/**
 * What AWS enforces and the emulators do not: a small proxy in front of fauxqs and dynalite that
 * verifies each request's SigV4 signature (header or presigned URL) against the secret of the function
 * its access key id names (the function's name, as Lambda hands each function its role's credentials)
 * and evaluates every request against that function's role from serverless.yml with an IAM policy
 * simulator. A request that is unsigned, badly signed, expired or not allowed by the role fails the way
 * AWS fails it; so does an S3 read of a missing key without s3:ListBucket (403, not 404), and a body over
 * the emulator's 11 MiB is refused before it is read (EntityTooLarge) rather than cut off by the emulator.
 */
export async function startIamEdge(opts: IamEdgeOptions): Promise<IamEdge> {
  const byKey = new Map(opts.functions.map((f) => [f.functionName, f]));
  const stackSecret = opts.secret ?? randomBytes(32).toString('hex');
  const secrets = new Map(opts.functions.map((f) => [f.functionName, functionSecret(stackSecret, f.functionName)]));
  const secretOf = (accessKeyId: string) => secrets.get(accessKeyId);
  const used = new Set<string>();
  let denials: Decision[] = [];
  const verdicts = new Map<string, Promise<boolean>>();

  const allowed = (fn: FunctionRole, { action, resource }: Authorization): Promise<boolean> => {
    const cacheKey = `${fn.functionName}|${action}|${resource}`;
    let verdict = verdicts.get(cacheKey);
    if (!verdict) {
      verdict = runSimulation(
        {
          identityPolicies: fn.policies,
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          request: {
            action,
            principal: `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${fn.roleName}/${fn.functionName}`,
            resource: { resource, accountId: LOCAL_ACCOUNT_ID },
            contextVariables: {},
          },
        },
        {},
      ).then((r) => {
        if (r.resultType === 'error')
          throw new Error(`IAM simulation of ${action} on ${resource} failed: ${JSON.stringify(r.errors)}`);
        return r.overallResult === 'Allowed';
      });
      if (verdicts.size > 50_000) verdicts.clear();
      verdicts.set(cacheKey, verdict);
    }
    return verdict;
  };

  const decide = async (fn: FunctionRole, auth: Authorization, note?: string): Promise<boolean> => {
    const ok = await allowed(fn, auth);
    const decision: Decision = { ...auth, functionKey: fn.functionKey, roleName: fn.roleName, allowed: ok, note };
    if (ok) used.add(`${fn.functionKey} ${auth.action}`);
    else {
      denials.push(decision);
      if (denials.length > 1000) denials = denials.slice(-1000);
      opts.onDenied?.(decision);
    }
    return ok;
  };

  const serve = (req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean) => {
    void handle(req, res, expectsContinue).catch((err: unknown) => {
      opts.log?.error('IAM edge failed', { err });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `local IAM edge: ${(err as Error).message}` }));
    });
  };
  const server = http.createServer((req, res) => serve(req, res, false));
  // Expect: 100-continue (the SDK's large parts): every check is made before the client is told to send the body.
  server.on('checkContinue', (req, res) => serve(req, res, true));

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://edge');
    const service = serviceOf(req.headers);
    const upstream = new URL(service === 'dynamodb' ? opts.upstream.dynamodb : opts.upstream.s3Sqs);
    const { expect: _expect, ...headers } = req.headers;
    const forward = () =>
      http.request({
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
      });
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    const tooLarge = () =>
      refuse(res, service, service === 's3' ? 'EntityTooLarge' : 'RequestEntityTooLargeException', TOO_LARGE_MESSAGE, {
        status: service === 's3' ? 400 : 413,
        close: true,
      });
    const received = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };

    if (service === 's3') {
      const verified = await verifySigV4(received, { service: 's3', region: opts.region, secretOf });
      if (!verified.ok)
        return refuseAuth(res, service, verified.failure, verified.message, Boolean(received.headers.authorization));
      const fn = byKey.get(verified.accessKeyId)!;
      if (isDeleteObjects(req.method ?? 'GET', url.pathname, url.searchParams)) {
        if (expectsContinue) res.writeContinue();
        return deleteObjects(req, res, fn, url.pathname, verified.payloadHash, forward);
      }
      const auths = s3Authorizations(req.method ?? 'GET', url.pathname, url.searchParams, req.headers);
      if (!auths)
        return refuse(
          res,
          service,
          'AccessDenied',
          `local IAM edge: no IAM mapping for S3 ${req.method} ${url.pathname}?${url.searchParams}`,
        );
      for (const auth of auths) if (!(await decide(fn, auth))) return deny(res, service, fn, auth);
      // Before the body is read: the emulator would close the connection halfway through it.
      if (declared !== undefined && declared > EMULATOR_MAX_BODY_BYTES) return tooLarge();
      const isRead = auths[0].action === 's3:GetObject' && (req.method === 'GET' || req.method === 'HEAD');
      // A PUT's declared checksum (header, presigned query or aws-chunked trailer) must be its body's: S3 answers
      // BadDigest, fauxqs ignores it. Not a copy's: its x-amz-checksum-* are not of this request's (empty) body.
      let checksum: ChecksumCheck | undefined;
      if (req.method === 'PUT' && req.headers['x-amz-copy-source'] === undefined) {
        const chunked = verified.payloadHash === STREAMING_UNSIGNED_TRAILER;
        const declaration = declaredChecksums(req.headers, url.searchParams, { chunked });
        if (!declaration.ok)
          return refuse(res, service, declaration.code, declaration.message, {
            status: declaration.status,
            close: true,
          });
        if (declaration.checksums.length) checksum = new ChecksumCheck(declaration.checksums, chunked);
      }
      // A body signed by its hash must be that body (S3: XAmzContentSHA256Mismatch), and have the checksum it
      // declares; one without a length is counted as it streams. Each is refused before its last byte reaches the
      // emulator.
      const check = new BodyCheck(
        HEX_SHA256.test(verified.payloadHash) ? verified.payloadHash : undefined,
        EMULATOR_MAX_BODY_BYTES,
        checksum,
      );
      const up = forward();
      let answered = false;
      up.on('response', async (answer) => {
        if (isRead && answer.statusCode === 404) {
          const bucket = url.pathname.split('/')[1];
          const list = { action: 's3:ListBucket', resource: s3Arn(bucket) };
          if (!(await decide(fn, list, MISSING_KEY_NOTE))) {
            answer.resume();
            answered = true;
            return deny(res, service, fn, list);
          }
        }
        answered = true;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        pipeline(answer, res, () => undefined);
      });
      up.on('error', (err) => {
        if (answered) return;
        if (check.refusal) return refuseBody(res, service, check.refusal, req);
        upstreamFailed(res, err);
      });
      if (expectsContinue) res.writeContinue();
      // A client gone halfway: the emulator must not wait for the rest.
      req.on('close', () => {
        if (!req.complete) up.destroy();
      });
      req.pipe(check).pipe(up);
      check.on('error', () => {
        req.unpipe(check);
        up.destroy();
        answered = true;
        refuseBody(res, service, check.refusal!, req);
      });
      return;
    }

    if (declared !== undefined && declared > EMULATOR_MAX_BODY_BYTES) return tooLarge();
    if (expectsContinue) res.writeContinue();
    const body = await readBody(req);
    if (!body) return tooLarge();
    const verified = await verifySigV4(received, { service, region: opts.region, secretOf, body });
    if (!verified.ok) return refuseAuth(res, service, verified.failure, verified.message, true);
    const fn = byKey.get(verified.accessKeyId)!;
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      /* the upstream answers a malformed body itself */
    }
    const target = String(req.headers['x-amz-target']);
    const auths =
      service === 'sqs'
        ? sqsAuthorizations(target, parsed, opts.region, LOCAL_ACCOUNT_ID)
        : dynamodbAuthorizations(target, parsed, opts.region, LOCAL_ACCOUNT_ID);
    if (!auths) return refuse(res, service, 'AccessDeniedException', `local IAM edge: no IAM mapping for ${target}`);
    for (const auth of auths) if (!(await decide(fn, auth))) return deny(res, service, fn, auth);
    sendOn(forward(), res, body);
  }

  /**
   * DeleteObjects names its keys in its body (at most 1,000): the body is read whole, checked against the signed
   * hash, and each key authorized as s3:DeleteObject before the emulator sees the call.
   */
  async function deleteObjects(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    fn: FunctionRole,
    pathname: string,
    payloadHash: string,
    forward: () => http.ClientRequest,
  ): Promise<void> {
    const body = await readBody(req);
    if (!body) return refuse(res, 's3', 'EntityTooLarge', TOO_LARGE_MESSAGE, { status: 400, close: true });
    if (HEX_SHA256.test(payloadHash) && createHash('sha256').update(body).digest('hex') !== payloadHash)
      return refuse(res, 's3', 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match', {
        status: 400,
      });
    const auths = deleteObjectsAuthorizations(pathname, body.toString('utf8'));
    if (!auths) return refuse(res, 's3', 'MalformedXML', 'local IAM edge: a DeleteObjects body naming no key');
    for (const auth of auths) if (!(await decide(fn, auth))) return deny(res, 's3', fn, auth);
    sendOn(forward(), res, body);
  }

  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    credentialsOf(functionName) {
      const secretAccessKey = secretOf(functionName);
      if (!secretAccessKey) throw new Error(`${functionName} is not one of this stack's functions`);
      return { accessKeyId: functionName, secretAccessKey };
    },
    used: () => new Set(used),
    takeDenials() {
      const out = denials;
      denials = [];
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function deny(res: http.ServerResponse, service: Service, fn: FunctionRole, auth: Authorization): void {
  const message =
    `User: arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${fn.roleName}/${fn.functionName} is not authorized to perform: ` +
    `${auth.action} on resource: ${auth.resource} because no identity-based policy allows the ${auth.action} action ` +
    `(local IAM edge: function ${fn.functionKey}, role ${fn.roleName} in serverless.yml)`;
  refuse(res, service, service === 's3' ? 'AccessDenied' : 'AccessDeniedException', message);
}

/**
 * An error the way each service's protocol carries it: S3's XML (403 unless told), or the JSON protocols' __type
 * (400; SQS's AccessDenied 403). `close`: the request's body was not read, so the connection is not kept.
 */
function refuse(
  res: http.ServerResponse,
  service: Service,
  code: string,
  message: string,
  { status, close = false }: { status?: number; close?: boolean } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const connection: http.OutgoingHttpHeaders = close ? { connection: 'close' } : {};
  if (service === 's3') {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><RequestId>local-iam-edge</RequestId></Error>`;
    res.writeHead(status ?? 403, {
      'content-type': 'application/xml',
      'x-amz-request-id': 'local-iam-edge',
      ...connection,
    });
    res.end(xml);
    return;
  }
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/x-amz-json-1.0', ...connection };
  if (service === 'sqs') headers['x-amzn-query-error'] = `${code.replace(/Exception$/, '')};Sender`;
  res.writeHead(status ?? (code === 'AccessDeniedException' && service === 'sqs' ? 403 : 400), headers);
  res.end(JSON.stringify({ __type: `com.amazon.coral.service#${code}`, message, Message: message }));
}

/** A signature that does not hold, answered as S3 (XML) or the JSON protocols answer it. */
function refuseAuth(
  res: http.ServerResponse,
  service: Service,
  failure: AuthFailure,
  message: string,
  headerForm: boolean,
): void {
  if (service === 's3') {
    const [code, status] = (
      {
        anonymous: ['AccessDenied', 403],
        malformed: [headerForm ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError', 400],
        badExpires: ['AuthorizationQueryParametersError', 400],
        unknownKey: ['InvalidAccessKeyId', 403],
        mismatch: ['SignatureDoesNotMatch', 403],
        expired: ['AccessDenied', 403],
        skewed: ['RequestTimeTooSkewed', 403],
        badPayloadHash: ['InvalidArgument', 400],
        signedChunks: ['NotImplemented', 501],
      } as const
    )[failure];
    refuse(res, service, code, message, { status, close: true });
    return;
  }
  const code = {
    anonymous: 'MissingAuthenticationTokenException',
    malformed: 'IncompleteSignatureException',
    badExpires: 'IncompleteSignatureException',
    unknownKey: 'UnrecognizedClientException',
    mismatch: 'InvalidSignatureException',
    expired: 'InvalidSignatureException',
    skewed: 'InvalidSignatureException',
    badPayloadHash: 'InvalidSignatureException',
    signedChunks: 'InvalidSignatureException',
  }[failure];
  const text =
    failure === 'unknownKey' ? `The security token included in the request is invalid (${message})` : message;
  refuse(res, service, code, text, { status: failure === 'unknownKey' || service === 'dynamodb' ? 400 : 403 });
}

/**
 * A body refused while it streamed: its hash is not the signed one, it grew past the emulator's limit, or its
 * declared checksum does not hold.
 */
function refuseBody(res: http.ServerResponse, service: Service, refusal: BodyRefusal, req: http.IncomingMessage) {
  req.resume();
  if (typeof refusal === 'object')
    return refuse(res, service, refusal.code, refusal.message, { status: refusal.status, close: true });
  if (refusal === 'size')
    return refuse(res, service, 'EntityTooLarge', TOO_LARGE_MESSAGE, { status: 400, close: true });
  refuse(
    res,
    service,
    'XAmzContentSHA256Mismatch',
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
    { status: 400, close: true },
  );
}

type BodyRefusal = 'hash' | 'size' | ChecksumRefusal;

/**
 * Passes a body through, holding back its last chunk until the whole is checked: its SHA-256 against the signed
 * one, its size against the emulator's limit, and the checksum it declares (src/local/checksums.ts). A refused body
 * errors this stream, so the emulator never gets all the bytes it was promised and stores nothing.
 */
class BodyCheck extends Transform {
  refusal: BodyRefusal | undefined;
  private readonly hash = createHash('sha256');
  private held: Buffer | undefined;
  private size = 0;

  constructor(
    private readonly expectedSha256: string | undefined,
    private readonly maxBytes: number,
    private readonly checksum?: ChecksumCheck,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.refusal = 'size';
      callback(new Error('body over the emulator limit'));
      return;
    }
    if (this.expectedSha256) this.hash.update(chunk);
    this.checksum?.update(chunk);
    if (this.held) this.push(this.held);
    this.held = chunk;
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedSha256 && this.hash.digest('hex') !== this.expectedSha256) {
      this.refusal = 'hash';
      callback(new Error('body does not match x-amz-content-sha256'));
      return;
    }
    const checked = this.checksum ? this.checksum.verify() : Promise.resolve(undefined);
    checked.then(
      (refusal) => {
        if (refusal) {
          this.refusal = refusal;
          callback(new Error(refusal.message));
          return;
        }
        if (this.held) this.push(this.held);
        callback();
      },
      (err: Error) => {
        this.refusal = {
          status: 500,
          code: 'InternalError',
          message: `local IAM edge: checksum failed: ${err.message}`,
        };
        callback(err);
      },
    );
  }
}

/** A request's whole body; undefined (the rest drained) once it passes what the emulators take. */
async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > EMULATOR_MAX_BODY_BYTES) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Sends a checked body on to the emulator and the emulator's answer back as it is. */
function sendOn(up: http.ClientRequest, res: http.ServerResponse, body: Buffer): void {
  up.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    pipeline(answer, res, () => undefined);
  });
  up.on('error', (err) => upstreamFailed(res, err));
  up.end(body);
}

function upstreamFailed(res: http.ServerResponse, err: Error): void {
  if (res.writableEnded) return;
  if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message: `local IAM edge: the emulator did not answer (${err.message})` }));
}

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
