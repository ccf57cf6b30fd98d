import { z } from 'zod';
import type { EnrichmentApi } from '../core/ports';
import { httpErrorFor, TimeoutError } from '../core/retry';

const FoundSchema = z.looseObject({
  enrichment_status: z.enum(['enriched', 'not_found']),
  professional_email: z.string().nullish(),
  personal_phone: z.string().nullish(),
  job_title: z.string().nullish(),
  linkedin_url: z.string().nullish(),
});
/** A per-contact error inside a 200 answer: the API will never enrich this contact (permanent, not retried). */
const ContactErrorSchema = z.looseObject({
  enrichment_status: z.literal('error'),
  error: z.string().default('unknown error'),
});
const ResultSchema = z.discriminatedUnion('enrichment_status', [FoundSchema, ContactErrorSchema]);
const ResponseSchema = z.object({ results: z.array(ResultSchema) });

/**
 * One POST of a JSON body with a hard timeout, its JSON answer back. A non-2xx answer throws the error the retry
 * policy reads (core/retry.ts httpErrorFor: 429 with its wait from Retry-After or x-ratelimit-reset, 402 as
 * CreditsExhaustedError); a call or a body that outlasts the timeout throws TimeoutError.
 */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<unknown> {
  const timedOut = (err: unknown) => (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError';
  const timeoutError = () => new TimeoutError(`enrichment API did not answer within ${timeoutMs} ms`);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (timedOut(err)) throw timeoutError();
    throw err;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw httpErrorFor(res.status, res.headers);
  }
  // The same signal bounds the body: a response that stalls halfway is a timeout too.
  try {
    return await res.json();
  } catch (err) {
    if (timedOut(err)) throw timeoutError();
    throw err;
  }
}

/** The call's timeout: the adapter's own, capped by the caller's (the time its budget has left). */
export const callTimeout = (defaultTimeoutMs: number, opts?: { timeoutMs?: number }) =>
  Math.max(1, Math.floor(Math.min(defaultTimeoutMs, opts?.timeoutMs ?? Infinity)));

/**
 * The enrichment API over HTTP (the mock's own dialect, POST /mock/enrich): one POST per call, with a hard timeout
 * (the caller may give a shorter one: the time its budget has left). Retries live in the caller.
 */
export function httpEnrichmentApi(url: string, defaultTimeoutMs: number, apiKey?: string): EnrichmentApi {
  return {
    async enrich(contacts, fields, opts) {
      const body = await postJson(
        url,
        { contacts, fields },
        apiKey ? { 'x-api-key': apiKey } : {},
        callTimeout(defaultTimeoutMs, opts),
      );
      return ResponseSchema.parse(body).results;
    },
  };
}
