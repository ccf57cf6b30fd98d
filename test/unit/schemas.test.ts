import { ContactSchema, EnrichFieldSchema, SUPPORTED_FIELDS } from '../../src/schemas/contact';
import { BatchMessageSchema } from '../../src/schemas/message';
import {
  MetadataSchema,
  CreateEnrichmentRequestSchema,
  FieldsSchema,
  RequestIdSchema,
  S3ReferenceSchema,
} from '../../src/schemas/request';
import { StatusRecordSchema } from '../../src/schemas/status';

const contact = (company_domain: unknown) => ({ first_name: 'Ada', last_name: 'Lovelace', company_domain });

describe('ContactSchema', () => {
  it.each([
    'example.com',
    'sub.example.co.uk',
    'EXAMPLE.COM',
    'a-b.io',
    'x1.example',
    'xn--bcher-kva.example',
    'a.b.c.d.example.org',
    '  padded.com  ',
  ])('accepts the domain %p', (domain) => {
    expect(ContactSchema.safeParse(contact(domain)).success).toBe(true);
  });

  it.each([
    'nope',
    'not a domain',
    '-a.com',
    'a-.com',
    'example.123',
    '',
    'example..com',
    '.com',
    'example.com.',
    'http://example.com',
    'example.com/path',
    'user@example.com',
    `${'a'.repeat(64)}.com`,
  ])('rejects the domain %p with a clear message', (domain) => {
    const parsed = ContactSchema.safeParse(contact(domain));
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0].path).toEqual(['company_domain']);
    expect(parsed.error!.issues[0].message).toBe('company_domain must be a domain name such as example.com');
  });

  it('rejects a domain that is not a string', () => {
    const parsed = ContactSchema.safeParse(contact(42));
    expect(parsed.error!.issues[0].message).toBe('company_domain must be a string');
  });

  it('requires non-empty names', () => {
    for (const [value, message] of [
      ['', 'first_name must not be empty'],
      ['   ', 'first_name must not be empty'],
      [7, 'first_name must be a string'],
      [undefined, 'first_name must be a string'],
    ] as const) {
      const parsed = ContactSchema.safeParse({ first_name: value, last_name: 'B', company_domain: 'a.com' });
      expect(parsed.success).toBe(false);
      expect(parsed.error!.issues[0]).toMatchObject({ path: ['first_name'], message });
    }
    expect(ContactSchema.safeParse({ first_name: 'A', company_domain: 'a.com' }).error!.issues[0].path).toEqual([
      'last_name',
    ]);
  });

  it('passes extra properties through untouched and trims the required ones', () => {
    const input = {
      first_name: ' Ada ',
      last_name: 'Lovelace',
      company_domain: 'example.com',
      crm_id: 42,
      tags: ['x'],
      meta: { a: null },
    };
    expect(ContactSchema.parse(input)).toEqual({ ...input, first_name: 'Ada' });
  });
});

describe('fields', () => {
  it('supports the four documented fields', () => {
    expect(SUPPORTED_FIELDS).toEqual(['professional_email', 'personal_phone', 'job_title', 'linkedin_url']);
    for (const f of SUPPORTED_FIELDS) expect(EnrichFieldSchema.parse(f)).toBe(f);
  });

  it('rejects an unknown field naming the supported ones', () => {
    const parsed = FieldsSchema.safeParse(['professional_email', 'shoe_size']);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0].path).toEqual([1]);
    expect(parsed.error!.issues[0].message).toBe(
      'Unsupported field "shoe_size". Supported fields: professional_email, personal_phone, job_title, linkedin_url',
    );
  });

  it('needs at least one field, removes duplicates and keeps order', () => {
    expect(FieldsSchema.safeParse([]).success).toBe(false);
    expect(FieldsSchema.safeParse('professional_email').success).toBe(false);
    expect(FieldsSchema.parse(['personal_phone', 'professional_email', 'personal_phone'])).toEqual([
      'personal_phone',
      'professional_email',
    ]);
  });
});

describe('CreateEnrichmentRequestSchema', () => {
  const fields = ['professional_email'];
  it('accepts inline contacts or an S3 reference', () => {
    expect(
      CreateEnrichmentRequestSchema.safeParse({ contacts: [contact('example.com')], fields_to_enrich: fields }).success,
    ).toBe(true);
    expect(
      CreateEnrichmentRequestSchema.safeParse({ contacts: 's3://my-bucket/uploads/c.json', fields_to_enrich: fields })
        .success,
    ).toBe(true);
    expect(
      CreateEnrichmentRequestSchema.safeParse({ contacts: 'uploads/c.json', fields_to_enrich: fields }).success,
    ).toBe(true);
  });
  it('rejects empty lists, other strings and missing parts', () => {
    for (const body of [
      { contacts: [], fields_to_enrich: fields },
      { contacts: 'https://example.com/c.json', fields_to_enrich: fields },
      { contacts: 's3://my-bucket', fields_to_enrich: fields },
      { contacts: [contact('example.com')] },
      { fields_to_enrich: fields },
      { contacts: [contact('nope')], fields_to_enrich: fields },
    ]) {
      expect(CreateEnrichmentRequestSchema.safeParse(body).success).toBe(false);
    }
  });
  it('recognises S3 references', () => {
    expect(S3ReferenceSchema.safeParse('s3://bucket.name-1/uploads/x.json').success).toBe(true);
    expect(S3ReferenceSchema.safeParse('s3://AB/x').success).toBe(false);
    expect(S3ReferenceSchema.safeParse('downloads/x.json').success).toBe(false);
  });
});

