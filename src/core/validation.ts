import type { z } from 'zod';
import { ContactSchema, MAX_CONTACT_BYTES, type Contact } from '../schemas/contact';
import { encodedLongerThan } from '../schemas/message';
import { quoteInput } from '../schemas/text';
import { ValidationError, type FieldError } from './errors';

const MAX_REPORTED_ERRORS = 50;

/** `['contacts', 17, 'company_domain']` → `contacts[17].company_domain` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    // A property name is user input: odd or long ones are shown quoted and cut short.
    else if (typeof part === 'string' && !/^[A-Za-z_$][\w$]{0,99}$/.test(part)) out += `[${quoteInput(part)}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(body)';
}

export function toFieldErrors(error: z.ZodError, prefix: PropertyKey[] = []): FieldError[] {
  return error.issues.map((issue) => ({ path: formatPath([...prefix, ...issue.path]), message: issue.message }));
}

/** One ValidationError for a list of field errors, keeping the report to a readable size. */
export function validationFailed(errors: FieldError[], message = 'Invalid request'): ValidationError {
  const shown = errors.slice(0, MAX_REPORTED_ERRORS);
  const more = errors.length - shown.length;
  const suffix = more > 0 ? ` (${errors.length} errors, first ${MAX_REPORTED_ERRORS} shown)` : '';
  return new ValidationError(`${message}${suffix}`, shown);
}

export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  message?: string,
  path: PropertyKey[] = [],
): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationFailed(toFieldErrors(parsed.error, path), message);
  return parsed.data;
}

/**
 * One input contact as every path checks it (inline, upload intake): the contact, trimmed, else its errors with the
 * `contacts[index]` path; too large to travel in a batch message is an error too.
 */
export function checkContact(item: unknown, index: number): { contact?: Contact; errors: FieldError[] } {
  const parsed = ContactSchema.safeParse(item);
  if (!parsed.success) return { errors: toFieldErrors(parsed.error, ['contacts', index]) };
  if (encodedLongerThan(parsed.data, MAX_CONTACT_BYTES)) {
    return {
      errors: [
        {
          path: `contacts[${index}]`,
          message: `a contact must serialize to at most ${MAX_CONTACT_BYTES} bytes (as sent: a non-ASCII character counts as its \\u escape, 6 bytes, an emoji 12)`,
        },
      ],
    };
  }
  return { contact: parsed.data, errors: [] };
}
