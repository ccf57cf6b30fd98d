import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { Logger } from '../logger';
import {
  accessKeyOf,
  dynamodbAuthorizations,
  presignedUrlExpired,
  s3Arn,
  s3Authorizations,
  serviceOf,
  sqsAuthorizations,
  type Authorization,
  type Service,
} from './awsRequests';
import type { FunctionRole } from './iamRoles';
import { LOCAL_ACCOUNT_ID } from './serverlessConfig';

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
  region: string;
  port?: number;
  log?: Logger;
  /** Called for every denial (the offline stack prints them). */
  onDenied?: (decision: Decision) => void;
}

export interface IamEdge {
  url: string;
  /** Every `function action` pair that was allowed, including s3:ListBucket checks implied by a missing key. */
  used(): Set<string>;
  /** Denials since the last call, oldest first (at most the last 1,000). */
  takeDenials(): Decision[];
  close(): Promise<void>;
}

const MISSING_KEY_NOTE =
  'S3 answers a GetObject/HeadObject of a missing key with 403 unless the caller may s3:ListBucket';

export const describeDecision = (d: Decision) =>
  `function ${d.functionKey} (role ${d.roleName}) may not ${d.action} on ${d.resource}${d.note ? ` (${d.note})` : ''}`;

/**
 * What AWS enforces and the emulators do not: a small proxy in front of fauxqs and dynalite that
 * knows which function signs each request (its access key id is the function's name, as Lambda hands
 * each function its role's credentials) and evaluates every request against that function's role
 * from serverless.yml with an IAM policy simulator. A request the role does not allow fails the way
 * AWS fails it; so does an S3 read of a missing key without s3:ListBucket (403, not 404).
 */
export async function startIamEdge(opts: IamEdgeOptions): Promise<IamEdge> {
  const byKey = new Map(opts.functions.map((f) => [f.functionName, f]));
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

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      opts.log?.error('IAM edge failed', { err });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `local IAM edge: ${(err as Error).message}` }));
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://edge');
    const service = serviceOf(req.headers);
    const accessKey = accessKeyOf(req.headers, url.searchParams);
    const fn = accessKey ? byKey.get(accessKey) : undefined;
    const upstream = new URL(service === 'dynamodb' ? opts.upstream.dynamodb : opts.upstream.s3Sqs);
    const forward = () =>
      http.request({
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      });

    if (service === 's3') {
      if (!fn)
        return refuse(
          res,
          service,
          'InvalidAccessKeyId',
          `The AWS access key id ${accessKey ?? '(none)'} is not one of this stack's functions`,
        );
      // A presigned URL (a download link, an upload's part URL) works until it expires, as on AWS.
      if (presignedUrlExpired(url.searchParams)) return refuse(res, service, 'AccessDenied', 'Request has expired');
      const auths = s3Authorizations(req.method ?? 'GET', url.pathname, url.searchParams, req.headers);
      if (!auths)
        return refuse(
          res,
          service,
          'AccessDenied',
          `local IAM edge: no IAM mapping for S3 ${req.method} ${url.pathname}?${url.searchParams}`,
        );
      for (const auth of auths) if (!(await decide(fn, auth))) return deny(res, service, fn, auth);
      const isRead = auths[0].action === 's3:GetObject' && (req.method === 'GET' || req.method === 'HEAD');
      const up = forward();
      up.on('response', async (answer) => {
        if (isRead && answer.statusCode === 404) {
          const bucket = url.pathname.split('/')[1];
          const list = { action: 's3:ListBucket', resource: s3Arn(bucket) };
          if (!(await decide(fn, list, MISSING_KEY_NOTE))) {
            answer.resume();
            return deny(res, service, fn, list);
          }
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        pipeline(answer, res, () => undefined);
      });
      up.on('error', (err) => upstreamFailed(res, err));
      pipeline(req, up, () => undefined);
      return;
    }

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (!fn)
      return refuse(
        res,
        service,
        'UnrecognizedClientException',
        `The security token included in the request is invalid (access key ${accessKey ?? '(none)'} is not one of this stack's functions)`,
      );
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
    const up = forward();
    up.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      pipeline(answer, res, () => undefined);
    });
    up.on('error', (err) => upstreamFailed(res, err));
    up.end(body);
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

/** An error the way each service's protocol carries it. */
function refuse(res: http.ServerResponse, service: Service, code: string, message: string): void {
  if (service === 's3') {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><RequestId>local-iam-edge</RequestId></Error>`;
    res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'local-iam-edge' });
    res.end(xml);
    return;
  }
  const status = code === 'UnrecognizedClientException' ? 400 : service === 'sqs' ? 403 : 400;
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/x-amz-json-1.0' };
  if (service === 'sqs')
    headers['x-amzn-query-error'] = `${code === 'AccessDeniedException' ? 'AccessDenied' : code};Sender`;
  res.writeHead(status, headers);
  res.end(JSON.stringify({ __type: `com.amazon.coral.service#${code}`, message, Message: message }));
}

function upstreamFailed(res: http.ServerResponse, err: Error): void {
  if (res.writableEnded) return;
  if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message: `local IAM edge: the emulator did not answer (${err.message})` }));
}

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
