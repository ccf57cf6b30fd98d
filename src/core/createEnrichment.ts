import { createHash, randomUUID } from 'node:crypto';
import type { Contact, EnrichField } from '../schemas/contact';
import {
  DedupeSchema,
  RefreshSchema,
  FieldsSchema,
  IdempotencyKeySchema,
  MAX_S3_KEY_BYTES,
  MetadataSchema,
  type Metadata,
  S3ReferenceSchema,
} from '../schemas/request';
import type { BatchMessage } from '../schemas/message';
import { quoteInput } from '../schemas/text';
import type { StatusRecord } from '../schemas/status';
import { chunk } from './batching';
import { canonicalJson, claimOrFindDuplicate, dedupKey, requestHash, sha256 } from './dedup';
import { ValidationError, type FieldError } from './errors';
import { formatOf, renderInput, type InputFormat } from './inputFile';
import { placeholderOutput } from './output';
import {
  noTracer,
  type Logger,
  type BatchQueue,
  type Clock,
  type DedupClaim,
  type IntakeQueue,
  type Metrics,
  type ObjectInfo,
  type ObjectStore,
  type StatusStore,
  type Tracer,
  type WebhookSecretStore,
} from './ports';
import type { WebhookRecord } from '../schemas/webhook';
import { callbackUrlProblem, type CallbackRules } from './webhookUrl';
import { ensureWebhookSecrets, secretOwner } from './webhookSecrets';
import { uploadPrefixOf } from './owner';
import { countsKnown, keys, resultTtlSeconds } from './status';
import { checkContact, toFieldErrors, validationFailed } from './validation';

export interface CreateDeps {
  store: ObjectStore;
  status: StatusStore;
  queue: BatchQueue;
  /** Where a referenced upload's intake is queued (src/core/intake.ts). */
  intakeQueue?: IntakeQueue;
  clock: Clock;
  log: Logger;
  /** Custom metrics: none when unset. */
  metrics?: Metrics;
  bucket: string;
  batchSize: number;
  deadlineSeconds: number;
  ttlDays: number;
  /** Offline only (RESULT_TTL_MINUTES): minutes instead of ttlDays. */
  ttlMinutes?: number;
  newId?: () => string;
  /** The caller (src/core/owner.ts): it owns the request, and may only reference its own uploads. */
  owner?: string;
  /** Dedup timing (core/dedup.ts defaults); tests shorten them. */
  dedupLeaseMs?: number;
  dedupWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** The `enrichment.create` span: none when unset. */
  tracer?: Tracer;
  /** Where a callbackUrl may point (SSRF rules); unset: a callbackUrl is refused (no webhooks wired). */
  callbackRules?: CallbackRules;
  /** The owners' webhook signing secrets: made on a callbackUrl's first use. */
  webhookSecrets?: WebhookSecretStore;
  /** The download link of a request as the create call answers it (the webhook event repeats it). */
  downloadUrlOf?: (requestId: string) => string;
}

/** Who asks, as the handler read it from the request's headers. */
export interface CreateCaller {
  /** SHA-256 of the caller's API key: dedup never crosses callers. '' when the call carried none. */
  callerHash?: string;
  /** The `Idempotency-Key` header as sent, not yet validated. */
  idempotencyKey?: string;
}

export interface CreateResult {
  requestId: string;
  /** Unknown for a referenced upload until its intake has counted it (status `validating`). */
  totalContacts?: number;
  totalBatches?: number;
  /** Set for a referenced upload, taken in asynchronously (its totals unknown yet); inline requests leave it out. */
  status?: 'validating';
  /** Set when the request repeats one accepted before: nothing was done, these are the original's. */
  duplicate?: { status: StatusRecord['status'] };
}

/** Validates contacts one by one so that every error carries its `contacts[i].field` path. */
function validateContacts(items: Iterable<unknown>, errors: FieldError[]): Contact[] {
  const contacts: Contact[] = [];
  let index = 0;
  for (const item of items) {
    const { contact, errors: found } = checkContact(item, index);
    if (contact) contacts.push(contact);
    else errors.push(...found);
    index += 1;
  }
  return contacts;
}

