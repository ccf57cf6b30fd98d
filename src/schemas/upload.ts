import { z } from 'zod';

/** The formats an upload may hold, by the content type S3 stores it with. */
export const UPLOAD_CONTENT_TYPES = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv',
} as const;

/** POST /enrichment/uploads: the size the client will upload, in bytes, and what it holds. */
export const CreateUploadRequestSchema = z.object({
  size: z
    .number({ error: 'size must be the number of bytes to upload' })
    .int({ error: 'size must be a whole number of bytes' })
    .positive({ error: 'size must be a positive number of bytes' }),
  format: z.enum(['json', 'ndjson', 'csv'], { error: 'format must be one of json, ndjson, csv' }).default('json'),
  /** The client's own name for the file: logged only, never part of the key. */
  filename: z
    .string({ error: 'filename must be a string' })
    .max(255, { error: 'filename must be at most 255 characters' })
    .optional(),
});

/** S3 allows part numbers 1 to 10,000. */
const MAX_PARTS = 10_000;

const UploadPartSchema = z.object({
  partNumber: z
    .number({ error: 'partNumber must be a number' })
    .int()
    .min(1)
    .max(MAX_PARTS, { error: `partNumber must be 1 to ${MAX_PARTS}` }),
  etag: z.string({ error: 'etag must be the ETag header the part upload answered' }).min(1).max(128),
});

/** POST /enrichment/uploads/{uploadId}/complete: the upload's key and the ETag each part PUT answered. */
export const CompleteUploadRequestSchema = z.object({
  key: z.string({ error: 'key must be the key POST /enrichment/uploads answered' }).min(1).max(1024),
  parts: z
    .array(UploadPartSchema, { error: 'parts must be an array of {partNumber, etag}' })
    .min(1, { error: 'parts must list at least one part' })
    .max(MAX_PARTS)
    .refine((parts) => parts.every((p, i) => i === 0 || p.partNumber > parts[i - 1].partNumber), {
      error: 'parts must be in ascending partNumber order, each once',
    }),
});

/** An upload id as S3 hands it out: printable ASCII, URL-safe once encoded. */
export const UploadIdSchema = z.string().regex(/^[\x21-\x7e]{1,1024}$/, { error: 'uploadId is not an upload id' });
