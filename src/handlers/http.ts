import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { config } from '../config';
import { isClientError, ValidationError } from '../core/errors';
import type { Logger } from '../logger';

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** The one error mapper: messages for client errors, a generic 500 with a correlation id for the rest. */
export function errorResponse(err: unknown, log: Logger, correlationId: string = randomUUID()): APIGatewayProxyResult {
  if (isClientError(err)) {
    const body: Record<string, unknown> = { message: err.message };
    // A 400 always lists what is wrong, as a field path or, for an unreadable body, `(body)`.
    if (err instanceof ValidationError) body.errors = err.errors.length ? err.errors : [{ path: '(body)', message: err.message }];
    return json(err.statusCode, body);
  }
  log.error('unexpected error', { correlationId, err });
  return json(500, { message: 'Internal server error', correlationId });
}

export function parseJsonBody(event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>): unknown {
  if (!event.body) throw new ValidationError('Request body is empty: expected JSON with "contacts" and "fields_to_enrich"');
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`Request body is not valid JSON: ${(err as Error).message}`);
  }
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

export function correlationIdOf(event: Pick<APIGatewayProxyEvent, 'requestContext'>): string {
  return event.requestContext?.requestId ?? randomUUID();
}