interface CheckedReference {
  key: string;
  format: InputFormat;
  info: ObjectInfo;
}

/** The reference's bucket, prefix and owner, then HeadObject (the body is not read here: the intake reads it). */
async function checkReference(ref: string, deps: CreateDeps): Promise<CheckedReference> {
  let key = ref;
  if (ref.startsWith('s3://')) {
    const [bucket, ...rest] = ref.slice('s3://'.length).split('/');
    if (bucket !== deps.bucket) {
      throw new ValidationError('Invalid request', [
        { path: 'contacts', message: `S3 references must point into the service bucket "${deps.bucket}"` },
      ]);
    }
    key = rest.join('/');
  }
  if (!key.startsWith('uploads/')) {
    throw new ValidationError('Invalid request', [
      { path: 'contacts', message: 'S3 references must be under "uploads/"' },
    ]);
  }
  // Only the caller's own uploads, checked before S3 is asked: another key's upload is neither used nor probed.
  if (deps.owner && !key.startsWith(uploadPrefixOf(deps.owner))) {
    throw new ValidationError('Invalid request', [
      {
        path: 'contacts',
        message: `S3 references must be under "${uploadPrefixOf(deps.owner)}", the uploads of your API key (see docs/large-datasets.md)`,
      },
    ]);
  }
  if (Buffer.byteLength(key) > MAX_S3_KEY_BYTES) {
    throw new ValidationError('Invalid request', [
      { path: 'contacts', message: `the S3 key is too long (S3 keys are at most ${MAX_S3_KEY_BYTES} bytes)` },
    ]);
  }
  if (!deps.store.head) throw new Error('this object store cannot read object metadata');
  const info = await deps.store.head(key);
  if (!info)
    throw new ValidationError('Invalid request', [{ path: 'contacts', message: `no object at ${quoteInput(key)}` }]);
  if (info.size === 0)
    throw new ValidationError('Invalid request', [{ path: 'contacts', message: `${quoteInput(key)} is empty` }]);
  const format = formatOf(key, info.contentType);
  if (!format) {
    throw new ValidationError('Invalid request', [
      {
        path: 'contacts',
        message: `cannot tell the format of ${quoteInput(key)}: upload it with a content type (application/json, application/x-ndjson, text/csv) or a key ending in .json, .ndjson, .jsonl or .csv`,
      },
    ]);
  }
  return { key, format, info };
}

/**
 * SHA-256 of the work a referenced request asks for: the upload (its key, ETag and size: uploads are
 * immutable objects under server-chosen keys) and the fields, sorted.
 */
function referenceHash(ref: CheckedReference, fields: readonly EnrichField[]): string {
  return createHash('sha256')
    .update(
      canonicalJson({
        upload: { key: ref.key, etag: ref.info.etag, size: ref.info.size },
        fields_to_enrich: [...fields].sort(),
      }),
    )
    .digest('hex');
}

/** Why a callbackUrl is refused (a 400), if it is: not a string, or against the SSRF rules (src/core/webhookUrl.ts). */
function checkCallbackUrl(raw: unknown, deps: CreateDeps): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') return 'callbackUrl must be a URL string';
  if (!deps.callbackRules || !deps.webhookSecrets) return 'webhooks are not available on this service';
  return callbackUrlProblem(raw, deps.callbackRules);
}

/** A new request's webhook: pending until the request is final. */
const newWebhook = (url: string, requestId: string, deps: CreateDeps): WebhookRecord => ({
  url,
  downloadUrl: deps.downloadUrlOf?.(requestId) ?? `/enrichment/${requestId}/download`,
  state: 'pending',
  attempts: 0,
});

