import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

/** The signer's request type (from @smithy/types, which the signer's declarations name). */
type HttpRequest = Parameters<SignatureV4['presign']>[0];
type QueryParameterBag = NonNullable<HttpRequest['query']>;

/**
 * SigV4 verification for the local IAM edge: the received request is signed again, with the AWS SDK's own signer,
 * with the secret of the function its access key names, and the two signatures compared in constant time.
 */

/** S3's longest presigned URL validity, and how far a header-signed request's clock may be off (both as on AWS). */
export const MAX_PRESIGNED_SECONDS = 7 * 24 * 3600;
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** aws-chunked with unsigned chunks: the signature covers the headers only, as UNSIGNED-PAYLOAD does. */
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Each function's secret: derived from the stack's random secret and the function's name, so one function's
 * secret does not sign as another. src/local/functionCredentials.js derives it the same way in a function's worker.
 */
export const functionSecret = (stackSecret: string, functionName: string) =>
  createHmac('sha256', stackSecret).update(functionName).digest('hex');

/** Why a request's authentication failed; the edge answers each the way the service's protocol does. */
export type AuthFailure =
  /** No Authorization header and no X-Amz-Signature. */
  | 'anonymous'
  /** A part of the signature is missing or malformed (algorithm, credential scope, dates, signed headers). */
  | 'malformed'
  /** A presigned URL's X-Amz-Expires is not 1 s to 7 days. */
  | 'badExpires'
  | 'unknownKey'
  | 'mismatch'
  /** A presigned URL past X-Amz-Date + X-Amz-Expires, or signed in the future. */
  | 'expired'
  /** A header-signed request whose X-Amz-Date is over 15 minutes from now. */
  | 'skewed'
  /** x-amz-content-sha256 names something other than a hash, UNSIGNED-PAYLOAD or unsigned aws-chunked. */
  | 'badPayloadHash'
  /** aws-chunked with signed chunks: no client of this stack sends it, and the edge does not verify chunk signatures. */
  | 'signedChunks';

export type Verification =
  | { ok: true; accessKeyId: string; presigned: boolean; payloadHash: string }
  | { ok: false; failure: AuthFailure; message: string; accessKeyId?: string };

export interface ReceivedRequest {
  method: string;
  /** The request target as received: path and query, still percent-encoded. */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface VerifyOptions {
  /** The signing name the credential scope must name: s3, sqs or dynamodb. */
  service: string;
  region: string;
  /** The secret of an access key id; undefined for a key that is not one of the stack's. */
  secretOf(accessKeyId: string): string | undefined;
  /**
   * The body, for the JSON protocols (SQS, DynamoDB): its hash is signed. Without it (S3) the payload hash is
   * x-amz-content-sha256 as sent (required with a header signature; UNSIGNED-PAYLOAD for a presigned URL unless it
   * names one), and the edge checks a streamed body against a hex value itself.
   */
  body?: Buffer;
  now?: Date;
}

const LONG_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
export const HEX_SHA256 = /^[0-9a-f]{64}$/;

const parseLongDate = (s: string | undefined): Date | undefined => {
  const m = LONG_DATE.exec(s ?? '');
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? undefined : d;
};

const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h.join(',') : h);

/** The query as received, each name and value percent-decoded once (a name without `=` has the value ''). */
export function parseQuery(rawQuery: string): QueryParameterBag | undefined {
  const query: QueryParameterBag = {};
  if (!rawQuery) return query;
  try {
    for (const pair of rawQuery.split('&')) {
      if (!pair) continue;
      const at = pair.indexOf('=');
      const name = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
      const value = at < 0 ? '' : decodeURIComponent(pair.slice(at + 1));
      const had = query[name];
      query[name] = had === undefined || had === null ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
  } catch {
    return undefined; // a malformed %-escape
  }
  return query;
}

interface Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

function parseScope(credential: string | undefined): Scope | undefined {
  const parts = (credential ?? '').split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !parts[0] || !/^\d{8}$/.test(parts[1])) return undefined;
  return { accessKeyId: parts[0], date: parts[1], region: parts[2], service: parts[3] };
}

/** The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
function parseAuthorization(header: string): Record<string, string> | undefined {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(header.trim());
  if (!m) return undefined;
  const out: Record<string, string> = {};
  for (const part of m[1].split(',')) {
    const at = part.indexOf('=');
    if (at < 0) return undefined;
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

const sameSignature = (expected: string, received: string) =>
  HEX_SIGNATURE.test(received) && timingSafeEqual(Buffer.from(expected, 'utf8'), Buffer.from(received, 'utf8'));

/** The access key id a request claims, before anything is verified (for messages). */
export function claimedAccessKey(req: ReceivedRequest): string | undefined {
  const auth = first(req.headers.authorization);
  if (auth) return parseScope(parseAuthorization(auth)?.Credential)?.accessKeyId;
  const query = parseQuery(req.url.split('?')[1] ?? '');
  const credential = query?.['X-Amz-Credential'];
  return typeof credential === 'string' ? credential.split('/')[0] : undefined;
}

