import type { StatusResponse } from '../../core/status';
import { isLocalUrl, keptKey, keyFilePath } from '../../local/apiKeyFile';
import {
  API_GATEWAY_MAX_BODY_BYTES,
  checkInline,
  LAMBDA_MAX_EVENT_BYTES,
  type InlineVerdict,
} from '../../inlineLimits';

export type { StatusResponse };

const DEFAULT_API_URL = 'http://localhost:3000';
export const DEFAULT_FIELDS = ['professional_email', 'personal_phone'];

/** The API's base URL: `API_URL`, or the local stack. */
export function apiUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.API_URL || DEFAULT_API_URL).replace(/\/+$/, '');
}

export interface CreateResponse {
  message: string;
  requestId: string;
  downloadUrl: string;
  totalContacts?: number;
  totalBatches?: number;
}

export interface ApiResponse<T = unknown> {
  status: number;
  ok: boolean;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: T;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

const JSON_HEADERS = { accept: 'application/json', 'content-type': 'application/json' };

/**
 * Room left for headers we cannot see from here (a custom domain's, a proxy's): the scripts upload a
 * request that comes this close to Lambda's limit rather than risk a 413.
 */
const INLINE_MARGIN_BYTES = 4096;

/** The headers `fetch` sends with the scripts' POST of `body` (measured with a listening socket). */
export function fetchPostHeaders(body: string, host = new URL(apiUrl()).host): Record<string, string> {
  return {
    ...JSON_HEADERS,
    ...apiKeyHeader(`http://${host}`),
    host,
    connection: 'keep-alive',
    'accept-language': '*',
    'sec-fetch-mode': 'cors',
    'user-agent': 'node',
    'accept-encoding': 'gzip, deflate',
    'content-length': String(Buffer.byteLength(body)),
  };
}

/**
 * Whether POST /enrichment with this body reaches the function on AWS (and on the local edge): the
 * body as `fetch` sends it (its own headers added), measured as the Lambda event API Gateway builds.
 */
export function inlineVerdict(body: string, baseUrl = apiUrl()): InlineVerdict {
  const headers = fetchPostHeaders(body, new URL(baseUrl).host);
  const limits = {
    maxBodyBytes: API_GATEWAY_MAX_BODY_BYTES,
    maxEventBytes: LAMBDA_MAX_EVENT_BYTES - INLINE_MARGIN_BYTES,
  };
  return checkInline({ method: 'POST', url: '/enrichment', headers, body }, limits);
}

/**
 * The API key the scripts send to `url` (docs/api.md: Authentication): API_KEY (a deployed stage's, or the one
 * `npm start` was given); unset, and only when `url` is the local stack, the key `npm start` keeps in
 * .local/api-key (LOCAL_API_KEY_FILE). The local key never goes to a deployed stage.
 */
export function apiKeyHeader(url?: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.API_KEY) return { 'x-api-key': env.API_KEY };
  const kept = isLocalUrl(url ?? apiUrl(env)) ? keptKey(keyFilePath(env.LOCAL_API_KEY_FILE)) : undefined;
  return kept ? { 'x-api-key': kept } : {};
}

/** One JSON call to the API. Network failures become an ApiError that names the URL. */
export async function request<T = unknown>(
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; baseUrl?: string; signal?: AbortSignal } = {},
): Promise<ApiResponse<T>> {
  const url = `${opts.baseUrl ?? apiUrl()}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { ...(opts.body === undefined ? { accept: 'application/json' } : JSON_HEADERS), ...apiKeyHeader(url) },
      body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiError(
      `cannot reach ${method} ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message} (is the API running? set API_URL)`,
    );
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, ok: res.ok, body: body as T };
}

/** POST /enrichment with a payload, or with a body already serialized (the one `inlineVerdict` measured). */
export function createEnrichment(
  payload: { contacts: unknown; fields_to_enrich: string[]; callbackUrl?: string } | string,
  baseUrl?: string,
) {
  return request<CreateResponse>('POST', '/enrichment', { body: payload, baseUrl });
}

export async function getStatus(
  requestId: string,
  opts: { baseUrl?: string; signal?: AbortSignal } = {},
): Promise<StatusResponse> {
  const res = await request<StatusResponse>('GET', `/enrichment/${encodeURIComponent(requestId)}`, opts);
  if (!res.ok)
    throw new ApiError(
      `GET /enrichment/${requestId} answered ${res.status}: ${JSON.stringify(res.body)}`,
      res.status,
      res.body,
    );
  return res.body;
}

/** Still running: `validating` (an uploaded file being checked, before any batch) or `processing`. */
export const isFinalStatus = (status: string) =>
  status !== 'processing' && status !== 'validating' && status !== 'cancelling';