/** Creates a request (acceptRequest) and counts what it ended as: accepted by input, a duplicate, or rejected for its content (a 400). */
export async function createEnrichment(
  body: unknown,
  deps: CreateDeps,
  caller: CreateCaller = {},
): Promise<CreateResult> {
  return (deps.tracer ?? noTracer).span('enrichment.create', {}, async (span) => {
    try {
      const result = await acceptRequest(body, deps, caller);
      span.setTag('enrichment.request_id', result.requestId);
      span.setTag('enrichment.status', result.duplicate ? 'duplicate' : (result.status ?? 'processing'));
      if (result.totalBatches !== undefined) span.setTag('enrichment.total_batches', result.totalBatches);
      if (result.duplicate) {
        deps.metrics?.emit('requestDuplicate', 1);
      } else if (result.status === 'validating') {
        deps.metrics?.emit('requestAccepted', 1, { input: 'upload' });
      } else {
        deps.metrics?.emit('requestAccepted', 1, { input: 'inline' });
        deps.metrics?.emit('requestContacts', result.totalContacts ?? 0, { input: 'inline' });
      }
      return result;
    } catch (err) {
      if (err instanceof ValidationError) deps.metrics?.emit('requestRejected', 1, { reason: 'invalid_request' });
      throw err;
    }
  });
}

