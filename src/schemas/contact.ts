import { z } from 'zod';

/** Fields the enrichment API can add to a contact. */
export const SUPPORTED_FIELDS = ['professional_email', 'personal_phone', 'job_title', 'linkedin_url'] as const;
export const EnrichFieldSchema = z.enum(SUPPORTED_FIELDS, {
  error: (issue) =>
    `Unsupported field ${JSON.stringify(issue.input)}. Supported fields: ${SUPPORTED_FIELDS.join(', ')}`,
});
export type EnrichField = z.infer<typeof EnrichFieldSchema>;

// RFC 1035-style host name with at least one dot and an alphabetic top-level label.
const DOMAIN_RE = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;

const nonEmpty = (name: string) =>
  z.string({ error: `${name} must be a string` }).trim().min(1, { error: `${name} must not be empty` });

/** One input contact. Unknown extra properties are kept and passed through to the output. */
export const ContactSchema = z.looseObject({
  first_name: nonEmpty('first_name'),
  last_name: nonEmpty('last_name'),
  company_domain: z
    .string({ error: 'company_domain must be a string' })
    .trim()
    .regex(DOMAIN_RE, { error: 'company_domain must be a domain name such as example.com' }),
});
export type Contact = z.infer<typeof ContactSchema>;

/** Largest serialized contact: 100 of them must fit in one 256 KB SQS message. */
export const MAX_CONTACT_BYTES = 2048;

export type EnrichmentStatus = 'enriched' | 'not_found' | 'failed';

/** One row of output.json: the input contact plus the requested fields and a status. */
export type OutputRow = Contact &
  Partial<Record<EnrichField, string | null>> & {
    enrichment_status: EnrichmentStatus;
    failure_reason?: string;
  };
