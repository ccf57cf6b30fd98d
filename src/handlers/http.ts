import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { config } from '../config';
import { type ClientErrorKind, EnrichmentError, ValidationError } from '../core/errors';
import { logger, withInvocation, type Logger } from '../logger';
import { ownerIdOf, visibleTo } from '../core/owner';
import type { StatusStore } from '../core/ports';
import { describeNotUtf8, decodeUtf8 } from '../core/utf8';
import { parseOrThrow } from '../core/validation';
import { RequestIdSchema } from '../schemas/request';
import type { StatusRecord } from '../schemas/status';
import { clipText, quoteInput } from '../schemas/text';

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** The HTTP status of each kind of client error: core says what went wrong, the HTTP edge how to answer it. */
const CLIENT_ERROR_STATUS: Record<ClientErrorKind, number> = {
  invalid_request: 400,
  not_found: 404,
  gone: 410,
  duplicate_in_progress: 409,
  request_final: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
};

function isClientError(err: unknown): err is EnrichmentError<ClientErrorKind> {
  return err instanceof EnrichmentError && Object.hasOwn(CLIENT_ERROR_STATUS, err.kind);
}

/** The one error mapper: messages for client errors, a generic 500 with a correlation id for the rest. */
export function errorResponse(err: unknown, log: Logger, correlationId: string = randomUUID()): APIGatewayProxyResult {
  if (isClientError(err)) {
    const body: Record<string, unknown> = { message: err.message };
    // A 400 always lists what is wrong, as a field path or, for an unreadable body, `(body)`.
    if (err instanceof ValidationError)
      body.errors = err.errors.length ? err.errors : [{ path: '(body)', message: err.message }];
    return json(CLIENT_ERROR_STATUS[err.kind], body);
  }
  log.error('unexpected error', { correlationId, err });
  return json(500, { message: 'Internal server error', correlationId });
}

export function header(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {}))
    if (key.toLowerCase() === name && value !== undefined) return value;
  return undefined;
}

/**
 * The body must be JSON as sent: `application/json` or any `application/<x>+json`, in UTF-8 (the
 * charset parameter, if any, must say so); no content type at all is read as JSON too, for clients
 * that send none. A compressed body (`content-encoding` other than identity) is refused, not guessed at.
 */
export function requireJsonBody(event: Pick<APIGatewayProxyEvent, 'headers'>): void {
  const encoding = header(event, 'content-encoding')?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    throw new EnrichmentError(
      `Content-Encoding ${quoteInput(encoding)} is not supported: send the JSON body uncompressed`,
      { kind: 'unsupported_media_type' },
    );
  }
  const contentType = header(event, 'content-type');
  if (contentType === undefined || contentType.trim() === '') return;
  const [mediaType, ...params] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/^"|"$/g, '');
  const json = mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
  if (!json || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    throw new EnrichmentError(
      `Content-Type ${quoteInput(contentType)} is not supported: send the body as application/json (UTF-8)`,
      { kind: 'unsupported_media_type' },
    );
  }
}

/**
 * The body as JSON. A base64 body (binary, as API Gateway passes one) is decoded strictly: a byte that is not
 * UTF-8 is a 400 naming it and its offset. A text body was decoded by API Gateway, which put U+FFFD for such bytes:
 * with `refuseReplacementChar`, a U+FFFD in it is a 400 naming its byte offset (exact for the first one: every byte
 * before it was UTF-8); a U+FFFD meant as such can be sent escaped (`\ufffd`).
 */