async function acceptRequest(body: unknown, deps: CreateDeps, caller: CreateCaller): Promise<CreateResult> {
  // 1. Validate the request (inline contacts or an S3 reference, the Idempotency-Key, `dedupe`, `metadata`, a
  //    callbackUrl against the SSRF rules); nothing is written before this passes.
  // 2. Dedup (unless `"dedupe": false` without an Idempotency-Key): claim the key with a conditional write
  //    before anything else; a repeat answers with the request that holds it and does nothing more.
  //    An upload reference is checked (bucket, prefix, owner, HeadObject: the body is not read) and, after
  //    dedup, accepted as `validating` with one message to the intake queue (acceptReference): the intake
  //    function validates and sends it (src/core/intake.ts). Steps 3 to 5 are for inline contacts.
  // 3. Store input.json and the placeholder output.json.
  // 4. Put the status item (processing, counts at zero; with a callbackUrl, its webhook `pending`, and the owner's
  //    signing secret made first if it has none). Should step 3 or 4 fail, the claim is released.
  // 5. Send one SQS message per batch of contacts. From step 3 on the request is durable: should the send
  //    fail, reconcile re-sends the missing batches from input.json once the request stalls
  //    (RECONCILE_STALL_SECONDS), so the client still gets its 202 and the request finishes by itself.
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('Request body must be a JSON object with "contacts" and "fields_to_enrich"');
  }
  const {
    contacts: rawContacts,
    fields_to_enrich: rawFields,
    dedupe: rawDedupe,
    refresh: rawRefresh,
    callbackUrl: rawCallbackUrl,
    metadata: rawMetadata,
  } = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  const fieldsParsed = FieldsSchema.safeParse(rawFields);
  if (!fieldsParsed.success) errors.push(...toFieldErrors(fieldsParsed.error, ['fields_to_enrich']));
  const dedupeParsed = DedupeSchema.safeParse(rawDedupe);
  if (!dedupeParsed.success) errors.push(...toFieldErrors(dedupeParsed.error, ['dedupe']));
  const refreshParsed = RefreshSchema.safeParse(rawRefresh);
  if (!refreshParsed.success) errors.push(...toFieldErrors(refreshParsed.error, ['refresh']));
  const metadataParsed = MetadataSchema.safeParse(rawMetadata);
  if (!metadataParsed.success) errors.push(...toFieldErrors(metadataParsed.error, ['metadata']));
  const keyParsed =
    caller.idempotencyKey === undefined ? undefined : IdempotencyKeySchema.safeParse(caller.idempotencyKey);
  if (keyParsed && !keyParsed.success)
    errors.push({ path: 'Idempotency-Key (header)', message: keyParsed.error.issues[0].message });
  const callbackProblem = checkCallbackUrl(rawCallbackUrl, deps);
  if (callbackProblem) errors.push({ path: 'callbackUrl', message: callbackProblem });
  const callbackUrl = rawCallbackUrl === undefined ? undefined : String(rawCallbackUrl);

  let contacts: Contact[] = [];
  let reference: CheckedReference | undefined;
  if (Array.isArray(rawContacts)) {
    if (rawContacts.length === 0) errors.push({ path: 'contacts', message: 'contacts must not be empty' });
    contacts = validateContacts(rawContacts, errors);
  } else if (typeof rawContacts === 'string') {
    const ref = S3ReferenceSchema.safeParse(rawContacts);
    if (!ref.success) throw validationFailed([...errors, ...toFieldErrors(ref.error, ['contacts'])]);
    if (errors.length) throw validationFailed(errors);
    reference = await checkReference(ref.data, deps);
  } else {
    errors.push({
      path: 'contacts',
      message: 'contacts must be an array of contacts or an S3 reference "s3://<bucket>/uploads/<key>"',
    });
  }
  if (errors.length || !fieldsParsed.success) throw validationFailed(errors);
  const fields: EnrichField[] = fieldsParsed.data;
  const refresh = refreshParsed.success && refreshParsed.data === true;
  // Stored only when it holds a pair: `{}` is no metadata.
  const metadata: Metadata | undefined =
    metadataParsed.success && metadataParsed.data && Object.keys(metadataParsed.data).length
      ? metadataParsed.data
      : undefined;

  const requestId = (deps.newId ?? randomUUID)();
  const now = deps.clock.now();
  const batches = chunk(contacts, deps.batchSize);
  const log = deps.log.child({ requestId });
  const expiresAt = Math.floor(now.getTime() / 1000) + resultTtlSeconds(deps);

  // With an Idempotency-Key, dedup applies even with "dedupe": false: the key is the client's own retry guard.
  const idempotencyKey = keyParsed?.success ? keyParsed.data : undefined;
  let claim: DedupClaim | undefined;
  if (idempotencyKey !== undefined || dedupeParsed.data !== false) {
    const workHash = reference ? referenceHash(reference, fields) : requestHash(contacts, fields);
    // A refresh is other work than a plain request of the same contacts: neither is a duplicate of the other.
    // So is the same work under other metadata (the caller's labels tell two jobs apart).
    const bodyHash =
      refresh || metadata
        ? sha256(
            canonicalJson({ body: workHash, ...(refresh ? { refresh: true } : {}), ...(metadata ? { metadata } : {}) }),
          )
        : workHash;
    const key = dedupKey(caller.callerHash ?? '', bodyHash, idempotencyKey);
    const outcome = await claimOrFindDuplicate(
      { key, requestId, bodyHash, expiresAt },
      {
        status: deps.status,
        clock: deps.clock,
        leaseMs: deps.dedupLeaseMs,
        waitMs: deps.dedupWaitMs,
        sleep: deps.sleep,
      },
    );
    if ('duplicate' in outcome) {
      const original = outcome.duplicate;
      deps.log.info('duplicate request: answered with the original', {
        requestId: original.requestId,
        byIdempotencyKey: idempotencyKey !== undefined,
      });
      return {
        requestId: original.requestId,
        ...(countsKnown(original)
          ? { totalContacts: original.totalContacts, totalBatches: original.totalBatches }
          : {}),
        duplicate: { status: original.status },
      };
    }
    claim = outcome.claimed;
  }
  const webhook = callbackUrl === undefined ? undefined : newWebhook(callbackUrl, requestId, deps);
  if (reference)
    return acceptReference(
      reference,
      fields,
      { requestId, now, expiresAt, claim, log, refresh, webhook, metadata },
      deps,
    );

  const record: StatusRecord = {
    requestId,
    ...(deps.owner ? { owner: deps.owner } : {}),
    status: 'processing',
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    totalContacts: contacts.length,
    totalBatches: batches.length,
    batchSize: deps.batchSize,
    processedBatches: 0,
    failedBatches: 0,
    fields,
    inputFileKey: keys.input(requestId),
    outputFileKey: keys.output(requestId),
    deadlineAt: new Date(now.getTime() + deps.deadlineSeconds * 1000).toISOString(),
    expiresAt,
    ...(refresh ? { refresh: true as const } : {}),
    ...(webhook ? { webhook } : {}),
    ...(metadata ? { metadata } : {}),
  };
  try {
    if (webhook)
      await ensureWebhookSecrets(secretOwner(deps.owner), { secrets: deps.webhookSecrets!, clock: deps.clock });
    await deps.store.upload(keys.input(requestId), renderInput(contacts, fields), 'application/json');
    await deps.store.putJson(keys.output(requestId), placeholderOutput(requestId));
    await deps.status.create(record);
  } catch (err) {
    // No request exists: free its key at once, so the client's retry is not taken for a duplicate of it.
    if (claim) {
      await deps.status
        .releaseDedup(claim)
        .catch((releaseErr) =>
          log.warn('releasing the dedup claim failed; it frees itself after its lease', { err: releaseErr }),
        );
    }
    throw err;
  }

  const messages: BatchMessage[] = batches.map((batch, batchIndex) => ({
    requestId,
    batchIndex,
    fields,
    contacts: batch,
  }));
  try {
    await deps.queue.send(messages);
  } catch (err) {
    log.error('sending the batch messages failed; reconcile will re-send them from input.json', {
      err,
      totalBatches: batches.length,
    });
  }
  log.info('request accepted', { totalContacts: contacts.length, totalBatches: batches.length, fields });
  return { requestId, totalContacts: contacts.length, totalBatches: batches.length };
}

