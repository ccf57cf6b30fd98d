import { z } from 'zod';
import { ValidationError } from '../../../src/core/errors';
import { formatPath, parseOrThrow, toFieldErrors, validationFailed } from '../../../src/core/validation';

describe('formatPath', () => {
  it('writes indexes in brackets and properties with dots', () => {
    expect(formatPath(['contacts', 17, 'company_domain'])).toBe('contacts[17].company_domain');
    expect(formatPath(['fields_to_enrich', 0])).toBe('fields_to_enrich[0]');
    expect(formatPath(['a', 'b', 2, 3, 'c'])).toBe('a.b[2][3].c');
    expect(formatPath(['contacts'])).toBe('contacts');
    expect(formatPath([0, 'x'])).toBe('[0].x');
  });
  it('names the body for an empty path', () => {
    expect(formatPath([])).toBe('(body)');
  });
});

describe('toFieldErrors', () => {
  it('prefixes zod issue paths', () => {
    const schema = z.object({ name: z.string(), tags: z.array(z.string()) });
    const parsed = schema.safeParse({ name: 1, tags: ['ok', 2] });
    expect(parsed.success).toBe(false);
    const errors = toFieldErrors(parsed.error!, ['contacts', 4]);
    expect(errors.map((e) => e.path).sort()).toEqual(['contacts[4].name', 'contacts[4].tags[1]']);
    expect(errors.every((e) => typeof e.message === 'string' && e.message.length > 0)).toBe(true);
  });
});

describe('validationFailed', () => {
  const errs = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ path: `contacts[${i}].company_domain`, message: 'bad' }));

  it('keeps a short list as is', () => {
    const err = validationFailed(errs(3));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.kind).toBe('invalid_request');
    expect(err.message).toBe('Invalid request');
    expect(err.errors).toHaveLength(3);
  });

  it('reports at most 50 errors and says how many there were', () => {
    const err = validationFailed(errs(120));
    expect(err.errors).toHaveLength(50);
    expect(err.errors[0].path).toBe('contacts[0].company_domain');
    expect(err.errors[49].path).toBe('contacts[49].company_domain');
    expect(err.message).toBe('Invalid request (120 errors, first 50 shown)');
  });

  it('adds no note at exactly 50', () => {
    const err = validationFailed(errs(50), 'Invalid enrichment call');
    expect(err.errors).toHaveLength(50);
    expect(err.message).toBe('Invalid enrichment call');
  });
});

describe('parseOrThrow', () => {
  it('returns the parsed value or throws a ValidationError with paths', () => {
    expect(parseOrThrow(z.uuid(), '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b')).toBe('0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b');
    try {
      parseOrThrow(z.uuid(), 'nope', 'Invalid request id', ['id']);
      throw new Error('did not throw');
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toBe('Invalid request id');
      expect((err as ValidationError).errors.map((e) => e.path)).toEqual(['id']);
    }
  });
});