/**
 * Verifies a request's SigV4 signature, in the Authorization header or in the query (a presigned URL), as AWS does:
 * the credential scope (date, region, service), the dates (15 minutes of clock skew for a header signature;
 * X-Amz-Expires, at most 7 days, for a presigned URL), then the signature itself, recomputed over the request as
 * received with the access key's secret.
 */
export async function verifySigV4(req: ReceivedRequest, opts: VerifyOptions): Promise<Verification> {
  const now = opts.now ?? new Date();
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = parseQuery(q < 0 ? '' : req.url.slice(q + 1));
  if (!query) return { ok: false, failure: 'malformed', message: 'The query string is not valid percent-encoding' };
  const authorization = first(req.headers.authorization);
  const presigned = query['X-Amz-Signature'] !== undefined || query['X-Amz-Credential'] !== undefined;
  if (!authorization && !presigned) {
    const hasAnyPart = ['X-Amz-Algorithm', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'].some(
      (p) => query[p] !== undefined,
    );
    return hasAnyPart
      ? { ok: false, failure: 'malformed', message: QUERY_PARTS_MESSAGE }
      : {
          ok: false,
          failure: 'anonymous',
          message: 'The request is not signed (no Authorization, no X-Amz-Signature)',
        };
  }
  if (authorization && presigned)
    return {
      ok: false,
      failure: 'malformed',
      message:
        'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified',
    };

  let scope: Scope | undefined;
  let longDate: string | undefined;
  let signedHeaders: string[];
  let received: string;
  let expiresIn = 0;
  if (authorization) {
    const parts = parseAuthorization(authorization);
    scope = parseScope(parts?.Credential);
    if (!parts || !scope || !parts.SignedHeaders || !parts.Signature)
      return {
        ok: false,
        failure: 'malformed',
        message: `The authorization header is malformed: it must be AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=…, Signature=…`,
      };
    longDate = first(req.headers['x-amz-date']);
    signedHeaders = parts.SignedHeaders.split(';');
    received = parts.Signature;
  } else {
    const get = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : undefined);
    const algorithm = get('X-Amz-Algorithm');
    const credential = get('X-Amz-Credential');
    longDate = get('X-Amz-Date');
    const expires = get('X-Amz-Expires');
    const signed = get('X-Amz-SignedHeaders');
    const signature = get('X-Amz-Signature');
    if (!algorithm || !credential || !longDate || !expires || !signed || !signature)
      return { ok: false, failure: 'malformed', message: QUERY_PARTS_MESSAGE };
    if (algorithm !== 'AWS4-HMAC-SHA256')
      return { ok: false, failure: 'malformed', message: 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"' };
    scope = parseScope(credential);
    if (!scope)
      return {
        ok: false,
        failure: 'malformed',
        message: 'X-Amz-Credential must be <key>/<date>/<region>/<service>/aws4_request',
      };
    if (!/^\d+$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGNED_SECONDS)
      return {
        ok: false,
        failure: 'badExpires',
        message: `X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGNED_SECONDS} (a week)`,
      };
    expiresIn = Number(expires);
    signedHeaders = signed.split(';');
    received = signature;
  }
  const { accessKeyId } = scope;
  const signingDate = parseLongDate(longDate);
  if (!signingDate)
    return {
      ok: false,
      failure: 'malformed',
      accessKeyId,
      message: authorization
        ? 'AWS authentication requires a valid x-amz-date header (yyyyMMddTHHmmssZ)'
        : "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
    };
  if (scope.date !== longDate!.slice(0, 8))
    return {
      ok: false,
      failure: 'malformed',
      accessKeyId,
      message: `Invalid credential date ${scope.date}: it is not the date of X-Amz-Date ${longDate}`,
    };
  if (scope.region !== opts.region)
    return {
      ok: false,
      failure: 'malformed',
      accessKeyId,
      message: `The credential scope's region '${scope.region}' is wrong; expecting '${opts.region}'`,
    };
  if (scope.service !== opts.service)
    return {
      ok: false,
      failure: 'malformed',
      accessKeyId,
      message: `The credential scope's service '${scope.service}' is wrong; expecting '${opts.service}'`,
    };
  if (!signedHeaders.includes('host') || signedHeaders.some((h) => !h || h !== h.toLowerCase()))
    return {
      ok: false,
      failure: 'malformed',
      accessKeyId,
      message: 'SignedHeaders must be lowercase names separated by ";" and include host',
    };
  if (authorization && !signedHeaders.includes('x-amz-date'))
    return { ok: false, failure: 'malformed', accessKeyId, message: 'SignedHeaders must include x-amz-date' };

  const secret = opts.secretOf(accessKeyId);
  if (secret === undefined)
    return {
      ok: false,
      failure: 'unknownKey',
      accessKeyId,
      message: `The AWS access key id ${accessKeyId} is not one of this stack's functions`,
    };

  const sentHash = first(req.headers['x-amz-content-sha256']);
  let payloadHash: string;
  if (opts.body) {
    payloadHash = createHash('sha256').update(opts.body).digest('hex');
    if (sentHash !== undefined && sentHash !== payloadHash)
      return { ok: false, failure: 'mismatch', accessKeyId, message: 'x-amz-content-sha256 does not match the body' };
  } else if (authorization) {
    if (sentHash === undefined)
      return {
        ok: false,
        failure: 'malformed',
        accessKeyId,
        message: 'Missing required header for this request: x-amz-content-sha256',
      };
    payloadHash = sentHash;
  } else {
    const fromQuery = query['X-Amz-Content-Sha256'];
    payloadHash = typeof fromQuery === 'string' ? fromQuery : UNSIGNED_PAYLOAD;
  }
  if (payloadHash.startsWith('STREAMING-') && payloadHash !== STREAMING_UNSIGNED_TRAILER)
    return {
      ok: false,
      failure: 'signedChunks',
      accessKeyId,
      message: `x-amz-content-sha256 ${payloadHash}: the local IAM edge does not verify aws-chunked chunk signatures (no client of this stack sends them); send UNSIGNED-PAYLOAD, ${STREAMING_UNSIGNED_TRAILER} or the body's SHA-256`,
    };
  if (payloadHash !== UNSIGNED_PAYLOAD && payloadHash !== STREAMING_UNSIGNED_TRAILER && !HEX_SHA256.test(payloadHash))
    return {
      ok: false,
      failure: 'badPayloadHash',
      accessKeyId,
      message:
        'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value',
    };

  // The request as the client signed it: its method, path and query as received, the headers it signed, and the
  // payload hash (a header the signer reads; signed only if the client signed it, never moved into the query).
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = first(req.headers[name]);
    if (value !== undefined) headers[name] = value;
  }
  const hashSigned = signedHeaders.includes('x-amz-content-sha256');
  headers['x-amz-content-sha256'] = payloadHash;
  const { 'X-Amz-Signature': _signature, ...unsigned } = query;
  const request: HttpRequest = {
    method: req.method,
    protocol: 'http:',
    hostname: headers.host ?? '',
    path,
    query: unsigned,
    headers,
  };
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: secret },
    region: scope.region,
    service: scope.service,
    sha256: Sha256,
    // S3 signs the path as sent; the other services encode it once more.
    uriEscapePath: opts.service !== 's3',
    applyChecksum: false,
  });
  const signable = new Set(signedHeaders);
  const unsignable = new Set(hashSigned ? [] : ['x-amz-content-sha256']);
  let expected: string | undefined;
  if (authorization) {
    const signed = await signer.sign(request, {
      signingDate,
      signableHeaders: signable,
      unsignableHeaders: unsignable,
    });
    expected = /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization))?.[1];
  } else {
    const signed = await signer.presign(request, {
      signingDate,
      expiresIn,
      signableHeaders: signable,
      unsignableHeaders: unsignable,
      unhoistableHeaders: new Set([...signedHeaders, 'x-amz-content-sha256']),
    });
    expected = String(signed.query?.['X-Amz-Signature']);
  }
  if (!expected || !sameSignature(expected, received))
    return {
      ok: false,
      failure: 'mismatch',
      accessKeyId,
      message:
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    };

  // Dates once the signature holds (a changed X-Amz-Date is a mismatch above, not a fresh URL).
  const at = signingDate.getTime();
  if (authorization) {
    if (Math.abs(now.getTime() - at) > MAX_CLOCK_SKEW_MS)
      return {
        ok: false,
        failure: 'skewed',
        accessKeyId,
        message: `The difference between the request time (${longDate}) and the current time is too large (over 15 minutes)`,
      };
  } else {
    if (at - now.getTime() > MAX_CLOCK_SKEW_MS)
      return { ok: false, failure: 'expired', accessKeyId, message: 'Request is not valid yet' };
    if (now.getTime() > at + expiresIn * 1000)
      return { ok: false, failure: 'expired', accessKeyId, message: 'Request has expired' };
  }
  return { ok: true, accessKeyId, presigned, payloadHash };
}

const QUERY_PARTS_MESSAGE =
  'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.';