/**
 * A referenced upload: the status item `validating` (totals unknown, the intake's checkpoint at its start,
 * the upload as the request's input) and one message to the intake queue. No output yet: the intake writes the
 * placeholder when the upload passes validation, so a rejected request has none.
 * Should the message not go out, the request ends `rejected` at once and its dedup claim is freed.
 */
async function acceptReference(
  reference: CheckedReference,
  fields: EnrichField[],
  ctx: {
    requestId: string;
    now: Date;
    expiresAt: number;
    claim?: DedupClaim;
    log: Logger;
    refresh: boolean;
    webhook?: WebhookRecord;
    metadata?: Metadata;
  },
  deps: CreateDeps,
): Promise<CreateResult> {
  const { requestId, now, claim, log } = ctx;
  if (!deps.intakeQueue) throw new Error('no intake queue is wired');
  const release = async () => {
    if (claim)
      await deps.status
        .releaseDedup(claim)
        .catch((err) => log.warn('releasing the dedup claim failed; it frees itself after its lease', { err }));
  };
  const record: StatusRecord = {
    requestId,
    ...(deps.owner ? { owner: deps.owner } : {}),
    status: 'validating',
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    totalContacts: 0,
    totalBatches: 0,
    batchSize: deps.batchSize,
    processedBatches: 0,
    failedBatches: 0,
    fields,
    inputFileKey: reference.key,
    inputFormat: reference.format,
    outputFileKey: keys.output(requestId),
    deadlineAt: new Date(now.getTime() + deps.deadlineSeconds * 1000).toISOString(),
    expiresAt: ctx.expiresAt,
    ...(ctx.refresh ? { refresh: true as const } : {}),
    ...(ctx.webhook ? { webhook: ctx.webhook } : {}),
    ...(ctx.metadata ? { metadata: ctx.metadata } : {}),
    intake: { phase: 'validate', contactsValidated: 0, batchesSent: 0, runs: 0 },
  };
  try {
    if (ctx.webhook)
      await ensureWebhookSecrets(secretOwner(deps.owner), { secrets: deps.webhookSecrets!, clock: deps.clock });
    await deps.status.create(record);
  } catch (err) {
    await release();
    throw err;
  }
  try {
    await deps.intakeQueue.send({ requestId });
  } catch (err) {
    log.error('queueing the intake failed: request rejected', { err });
    await deps.status
      .abandon(
        record,
        [{ path: 'contacts', message: 'the upload could not be queued for validation: submit it again' }],
        deps.clock.now().toISOString(),
      )
      .catch((abandonErr) => log.error('ending the request failed: it stays validating', { err: abandonErr }));
    await release();
    throw err;
  }
  log.info('upload accepted for intake', {
    key: reference.key,
    format: reference.format,
    bytes: reference.info.size,
    fields,
  });
  return { requestId, status: 'validating' };
}
