import { z } from 'zod';
import { ContactSchema, EnrichFieldSchema } from './contact';
import { unsafeCharIn } from './text';

/** S3 object keys are at most 1,024 bytes of UTF-8. */
export const MAX_S3_KEY_BYTES = 1024;

/** `s3://bucket/key` or a key under `uploads/` in the service's bucket. */
export const S3ReferenceSchema = z
  .string()
  .trim()
  .regex(/^(s3:\/\/[a-z0-9.-]{3,63}\/.+|uploads\/.+)$/, {
    error: 'contacts must be an array of contacts or an S3 reference "s3://<bucket>/<key>" or "uploads/<key>"',
  })
  .superRefine((ref, ctx) => {
    // A lone surrogate cannot be URI-encoded for the S3 call, nor a control character be a usable key.
    const bad = unsafeCharIn(ref);
    if (bad) ctx.addIssue({ code: 'custom', message: `the S3 reference ${bad}` });
  });

export const FieldsSchema = z
  .array(EnrichFieldSchema, { error: 'fields_to_enrich must be an array of field names' })
  .min(1, { error: 'fields_to_enrich must name at least one field' })
  .transform((fields) => [...new Set(fields)]);

/** The `Idempotency-Key` header: 1 to 255 printable ASCII characters (spaces inside allowed, none around). */
export const IdempotencyKeySchema = z
  .string()
  .trim()
  .regex(/^[\x20-\x7e]{1,255}$/, { error: 'Idempotency-Key must be 1 to 255 printable ASCII characters' });

/** `"dedupe": false` asks for a new job even if the same contacts and fields were sent before. */
export const DedupeSchema = z.boolean({ error: 'dedupe must be true or false' }).optional();

/** `"refresh": true` asks for fresh provider results: the result cache is not read (the new results are still kept). */
export const RefreshSchema = z.boolean({ error: 'refresh must be true or false' }).optional();

/** `metadata`: the caller's own labels for a request, echoed on its status and in the list; never interpreted. */
export const METADATA_MAX_PAIRS = 16;
export const METADATA_MAX_KEY_CHARS = 64;
export const METADATA_MAX_VALUE_CHARS = 512;
/** Characters as the caller counts them: Unicode code points (an emoji is one). */
const chars = (s: string) => [...s].length;

export const MetadataSchema = z
  .record(
    z.string(),
    z
      .string({ error: 'metadata values must be strings' })
      .refine((v) => chars(v) <= METADATA_MAX_VALUE_CHARS, {
        error: `metadata values must be at most ${METADATA_MAX_VALUE_CHARS} characters`,
      })
      .superRefine((v, ctx) => {
        const bad = unsafeCharIn(v);
        if (bad) ctx.addIssue({ code: 'custom', message: `a metadata value ${bad}` });
      }),
    { error: 'metadata must be an object of string keys and string values' },
  )
  .superRefine((m, ctx) => {
    const keys = Object.keys(m);
    if (keys.length > METADATA_MAX_PAIRS)
      ctx.addIssue({
        code: 'custom',
        message: `metadata may hold at most ${METADATA_MAX_PAIRS} pairs (it has ${keys.length})`,
      });
    for (const k of keys) {
      const bad = unsafeCharIn(k);
      const path = [k];
      if (chars(k) < 1 || chars(k) > METADATA_MAX_KEY_CHARS)
        ctx.addIssue({
          code: 'custom',
          path,
          message: `metadata keys must be 1 to ${METADATA_MAX_KEY_CHARS} characters`,
        });
      else if (bad) ctx.addIssue({ code: 'custom', path, message: `a metadata key ${bad}` });
    }
  })
  .optional();
export type Metadata = NonNullable<z.infer<typeof MetadataSchema>>;

export const CreateEnrichmentRequestSchema = z.object({
  contacts: z.union([
    z.array(ContactSchema, { error: 'contacts must be an array' }).min(1, { error: 'contacts must not be empty' }),
    S3ReferenceSchema,
  ]),
  fields_to_enrich: FieldsSchema,
  dedupe: DedupeSchema,
  refresh: RefreshSchema,
  metadata: MetadataSchema,
});

/** Request ids are stored in lowercase; an id in uppercase (UUIDs are case-insensitive) finds the same request. */
export const RequestIdSchema = z
  .string({ error: 'id must be a UUID v4' })
  .trim()
  .toLowerCase()
  .pipe(z.uuid({ version: 'v4', error: 'id must be a UUID v4' }));