export function parseJsonBody(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>,
  opts: { refuseReplacementChar?: boolean } = {},
): unknown {
  if (!event.body)
    throw new ValidationError('Request body is empty: expected JSON with "contacts" and "fields_to_enrich"');
  const text = event.isBase64Encoded ? strictUtf8(Buffer.from(event.body, 'base64')) : event.body;
  const replaced = opts.refuseReplacementChar && !event.isBase64Encoded ? text.indexOf('\ufffd') : -1;
  if (replaced >= 0)
    throw new ValidationError(
      `Request body is not UTF-8: byte offset ${Buffer.byteLength(text.slice(0, replaced))} holds U+FFFD, what API Gateway puts for bytes that are not UTF-8; send the body as UTF-8 (a U+FFFD meant as such can be sent escaped, as \\ufffd)`,
    );
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8's message quotes a piece of the body: cut short and ASCII-safe, so no raw bytes are echoed.
    throw new ValidationError(`Request body is not valid JSON: ${clipText((err as Error).message)}`, [], {
      cause: err,
    });
  }
}

function strictUtf8(bytes: Buffer): string {
  const decoded = decodeUtf8(bytes);
  if ('bad' in decoded)
    throw new ValidationError(`Request body is not UTF-8: ${describeNotUtf8(decoded.bad)}; send it as UTF-8`);
  return decoded.text;
}

/** The public base URL of this API: configured, or taken from the API Gateway request. */
export function apiBaseUrl(event: Pick<APIGatewayProxyEvent, 'requestContext' | 'headers'>): string {
  const configured = config().PUBLIC_API_URL;
  if (configured) return configured.replace(/\/$/, '');
  const host = event.requestContext?.domainName ?? event.headers?.Host ?? event.headers?.host;
  const stage = event.requestContext?.stage;
  return `https://${host}${stage && !host?.includes(`/${stage}`) ? `/${stage}` : ''}`;
}

export const downloadUrlFor = (event: Pick<APIGatewayProxyEvent, 'requestContext' | 'headers'>, requestId: string) =>
  `${apiBaseUrl(event)}/enrichment/${requestId}/download`;

/** The caller's owner id: from the x-api-key header, which API Gateway (offline: the local edge) has validated. */
export function ownerOf(event: Pick<APIGatewayProxyEvent, 'headers'>): string | undefined {
  const key = header(event, 'x-api-key');
  return key ? ownerIdOf(key) : undefined;
}

/** The `{id}` of a /enrichment/{id}… route: a 400 unless a UUID v4. */
export const requestIdOf = (event: Pick<APIGatewayProxyEvent, 'pathParameters'>): string =>
  parseOrThrow(RequestIdSchema, event.pathParameters?.id, 'Invalid request id', ['id']);

/**
 * The request a GET /enrichment/{id}… names, if the caller may see it: another key's request is as
 * unknown as one that does not exist (404 either way).
 */
export async function callersRequest(
  event: Pick<APIGatewayProxyEvent, 'pathParameters' | 'headers'>,
  status: StatusStore,
): Promise<StatusRecord> {
  const id = requestIdOf(event);
  const record = await status.get(id);
  if (!record || !visibleTo(record, ownerOf(event)))
    throw new EnrichmentError(`No enrichment request with id ${id}`, { kind: 'not_found' });
  return record;
}

export function correlationIdOf(event: Pick<APIGatewayProxyEvent, 'requestContext'>): string {
  return event.requestContext?.requestId ?? randomUUID();
}

/** What an HTTP route gets besides its event: the request's correlation id and a logger that carries it. */
export interface HttpCall {
  correlationId: string;
  log: Logger;
}

export type HttpHandler = (
  event: APIGatewayProxyEvent,
  context?: Pick<Context, 'awsRequestId'>,
) => Promise<APIGatewayProxyResult>;

/**
 * The one wrapper of the HTTP functions: the invocation's awsRequestId on every log line, the correlation id (API
 * Gateway's request id) and its child logger for the route, and every error mapped by errorResponse.
 */
export function httpHandler(
  route: (event: APIGatewayProxyEvent, call: HttpCall) => Promise<APIGatewayProxyResult>,
): HttpHandler {
  return (event, context) =>
    withInvocation({ awsRequestId: context?.awsRequestId }, async () => {
      const correlationId = correlationIdOf(event);
      const log = logger.child({ correlationId });
      try {
        return await route(event, { correlationId, log });
      } catch (err) {
        return errorResponse(err, log, correlationId);
      }
    });
}
