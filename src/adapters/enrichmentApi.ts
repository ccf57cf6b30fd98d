import { z } from 'zod';
import type { EnrichmentApi } from '../core/ports';
import { HttpError, TimeoutError, parseRetryAfter } from '../core/retry';

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
 * The enrichment API over HTTP: one POST per call, with a hard timeout (the caller may give a
 * shorter one: the time its budget has left). Retries live in the caller.
 */
export function httpEnrichmentApi(url: string, defaultTimeoutMs: number, apiKey?: string): EnrichmentApi {
  return {
    async enrich(contacts, fields, opts) {
      const timeoutMs = Math.max(1, Math.floor(Math.min(defaultTimeoutMs, opts?.timeoutMs ?? Infinity)));
      const timedOut = (err: unknown) =>
        (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError';
      const timeoutError = () => new TimeoutError(`enrichment API did not answer within ${timeoutMs} ms`);
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(apiKey ? { 'x-api-key': apiKey } : {}) },
          body: JSON.stringify({ contacts, fields }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        if (timedOut(err)) throw timeoutError();
        throw err;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new HttpError(
          res.status,
          `enrichment API answered ${res.status}`,
          parseRetryAfter(res.headers.get('retry-after')),
        );
      }
      // The same signal bounds the body: a response that stalls halfway is a timeout too.
      let body: unknown;
      try {
        body = await res.json();
      } catch (err) {
        if (timedOut(err)) throw timeoutError();
        throw err;
      }
      return ResponseSchema.parse(body).results;
    },
  };
}
