import { isPoisonContact, mockEnrichContact } from '../../../src/handlers/mockData';
import type { Contact } from '../../../src/schemas/contact';
import { makeContacts } from '../../support/factories';

const ALL = ['professional_email', 'personal_phone', 'job_title', 'linkedin_url'] as const;

describe('mockEnrichContact', () => {
  const contacts = Array.from({ length: 2_000 }, (_, i) => ({
    first_name: `Grace${i}`,
    last_name: `Hopper${i % 17}`,
    company_domain: `firm${i % 41}.example.org`,
  }));

  it('gives the same contact the same data, whatever was enriched in between', () => {
    const c = contacts[7];
    const first = mockEnrichContact(c, [...ALL]);
    for (const other of contacts.slice(0, 50)) mockEnrichContact(other, [...ALL]);
    expect(mockEnrichContact({ ...c }, [...ALL])).toEqual(first);
  });

  it('ignores case and surrounding spaces when identifying a contact', () => {
    const a = mockEnrichContact({ first_name: 'Ada', last_name: 'Lovelace', company_domain: 'example.com' }, [...ALL]);
    const b = mockEnrichContact({ first_name: ' ada ', last_name: 'LOVELACE', company_domain: 'Example.COM' }, [
      ...ALL,
    ]);
    expect(b.personal_phone).toBe(a.personal_phone);
    expect(b.job_title).toBe(a.job_title);
  });

  it('returns only the requested fields, with the same values whichever are asked for', () => {
    const c = contacts.find((x) => mockEnrichContact(x, ['personal_phone']).enrichment_status === 'enriched')!;
    const phoneOnly = mockEnrichContact(c, ['personal_phone']);
    expect(Object.keys(phoneOnly).sort()).toEqual(['enrichment_status', 'personal_phone']);
    expect(mockEnrichContact(c, [...ALL]).personal_phone).toBe(phoneOnly.personal_phone);
  });

  it('derives the email from the name and domain', () => {
    const c: Contact = { first_name: 'Zoë-Anne', last_name: "O'Brien", company_domain: 'Acme.IO' };
    const r = mockEnrichContact(c, ['professional_email']);
    if (r.enrichment_status === 'enriched') expect(r.professional_email).toBe('zoeanne.obrien@acme.io');
    const found = makeContacts(40)
      .map((x) => mockEnrichContact(x, ['professional_email']))
      .filter((x) => x.enrichment_status === 'enriched');
    for (const x of found) expect(x.professional_email).toMatch(/^first\d+\.last\d+@company\d+\.example\.com$/);
  });

  it('finds about 95% of contacts (not_found between 3% and 7% of 2,000)', () => {
    const notFound = contacts.filter(
      (c) => mockEnrichContact(c, ['professional_email']).enrichment_status === 'not_found',
    );
    expect(notFound.length).toBeGreaterThanOrEqual(60);
    expect(notFound.length).toBeLessThanOrEqual(140);
    for (const c of notFound.slice(0, 5))
      expect(mockEnrichContact(c, [...ALL])).toEqual({ enrichment_status: 'not_found' });
  });

  it('gives different contacts different data', () => {
    const phones = new Set(
      contacts
        .slice(0, 200)
        .map((c) => mockEnrichContact(c, ['personal_phone']).personal_phone)
        .filter(Boolean),
    );
    expect(phones.size).toBeGreaterThan(180);
  });
});

describe('isPoisonContact', () => {
  const at = (company_domain: string) => ({ first_name: 'A', last_name: 'B', company_domain });
  it('flags .invalid domains, in any case', () => {
    expect(isPoisonContact(at('company7.invalid'))).toBe(true);
    expect(isPoisonContact(at('Company7.INVALID '))).toBe(true);
  });
  it('leaves ordinary domains alone', () => {
    expect(isPoisonContact(at('example.com'))).toBe(false);
    expect(isPoisonContact(at('invalid.example.com'))).toBe(false);
    expect(isPoisonContact(at('notinvalid'))).toBe(false);
  });
});
