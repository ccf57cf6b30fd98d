import { z } from 'zod';
import { findValueProblem, hasVisibleChar, MAX_PROPERTY_DEPTH, quoteInput } from './text';

/** Fields the enrichment API can add to a contact. */
export const SUPPORTED_FIELDS = ['professional_email', 'personal_phone', 'job_title', 'linkedin_url'] as const;
export const EnrichFieldSchema = z.enum(SUPPORTED_FIELDS, {
  error: (issue) => `Unsupported field ${quoteInput(issue.input)}. Supported fields: ${SUPPORTED_FIELDS.join(', ')}`,
});
export type EnrichField = z.infer<typeof EnrichFieldSchema>;

// RFC 1035-style host name with at least one dot and an alphabetic top-level label.
const DOMAIN_RE = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;

const name = (field: string) =>
  z
    .string({ error: `${field} must be a string` })
    .trim()
    .min(1, { error: `${field} must not be empty`, abort: true })
    .refine(hasVisibleChar, {
      error: `${field} must contain a visible character (not only spaces or invisible characters such as zero-width space)`,
    });

/**
 * One input contact. Unknown extra properties are kept and passed through to the output (a `__proto__`
 * key is dropped, as zod copies own properties only). No string or property name may hold a character
 * the pipeline cannot carry, and extra properties nest at most MAX_PROPERTY_DEPTH levels (src/schemas/text.ts).
 */
export const ContactSchema = z
  .looseObject({
    first_name: name('first_name'),
    last_name: name('last_name'),
    company_domain: z
      .string({ error: 'company_domain must be a string' })
      .trim()
      .regex(DOMAIN_RE, { error: 'company_domain must be a domain name such as example.com' }),
  })
  .superRefine((contact, ctx) => {
    const problem = findValueProblem(contact, MAX_PROPERTY_DEPTH);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  });
export type Contact = z.infer<typeof ContactSchema>;

/**
 * Largest contact as it travels in an SQS message (ASCII-safe JSON: a non-ASCII character counts as its
 * `\u` escape, 6 bytes, an emoji 12): 100 of them must fit in one 256 KB SQS message.
 */
export const MAX_CONTACT_BYTES = 2048;

/** `cancelled`: a contact a cancel left unsettled (POST /enrichment/{id}/cancel). */
export type EnrichmentStatus = 'enriched' | 'not_found' | 'failed' | 'cancelled';

/** Where a row's result came from: this request's own provider call, or the result cache. */
export type RowSource = 'provider' | 'cache';

/** One row of output.json: the input contact plus the requested fields and a status. */
export type OutputRow = Contact &
  Partial<Record<EnrichField, string | null>> & {
    enrichment_status: EnrichmentStatus;
    failure_reason?: string;
    source?: RowSource;
    /** Set on `cache` rows: when the cached result was obtained (ISO 8601). */
    cachedAt?: string;
  };
