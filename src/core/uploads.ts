import { randomUUID } from 'node:crypto';
import { EnrichmentError, type FieldError, ValidationError } from './errors';
import type { Clock, UploadRecord, UploadRecords, UploadStore, UploadedPart } from './ports';
import { uploadPrefixOf } from './owner';
import { parseOrThrow } from './validation';
import { resultTtlSeconds } from './status';
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
  /** The server's record of each upload (key, owner, declared size and part count, state). */
  records: UploadRecords;
  clock: Clock;
  /** The caller (src/core/owner.ts); undefined on a stage without API keys (uploads are then unowned). */
  owner?: string;
  maxBytes: number;
  urlTtlSeconds: number;
  /** How long an upload record is kept (the table's TTL), as the bucket keeps the object. */
  ttlDays: number;
  /** Offline only (RESULT_TTL_MINUTES): minutes instead of ttlDays. */
  ttlMinutes?: number;
  /** How long a complete waits for a concurrent one of the same upload to finish before answering 409. */
  completeWaitMs?: number;
}

/** A claim older than this belongs to a complete that is no longer running (HTTP functions stop at 29 s). */
export const CLAIM_STALE_MS = 60_000;
const POLL_MS = 200;

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

  // The record binds the upload id to its key and owner and keeps what was declared (an upload left without one,
  // if this write fails, is never completed: the bucket's lifecycle rule aborts it).
  const count = Math.ceil(input.size / PART_SIZE);
  const now = deps.clock.now();
  await deps.records.create({
    uploadId,
    key,
    owner: deps.owner,
    size: input.size,
    parts: count,
    format: input.format,
    createdAt: now.toISOString(),
    expiresAt: Math.floor(now.getTime() / 1000) + resultTtlSeconds(deps),
    state: 'open',
  });
  const parts = await Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      partNumber: i + 1,
      url: await deps.uploads.presignPart(key, uploadId, i + 1, deps.urlTtlSeconds),
    })),
  );
  const expiresAt = new Date(now.getTime() + deps.urlTtlSeconds * 1000).toISOString();
  return { uploadId, key, reference: `s3://${deps.uploads.bucket}/${key}`, partSize: PART_SIZE, parts, expiresAt };
}

const count = new Intl.NumberFormat('en-US');

/** "2", "2 and 5", "2, 3, 4, 5, 6 and 7 more". */
function listed(numbers: number[]): string {
  if (numbers.length === 1) return String(numbers[0]);
  if (numbers.length > 6) return `${numbers.slice(0, 5).join(', ')} and ${numbers.length - 5} more`;
  return `${numbers.slice(0, -1).join(', ')} and ${numbers.at(-1)}`;
}

/** The part numbers must be exactly 1..N, N the count createUpload handed out; undefined when they are. */
function partsError(expected: number, parts: UploadedPart[]): FieldError | undefined {
  const given = new Set(parts.map((p) => p.partNumber));
  const missing = Array.from({ length: expected }, (_, i) => i + 1).filter((n) => !given.has(n));
  const extra = [...given].filter((n) => n > expected);
  if (!missing.length && !extra.length) return undefined;
  const phrase = (numbers: number[], one: string, many: string) =>
    numbers.length === 1 ? [`part ${numbers[0]} ${one}`] : numbers.length ? [`parts ${listed(numbers)} ${many}`] : [];
  const problems = [
    ...phrase(missing, 'is missing', 'are missing'),
    ...phrase(extra, 'is not one of them', 'are not among them'),
  ];
  const rule = expected === 1 ? 'parts must be part 1 alone' : `parts must be 1..${expected}, each once`;
  return { path: 'parts', message: `${rule}: ${problems.join('; ')}` };
}