describe('RequestIdSchema', () => {
  it('accepts a UUID v4 only', () => {
    expect(RequestIdSchema.safeParse('0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b').success).toBe(true);
    expect(RequestIdSchema.safeParse('0d9c6d1e-6f7c-1b8e-9a57-0a4d7e0c1f2b').success).toBe(false); // v1
    expect(RequestIdSchema.safeParse('not-a-uuid').success).toBe(false);
    expect(RequestIdSchema.safeParse(undefined).success).toBe(false);
  });
});

describe('BatchMessageSchema', () => {
  const message = (over: Record<string, unknown> = {}) => ({
    requestId: '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b',
    batchIndex: 0,
    fields: ['job_title'],
    contacts: [contact('example.com')],
    ...over,
  });
  it('accepts a batch of 1 to 100 contacts', () => {
    expect(BatchMessageSchema.safeParse(message()).success).toBe(true);
    expect(BatchMessageSchema.safeParse(message({ contacts: Array(100).fill(contact('example.com')) })).success).toBe(
      true,
    );
  });
  it('accepts a message sent before totalBatches left it (in flight during a deploy) and drops the field', () => {
    const parsed = BatchMessageSchema.parse(message({ totalBatches: 3 }));
    expect(parsed).toEqual(message());
    expect(parsed).not.toHaveProperty('totalBatches');
  });
  it('rejects malformed batches', () => {
    for (const over of [
      { contacts: Array(101).fill(contact('example.com')) },
      { contacts: [] },
      { batchIndex: -1 },
      { batchIndex: 1.5 },
      { fields: [] },
      { fields: ['nope'] },
      { requestId: 'x' },
      { contacts: [contact('nope')] },
    ]) {
      expect(BatchMessageSchema.safeParse(message(over)).success).toBe(false);
    }
  });
});

describe('StatusRecordSchema', () => {
  it('defaults the counters and keeps the batch set', () => {
    const parsed = StatusRecordSchema.parse({
      requestId: 'r',
      status: 'processing',
      createdAt: 'c',
      updatedAt: 'u',
      totalContacts: 1,
      totalBatches: 1,
      fields: ['job_title'],
      inputFileKey: 'i',
      outputFileKey: 'o',
      deadlineAt: 'd',
      expiresAt: 1,
      doneBatches: new Set([0]),
    });
    expect(parsed.processedBatches).toBe(0);
    expect(parsed.failedBatches).toBe(0);
    expect(parsed.doneBatches).toEqual(new Set([0]));
    expect(StatusRecordSchema.safeParse({ ...parsed, status: 'done' }).success).toBe(false);
  });
});

describe('MetadataSchema', () => {
  const pairs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

  it('takes up to 16 string pairs, keys of 1 to 64 characters and values up to 512 (code points: an emoji is one)', () => {
    for (const ok of [undefined, {}, pairs(16), { ['😀'.repeat(64)]: '😀'.repeat(512) }, { a: '' }])
      expect(MetadataSchema.safeParse(ok).success).toBe(true);
  });

  it.each([
    ['17 pairs', pairs(17), 'metadata may hold at most 16 pairs (it has 17)'],
    ['an empty key', { '': 'v' }, 'metadata keys must be 1 to 64 characters'],
    ['a key of 65 characters', { ['k'.repeat(65)]: 'v' }, 'metadata keys must be 1 to 64 characters'],
    ['a value of 513 characters', { k: 'v'.repeat(513) }, 'metadata values must be at most 512 characters'],
    ['a number value', { k: 1 }, 'metadata values must be strings'],
    ['an array', ['a'], 'metadata must be an object of string keys and string values'],
    ['null', null, 'metadata must be an object of string keys and string values'],
    [
      'a lone surrogate',
      { k: '\ud800' },
      'a metadata value contains U+D800 (a lone surrogate) at position 0, which cannot be stored or sent',
    ],
  ])('refuses %s, naming the rule', (_name, value, message) => {
    expect(MetadataSchema.safeParse(value).error?.issues.map((i) => i.message)).toEqual([message]);
  });
});
