/**
 * How large a request may be when its contacts are posted inline. Two limits apply on AWS, and the
 * local edge (src/local/gateway.ts) enforces both:
 *
 * - API Gateway (REST) takes request bodies up to 10 MB.
 * - API Gateway hands the request to the function as one synchronous Lambda invocation, and Lambda
 *   takes an invocation payload smaller than 6,291,456 bytes ("Request must be smaller than 6291456
 *   bytes for the InvokeFunction operation"). That payload is the proxy event: the body as a JSON
 *   string (every `"` of the contacts escaped to `\"`), next to the headers (twice: `headers` and
 *   `multiValueHeaders`) and the `requestContext`.
 *
 * Over either limit the client gets a 413 with TOO_LARGE_MESSAGE: from API Gateway's REQUEST_TOO_LARGE
 * gateway response in serverless.yml (RequestTooLargeResponse, which repeats the message because
 * CloudFormation cannot import it; a unit test keeps the two equal), offline from the local edge,
 * which serves that gateway response.
 */

/** API Gateway REST APIs: the largest request body, 10 MB. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Lambda synchronous invocation: the event must be smaller than this many bytes (6 MiB). */
export const LAMBDA_MAX_EVENT_BYTES = 6 * 1024 * 1024;

/**
 * What fits inline, in a user's terms: measured with createJson.ts contacts (docs/api.md: Limits) and kept
 * true by a unit test.
 */
export const INLINE_CONTACTS_ESTIMATE = 'about 5.2 MB or 67,000 contacts';

/** What a client reads when its request is too large to send inline: where to go instead. */
export const TOO_LARGE_MESSAGE =
  `Request too large to send inline: API Gateway takes bodies up to 10 MB but passes a function at most 6 MB, the JSON-escaped body included (${INLINE_CONTACTS_ESTIMATE}). ` +
  'Upload the contacts to S3 under uploads/ and submit {"contacts": "s3://<bucket>/uploads/<key>"} instead (see docs/large-datasets.md).';

export interface InlineRequest {
  method: string;
  /** Path and query string, as the client sent them (`/enrichment?x=1`). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Headers API Gateway and its CloudFront distribution (edge-optimized endpoint, the framework's
 * default) add before the event is built, with values of typical length.
 */
const AWS_ADDED_HEADERS: Record<string, string> = {
  Host: 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com',
  'CloudFront-Forwarded-Proto': 'https',
  'CloudFront-Is-Desktop-Viewer': 'true',
  'CloudFront-Is-Mobile-Viewer': 'false',
  'CloudFront-Is-SmartTV-Viewer': 'false',
  'CloudFront-Is-Tablet-Viewer': 'false',
  'CloudFront-Viewer-ASN': '16509',
  'CloudFront-Viewer-Country': 'US',
  Via: '2.0 0123456789abcdef0123456789abcdef.cloudfront.net (CloudFront)',
  'X-Amz-Cf-Id': 'kRdVgNE1bm2uVsP0dRq8vb6z4D7U7Vw0g9b4k8sjjk8nq5ZJvWpl0Q==',
  'X-Amzn-Trace-Id': 'Root=1-67891233-abcdef012345678912345678',
  'X-Forwarded-For': '203.0.113.195, 198.51.100.17',
  'X-Forwarded-Port': '443',
  'X-Forwarded-Proto': 'https',
};

/**
 * The Lambda proxy event API Gateway (REST, payload format 1.0) builds for a request: the client's
 * headers plus the ones AWS adds, the request context with values of AWS's lengths, and the body.
 */
export function proxyEventFor(req: InlineRequest): Record<string, unknown> {
  const [path, query = ''] = req.url.split(/\?(.*)/s, 2);
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[name] = values.join(',');
    multiValueHeaders[name] = values;
  }
  for (const [name, value] of Object.entries(AWS_ADDED_HEADERS)) {
    headers[name] = value;
    multiValueHeaders[name] = [value];
  }
  const params = [...new URLSearchParams(query)];
  const multiValueQuery: Record<string, string[]> = {};
  for (const [k, v] of params) (multiValueQuery[k] ??= []).push(v);
  const userAgent = headers['user-agent'] ?? headers['User-Agent'] ?? null;
  return {
    resource: path,
    path,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    queryStringParameters: params.length ? Object.fromEntries(params) : null,
    multiValueQueryStringParameters: params.length ? multiValueQuery : null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      resourceId: 'a1b2c3',
      resourcePath: path,
      httpMethod: req.method,
      extendedRequestId: 'ABCdefGHIjklMNo=',
      requestTime: '25/Nov/2026:16:25:03 +0000',
      path: `/production${path}`,
      accountId: '123456789012',
      protocol: 'HTTP/1.1',
      stage: 'production',
      domainPrefix: 'a1b2c3d4e5',
      requestTimeEpoch: 1795623903921,
      requestId: '84fe817a-4c6d-48b6-8afa-6493264f8e3e',
      identity: {
        cognitoIdentityPoolId: null,
        accountId: null,
        cognitoIdentityId: null,
        caller: null,
        sourceIp: '203.0.113.195',
        principalOrgId: null,
        accessKey: null,
        cognitoAuthenticationType: null,
        cognitoAuthenticationProvider: null,
        userArn: null,
        userAgent,
        user: null,
      },
      domainName: 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com',
      deploymentId: 'a1b2c3',
      apiId: 'a1b2c3d4e5',
    },
    body: req.body,
    isBase64Encoded: false,
  };
}

/** Size in bytes of the Lambda invocation payload (the serialized proxy event) for a request. */
export function proxyEventBytes(req: InlineRequest): number {
  return lambdaEventBytes(proxyEventFor(req));
}

/** Size in bytes of an event as Lambda receives it (the invocation payload is the event's JSON). */
export function lambdaEventBytes(event: unknown): number {
  return Buffer.byteLength(JSON.stringify(event));
}

export type InlineVerdict =
  | { ok: true; eventBytes: number }
  | { ok: false; limit: 'body'; bodyBytes: number }
  | { ok: false; limit: 'event'; eventBytes: number };

export interface InlineLimits {
  maxBodyBytes: number;
  /** The event must be smaller than this. */
  maxEventBytes: number;
}

const AWS_INLINE_LIMITS: InlineLimits = {
  maxBodyBytes: API_GATEWAY_MAX_BODY_BYTES,
  maxEventBytes: LAMBDA_MAX_EVENT_BYTES,
};

/** Whether API Gateway would deliver this request to its function, and if not, which limit stops it. */
export function checkInline(req: InlineRequest, limits: InlineLimits = AWS_INLINE_LIMITS): InlineVerdict {
  const bodyBytes = Buffer.byteLength(req.body);
  if (bodyBytes > limits.maxBodyBytes) return { ok: false, limit: 'body', bodyBytes };
  const eventBytes = proxyEventBytes(req);
  if (eventBytes >= limits.maxEventBytes) return { ok: false, limit: 'event', eventBytes };
  return { ok: true, eventBytes };
}