const sizeError = (size: number, declared: number): FieldError => ({
  path: 'size',
  message: `the upload holds ${count.format(size)} bytes but ${count.format(declared)} were declared`,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POST /enrichment/uploads/{uploadId}/complete. */
export async function completeUpload(
  uploadIdParam: unknown,
  body: unknown,
  deps: UploadDeps,
): Promise<{ reference: string; size: number }> {
  // 1. Only the caller's own upload, at the key it was started at: the server's record decides (404 otherwise,
  //    before S3 is asked anything).
  // 2. The parts must be exactly the 1..N handed out: a 400 naming the missing and extra ones, the upload left open.
  // 3. One complete at a time: a conditional update claims the record (open → completing); a concurrent complete
  //    waits for its outcome, a retry of a finished one gets the same answer.
  // 4. Complete the multipart upload (S3 checks each ETag), then the object's size: over the maximum, or not
  //    exactly the declared size, and it is deleted (400).
  const uploadId = parseOrThrow(UploadIdSchema, uploadIdParam, 'Invalid upload id', ['uploadId']);
  const input = parseOrThrow(CompleteUploadRequestSchema, body, 'Invalid request');
  const notFound = new EnrichmentError(`No upload ${uploadId} at ${input.key} for your API key`, { kind: 'not_found' });
  const ownKey = new RegExp(`^${prefixOf(deps.owner)}[0-9a-f-]{36}\\.(json|ndjson|csv)$`);
  if (!ownKey.test(input.key)) throw notFound;

  let record = await deps.records.get(uploadId);
  if (!record || record.owner !== deps.owner || record.key !== input.key) throw notFound;
  const wrongParts = partsError(record.parts, input.parts);
  if (wrongParts) throw new ValidationError('Invalid request', [wrongParts]);

  const reference = `s3://${deps.uploads.bucket}/${input.key}`;
  const waitUntil = Date.now() + (deps.completeWaitMs ?? 10_000);
  for (;;) {
    if (record.state === 'completed') {
      // A retry of a completed upload (as S3 answers one): the same answer while the object is there.
      const size = await deps.uploads.size(input.key);
      if (size !== record.size) throw notFound;
      return { reference, size };
    }
    if (record.state === 'rejected') throw new ValidationError('Invalid request', record.errors ?? []);
    const now = deps.clock.now();
    const staleBefore = new Date(now.getTime() - CLAIM_STALE_MS).toISOString();
    if (await deps.records.claim(uploadId, now.toISOString(), staleBefore)) {
      return assemble(record, now.toISOString(), input.parts, reference, deps, notFound);
    }
    // Another complete holds it: wait for its outcome.
    if (Date.now() >= waitUntil) {
      throw new EnrichmentError(`Upload ${uploadId} is being completed by another call: retry in a few seconds`, {
        kind: 'duplicate_in_progress',
      });
    }
    await sleep(POLL_MS);
    const current = await deps.records.get(uploadId);
    if (!current) throw notFound;
    record = current;
  }
}

/** The claimed upload: complete it on S3 and check what it holds. */
async function assemble(
  record: UploadRecord,
  claimedAt: string,
  parts: UploadedPart[],
  reference: string,
  deps: UploadDeps,
  notFound: EnrichmentError,
): Promise<{ reference: string; size: number }> {
  const { uploadId, key } = record;
  const reject = async (error: FieldError) => {
    await deps.uploads.delete(key);
    await deps.records.finish(uploadId, claimedAt, { state: 'rejected', errors: [error] });
    return new ValidationError('Invalid request', [error]);
  };
  let done: Awaited<ReturnType<UploadStore['complete']>>;
  let size: number | undefined;
  try {
    done = await deps.uploads.complete(key, uploadId, parts);
    // `missing` with the object there: an earlier complete assembled it and stopped before recording it.
    if (done.ok || done.reason === 'missing') size = await deps.uploads.size(key);
  } catch (err) {
    await deps.records.release(uploadId, claimedAt);
    throw err;
  }
  if (size === undefined) {
    // Nothing assembled: S3 refused the parts (an ETag that does not match: the upload stays open for a complete
    // with the right ones), or the upload is gone (aborted by the bucket's lifecycle rule).
    await deps.records.release(uploadId, claimedAt);
    if (!done.ok && done.reason === 'invalid') {
      throw new ValidationError('Invalid request', [{ path: 'parts', message: done.message }]);
    }
    throw notFound;
  }
  if (size > deps.maxBytes) throw await reject(tooLarge(size, deps.maxBytes).errors[0]);
  if (size !== record.size) throw await reject(sizeError(size, record.size));
  await deps.records.finish(uploadId, claimedAt, { state: 'completed' });
  return { reference, size };
}
