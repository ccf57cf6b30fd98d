import { z } from 'zod';
import type { EnrichmentResult, FoundResult } from '../core/output';
import type { EnrichmentApi } from '../core/ports';
import { HttpError } from '../core/retry';
import type { Contact, EnrichField } from '../schemas/contact';
import { callTimeout, postJson } from './enrichmentApi';

/**
 * People Data Labs' Person Bulk Enrichment API behind the EnrichmentApi port: one `POST {base}/v5/person/bulk` per
 * call, up to 100 `requests`, each `{ params, metadata }`; the answer is an array of per-record results, each with its
 * own `status` (200 with `data`, 404 not found) and the request's `metadata` echoed.
 *
 * From PDL's documentation (read 2026-12; no call to PDL is made by this code's tests):
 * - request and response format: https://docs.peopledatalabs.com/docs/bulk-enrichment-api
 * - input parameters (first_name, last_name, company: "the name, website or social URL of a company",
 *   min_likelihood): https://docs.peopledatalabs.com/docs/reference-person-enrichment-api
 * - output (`status`, `likelihood`, `data`; fields work_email, mobile_phone, job_title, linkedin_url):
 *   https://docs.peopledatalabs.com/docs/output-response-person-enrichment-api
 * - limits per key and endpoint, fixed 60 s window, x-ratelimit-* headers, 429:
 *   https://docs.peopledatalabs.com/docs/usage-limits, https://docs.peopledatalabs.com/support/troubleshooting/rate-limit-errors
 * - 402 payment_required when the credits are spent (1 credit per match, 404s free):
 *   https://docs.peopledatalabs.com/support/troubleshooting/out-of-credits
 *
 * Errors of the whole call (core/retry.ts httpErrorFor): 429 → HttpError with the wait from Retry-After or
 * x-ratelimit-reset; 402 → CreditsExhaustedError (retryable for now: no contact is failed for it); 5xx, 408 →
 * transient; other 4xx (401 bad key, 400) → permanent. Per record: 200 → enriched, 404 → not_found, 400/422 → that
 * contact's own error (permanent), any other status → the whole call fails with it (retried as a transient error).
 */

/** The person fields this service reads, as PDL names them (Person Schema: https://docs.peopledatalabs.com/docs/fields). */
const PersonSchema = z.looseObject({
  // On plans without contact data PDL answers `true` for a field it has but does not show: only strings count.
  work_email: z.unknown().optional(),
  mobile_phone: z.unknown().optional(),
  job_title: z.unknown().optional(),
  linkedin_url: z.unknown().optional(),
});

const RecordSchema = z.looseObject({
  status: z.number().int(),
  likelihood: z.number().nullish(),
  data: PersonSchema.nullish(),
  metadata: z.looseObject({ index: z.number().int().min(0).optional() }).nullish(),
  error: z.looseObject({ type: z.string().optional(), message: z.string().optional() }).nullish(),
});
export const BulkResponseSchema = z.array(RecordSchema);
export type PdlRecord = z.infer<typeof RecordSchema>;

/** One bulk request record: what PDL matches on, and the contact's position (echoed back as metadata). */
export interface PdlRequest {
  params: { first_name: string; last_name: string; company: string; min_likelihood: number };
  metadata: { index: number };
}

export function bulkRequest(contacts: Contact[], minLikelihood: number): { requests: PdlRequest[] } {
  return {
    requests: contacts.map((c, index) => ({
      params: {
        first_name: c.first_name,
        last_name: c.last_name,
        // PDL's `company` takes a company's name, website or social URL: the domain is its website.
        company: c.company_domain,
        min_likelihood: minLikelihood,
      },
      metadata: { index },
    })),
  };
}

const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);

/** PDL writes profile URLs without a scheme ("linkedin.com/in/seanthorne"): ours carry https://. */
const withScheme = (url: string | null) => (url && !/^https?:\/\//i.test(url) ? `https://${url}` : url);

/** One mapping: PDL's person fields to ours. A new provider writes its own (docs/providers.md). */
export function mapPerson(data: z.infer<typeof PersonSchema>, fields: readonly EnrichField[]): FoundResult {
  const all: Record<EnrichField, string | null> = {
    professional_email: text(data.work_email),
    personal_phone: text(data.mobile_phone),
    job_title: text(data.job_title),
    linkedin_url: withScheme(text(data.linkedin_url)),
  };
  const result: FoundResult = { enrichment_status: 'enriched' };
  for (const field of fields) result[field] = all[field];
  return result;
}

/** Per-record statuses that speak about that record's own parameters: its contact fails, the others do not. */
const RECORD_PERMANENT = new Set([400, 422]);

/** The per-record answers, put back in the contacts' order by their metadata (by position when it is missing). */
export function mapBulkResponse(body: unknown, size: number, fields: readonly EnrichField[]): EnrichmentResult[] {
  const records = BulkResponseSchema.parse(body);
  if (records.length !== size)
    throw new Error(`People Data Labs returned ${records.length} records for ${size} requests`);
  const out: (EnrichmentResult | undefined)[] = Array.from({ length: size });
  records.forEach((record, position) => {
    const index = record.metadata?.index ?? position;
    if (index >= size || out[index])
      throw new Error(`People Data Labs record metadata.index ${index} is not a request`);
    out[index] = mapRecord(record, fields);
  });
  return out as EnrichmentResult[];
}

function mapRecord(record: PdlRecord, fields: readonly EnrichField[]): EnrichmentResult {
  if (record.status === 200 && record.data) return mapPerson(record.data, fields);
  if (record.status === 404) return { enrichment_status: 'not_found' };
  const message = record.error?.message ?? record.error?.type ?? `status ${record.status}`;
  if (RECORD_PERMANENT.has(record.status)) return { enrichment_status: 'error', error: message };
  throw new HttpError(record.status === 200 ? 502 : record.status, `People Data Labs record answered ${record.status}`);
}

export interface PeopleDataLabsOptions {
  /** https://api.peopledatalabs.com, or the mock's base (…/mock), which serves the same dialect. */
  baseUrl: string;
  timeoutMs: number;
  /** The API key (X-Api-Key), read once per cold start (src/adapters/secrets.ts). */
  apiKey: () => Promise<string | undefined>;
  minLikelihood: number;
}

export function peopleDataLabsApi(opts: PeopleDataLabsOptions): EnrichmentApi {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/v5/person/bulk`;
  return {
    async enrich(contacts, fields, callOpts) {
      const key = await opts.apiKey();
      const body = await postJson(
        url,
        bulkRequest(contacts, opts.minLikelihood),
        key ? { 'x-api-key': key } : {},
        callTimeout(opts.timeoutMs, callOpts),
      );
      return mapBulkResponse(body, contacts.length, fields);
    },
  };
}
