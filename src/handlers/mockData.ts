import { hash } from 'node:crypto';
import { Faker, en } from '@faker-js/faker';
import type { Contact, EnrichField } from '../schemas/contact';
import type { ContactErrorResult, FoundResult } from '../core/output';

const NOT_FOUND_PERCENT = 5;

function contactHash(contact: Contact): Buffer {
  const key = [contact.first_name, contact.last_name, contact.company_domain]
    .map((s) => s.trim().toLowerCase())
    .join('|');
  // One-shot: a Hash object per contact cost the mock ~0.7 µs a contact more (the same digest).
  return hash('sha256', key, 'buffer');
}

const slug = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/[^a-zA-Z0-9]+/g, '')
    .toLowerCase() || 'x';

/**
 * Phones and job titles drawn once with a seeded faker, then picked by the contact's hash: seeding faker for
 * every contact was about 13% of the bench's CPU time (docs/benchmarks-history.md, "Where the time goes").
 */
const faker = new Faker({ locale: [en], seed: 20240611 });
const PHONES = Array.from({ length: 4096 }, () => faker.phone.number({ style: 'international' }));
const JOB_TITLES = Array.from({ length: 1024 }, () => faker.person.jobTitle());

/** Deterministic enrichment: the same contact always gets the same data; about 5% are not found. */
export function mockEnrichContact(contact: Contact, fields: readonly EnrichField[]): FoundResult {
  const hash = contactHash(contact);
  if (hash.readUInt32BE(0) % 100 < NOT_FOUND_PERCENT) return { enrichment_status: 'not_found' };
  const first = slug(contact.first_name);
  const last = slug(contact.last_name);
  const domain = contact.company_domain.trim().toLowerCase();
  const all: Record<EnrichField, string> = {
    professional_email: `${first}.${last}@${domain}`,
    personal_phone: PHONES[hash.readUInt16BE(4) % PHONES.length],
    job_title: JOB_TITLES[hash.readUInt16BE(6) % JOB_TITLES.length],
    linkedin_url: `https://www.linkedin.com/in/${first}-${last}-${hash.toString('hex', 8, 11)}`,
  };
  const result: FoundResult = { enrichment_status: 'enriched' };
  for (const field of fields) result[field] = all[field];
  return result;
}

/** The mock API's answer for a contact it can never enrich (a `.invalid` domain). */
export const POISON_CONTACT_ERROR: ContactErrorResult = {
  enrichment_status: 'error',
  error: 'company_domain cannot be enriched',
};

/**
 * Contacts whose domain ends in `.invalid` the mock API can never enrich: a per-contact error in a
 * 200 answer, or (MOCK_INVALID_MODE=call) a 500 for every call that includes them.
 */
export const isPoisonContact = (contact: Contact) => contact.company_domain.trim().toLowerCase().endsWith('.invalid');

/** Contacts whose domain ends in `.hang` make the mock API never answer a call that includes them. */
export const isHangingContact = (contact: Contact) => contact.company_domain.trim().toLowerCase().endsWith('.hang');

/**
 * The mock's answer for one record of People Data Labs' bulk dialect (POST /mock/v5/person/bulk), from the same
 * deterministic data: 200 with `likelihood` and `data` (PDL's field names; profile URLs without a scheme, as PDL writes
 * them), 404 with PDL's not-found error, 400 for a contact it can never enrich; `metadata` echoed. Shapes as documented
 * at https://docs.peopledatalabs.com/docs/bulk-enrichment-api.
 */
export function mockPdlRecord(contact: Contact, metadata: unknown): Record<string, unknown> {
  const echo = metadata === undefined ? {} : { metadata };
  if (isPoisonContact(contact))
    return { status: 400, error: { type: 'invalid_request_error', message: POISON_CONTACT_ERROR.error }, ...echo };
  const found = mockEnrichContact(contact, ['professional_email', 'personal_phone', 'job_title', 'linkedin_url']);
  if (found.enrichment_status === 'not_found')
    return {
      status: 404,
      error: { type: 'not_found', message: 'No records were found matching your request' },
      ...echo,
    };
  return {
    status: 200,
    likelihood: 6 + (contactHash(contact).readUInt8(12) % 5),
    data: {
      full_name: `${contact.first_name} ${contact.last_name}`.toLowerCase(),
      first_name: contact.first_name.toLowerCase(),
      last_name: contact.last_name.toLowerCase(),
      job_company_website: contact.company_domain.trim().toLowerCase(),
      work_email: found.professional_email,
      mobile_phone: found.personal_phone,
      job_title: found.job_title,
      linkedin_url: found.linkedin_url?.replace(/^https:\/\/www\./, ''),
    },
    ...echo,
  };
}
