import { randomUUID } from 'node:crypto';
import { EnrichmentError, ValidationError } from './errors';
import type { Clock, UploadStore } from './ports';
import { uploadPrefixOf } from './owner';
import { parseOrThrow } from './validation';
import {
  CompleteUploadRequestSchema,
  CreateUploadRequestSchema,
  UPLOAD_CONTENT_TYPES,
  UploadIdSchema,
} from '../schemas/upload';

/**
 * Parts of 8 MiB: over S3's 5 MiB minimum, under fauxqs's 11 MiB body limit. The configured maximum
 * size (src/config.ts: at most 1,000 parts) stays far below S3's 10,000 parts.
 */
export const PART_SIZE = 8 * 1024 * 1024;

export interface UploadDeps {
  uploads: UploadStore;
  clock: Clock;
  /** The caller (src/core/owner.ts); undefined on a stage without API keys (uploads are then unowned). */
  owner?: string;
  maxBytes: number;
  urlTtlSeconds: number;
}

export interface CreatedUpload {
  uploadId: string;
  key: string;
  reference: string;
  partSize: number;
  parts: Array<{ partNumber: number; url: string }>;
  expiresAt: string;
}

const prefixOf = (owner: string | undefined) => (owner ? uploadPrefixOf(owner) : 'uploads/');
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function tooLarge(size: number, max: number): ValidationError {
  const message = `The upload is ${size} bytes (${mib(size)}), over the maximum of ${max} bytes (${mib(max)}): split the contacts into several requests`;
  return new ValidationError('Invalid request', [{ path: 'size', message }]);
}

/** POST /enrichment/uploads. */
export async function createUpload(body: unknown, deps: UploadDeps): Promise<CreatedUpload> {
  // 1. Validate the size against the maximum, and the format.
  // 2. Start a multipart upload at a key the server chooses under the caller's prefix.
  // 3. Presign one PUT URL per part, all expiring together.
  const input = parseOrThrow(CreateUploadRequestSchema, body, 'Invalid request');
  if (input.size > deps.maxBytes) throw tooLarge(input.size, deps.maxBytes);

  const key = `${prefixOf(deps.owner)}${randomUUID()}.${input.format}`;
  const uploadId = await deps.uploads.start(key, UPLOAD_CONTENT_TYPES[input.format]);

  const count = Math.ceil(input.size / PART_SIZE);
  const parts = await Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      partNumber: i + 1,
      url: await deps.uploads.presignPart(key, uploadId, i + 1, deps.urlTtlSeconds),
    })),
  );
  const expiresAt = new Date(deps.clock.now().getTime() + deps.urlTtlSeconds * 1000).toISOString();
  return { uploadId, key, reference: `s3://${deps.uploads.bucket}/${key}`, partSize: PART_SIZE, parts, expiresAt };
}

/** POST /enrichment/uploads/{uploadId}/complete. */
export async function completeUpload(
  uploadIdParam: unknown,
  body: unknown,
  deps: UploadDeps,
): Promise<{ reference: string; size: number }> {
  // 1. Only the caller's own uploads: a key outside its prefix is as unknown as a missing upload (404).
  // 2. Complete the multipart upload with the parts the client sent (S3 checks each ETag).
  // 3. Check the object's real size against the maximum; an oversized one is deleted.
  const uploadId = parseOrThrow(UploadIdSchema, uploadIdParam, 'Invalid upload id', ['uploadId']);
  const input = parseOrThrow(CompleteUploadRequestSchema, body, 'Invalid request');
  const notFound = new EnrichmentError(`No upload ${uploadId} at ${input.key} for your API key`, { kind: 'not_found' });
  const ownKey = new RegExp(`^${prefixOf(deps.owner)}[0-9a-f-]{36}\\.(json|ndjson|csv)$`);
  if (!ownKey.test(input.key)) throw notFound;

  const done = await deps.uploads.complete(input.key, uploadId, input.parts);
  if (!done.ok && done.reason === 'missing') throw notFound;
  if (!done.ok) throw new ValidationError('Invalid request', [{ path: 'parts', message: done.message }]);

  const size = await deps.uploads.size(input.key);
  if (size === undefined) throw notFound;
  if (size > deps.maxBytes) {
    await deps.uploads.delete(input.key);
    throw tooLarge(size, deps.maxBytes);
  }
  return { reference: `s3://${deps.uploads.bucket}/${input.key}`, size };
}
