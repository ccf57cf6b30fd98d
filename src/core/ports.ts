import type { Readable } from 'node:stream';
import type { BatchMessage } from '../schemas/message';
import type { AssemblyMessage, IntakeMessage } from '../schemas/message';
import type { IntakeCheckpoint, RequestStatus, StatusRecord, Usage, UsageCounts } from '../schemas/status';
import type { FieldError } from './errors';
import type { Contact, EnrichField } from '../schemas/contact';
import type { MetricKey } from './metricNames';
import type { EnrichmentResult, FoundResult, OutputCounts } from './output';
import type { WebhookMessage, WebhookState } from '../schemas/webhook';
import type { WebhookSecrets } from './webhookSigning';

/** The ports the use cases need; src/adapters implements them on S3, DynamoDB, SQS and the enrichment API's HTTP. */
export interface ObjectStore {
  /** Small JSON documents (batch results, the placeholder output). Overwrites. */
  putJson(key: string, value: unknown): Promise<void>;
  /** A body of any size, streamed through a multipart upload. Overwrites. */
  upload(key: string, body: AsyncIterable<string | Buffer> | Readable, contentType?: string): Promise<void>;
  /** undefined when the object does not exist. */
  getJson<T>(key: string): Promise<T | undefined>;
  /** undefined when the object does not exist. */
  getStream(key: string): Promise<Readable | undefined>;
  listKeys(prefix: string): Promise<string[]>;
  /**
   * An object's metadata without its body (HeadObject); undefined when it does not exist. Optional: only
   * the create function uses it (stand-in stores of the bench leave it out).
   */
  head?(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Deletes these objects (missing ones are no error), in calls of at most 1,000 keys. Optional: a store without it
   * keeps them until the bucket's lifecycle rule expires them (stand-in stores of the bench and the unit tests).
   */
  deleteKeys?(keys: readonly string[]): Promise<void>;
}

export interface ObjectInfo {
  size: number;
  etag: string;
  contentType?: string;
}

export type BatchOutcome = 'processed' | 'failed';

/** A shard of a request's batches (src/core/shards.ts): what its item holds. */
export interface ShardState {
  requestId: string;
  shard: number;
  /** Batches the shard covers: it is full when `done` reaches it. */
  size: number;
  done: number;
  processed: number;
  failed: number;
  /** The running usage of the batches recorded on it (only when some was recorded with usage). */
  usage?: UsageCounts;
}

export interface RecordBatchResult {
  /** false when this batch had been recorded before (redelivery): nothing was counted. */
  recorded: boolean;
  /** The batch's shard after the update (read consistently after a duplicate). */
  shard: ShardState;
}

/** What recording a batch needs of its request's status item (both fixed at creation). */
export interface RequestRef {
  totalBatches: number;
  expiresAt: number;
}

/** The worker's look-up before a batch: the status item as stored (unsummed) and the batch's shard. */
export interface BatchLookup {
  record: StatusRecord;
  batchDone: boolean;
  shard: ShardState;
}

/**
 * The dedup item of a request (`dedup#<sha256>` in the status table): which request holds the key, and
 * the hash of the body it was made with. Written before anything else of the request.
 */
export interface DedupClaim {
  key: string;
  requestId: string;
  bodyHash: string;
  claimedAt: string;
  /** Epoch seconds, as the status item's: the table's TTL removes both together. */
  expiresAt: number;
  /** Set by a request that failed before its status item was written: the key is free to take over. */
  released?: boolean;
}

export type ClaimResult = { claimed: true } | { claimed: false; current: DedupClaim | undefined };

export interface StatusStore {
  create(record: StatusRecord): Promise<void>;
  /**
   * Puts the dedup item with one conditional write: only if no live item holds the key (none, or one past
   * its expiresAt), or, with `replaces`, only if the item still names that request (a takeover). On a lost
   * race, the item in the way (read consistently; undefined if it vanished meanwhile).
   */
  claimDedup(claim: DedupClaim, replaces?: string): Promise<ClaimResult>;
  /** Marks the claim released, if it is still this request's: a retry may take the key over at once. */
  releaseDedup(claim: DedupClaim): Promise<void>;
  /**
   * The request read consistently, counts and updatedAt including the shards not yet promoted: processedBatches
   * and failedBatches are the batches recorded so far, updatedAt the latest record.
   */
  get(requestId: string): Promise<StatusRecord | undefined>;
  /**
   * Counts a batch exactly once, with a single conditional update of its shard item. Without `request` the
   * status item is read first (consistently). `usage`, when given, is added to the shard's running usage in the same
   * update (so also exactly once). undefined for an unknown request.
   */
  recordBatch(
    requestId: string,
    batchIndex: number,
    outcome: BatchOutcome,
    now: string,
    request?: RequestRef,
    usage?: UsageCounts,
  ): Promise<RecordBatchResult | undefined>;
  /**
   * Counts several batches of one shard (distinct indexes) with a single conditional update: their offsets, counts
   * and usage together, only if none of them was counted before. recorded: false when one was (a redelivery): then
   * nothing was counted, and each is recorded alone with recordBatch, which stays what counts a batch exactly once.
   * With `groupId`, the same update notes that their results are stored together, in keys.batchGroup(groupId)
   * (storedTogether). Optional: a store without it has every batch recorded alone.
   */
  recordBatches?(
    requestId: string,
    shard: number,
    batches: readonly { batchIndex: number; outcome: BatchOutcome; usage?: UsageCounts }[],
    now: string,
    request: RequestRef,
    groupId?: string,
  ): Promise<{ recorded: true; shard: ShardState } | { recorded: false }>;
  /**
   * The batches whose results are stored together (recordBatches with a groupId), read consistently: batch index →
   * group id. A batch not in it has its result under its own key. Optional along with recordBatches.
   */
  storedTogether?(record: StatusRecord): Promise<Map<number, string>>;
  /**
   * Adds a full shard's counts (and its running usage) to the status item, once (its number joins a set there). complete: the request
   * is processing and every batch is counted on the status item (whether this call or an earlier one did it).
   * undefined for an unknown request.
   */
  promoteShard(shard: ShardState, now: string): Promise<{ complete: boolean } | undefined>;
  /** The status item (unsummed) and the batch's shard, in one eventually consistent read. */
  lookupBatch(requestId: string, batchIndex: number): Promise<BatchLookup | undefined>;
  /** The batches recorded so far (all shards, read consistently). */
  doneBatches(record: StatusRecord): Promise<Set<number>>;
  /**
   * Moves a processing request to its final status, with the batch counts summed from its shards and the
   * promoted-shard set removed (the final item has a constant size), and `usage` (the assembly's exact count, which
   * replaces the running one) when given. A request whose cancel was asked for ends `cancelled`, whatever `status`
   * says (a cancel that came after the caller read it). false when another caller already did.
   */
  finalize(
    requestId: string,
    status: RequestStatus,
    counts: OutputCounts,
    now: string,
    usage?: Usage,
  ): Promise<boolean>;
  /**
   * Marks a running request (`validating` or `processing`) cancelled by its caller: sets `cancelRequestedAt` with one
   * conditional write, only if it is running and not marked yet. false when it was not (final, or marked before).
   */
  requestCancel(requestId: string, now: string): Promise<boolean>;
  /** Notes that reconcile looked at a request, so that it is not re-driven again before the next stall. */
  touch(requestId: string, now: string): Promise<void>;
  listProcessing(): AsyncIterable<StatusRecord>;
  /**
   * The intake's progress on a `validating` request (its checkpoint, and the totals once counted).
   * false when the request is no longer validating (nothing written).
   */
  saveIntake(requestId: string, update: IntakeUpdate, now: string): Promise<boolean>;
  /** validating → rejected with its errors. false when the request is no longer validating. */
  reject(requestId: string, errors: FieldError[], now: string): Promise<boolean>;
  /**
   * validating → rejected with a single PutItem of the whole record (the create function, whose role writes
   * items but does not update them, when the intake message could not be queued). false when no longer validating.
   */
  abandon(record: StatusRecord, errors: FieldError[], now: string): Promise<boolean>;
  /**
   * validating → processing (the checkpoint removed), with whether every batch was already counted on the status
   * item at that moment (then no worker will finish the request: the caller must). undefined when the request is
   * no longer validating.
   */
  startProcessing(requestId: string, now: string): Promise<{ complete: boolean } | undefined>;
}

/** One page of an owner's requests (RequestHistory.listOwned). */
export interface OwnedPage {
  /** Newest first, at most `limit`; processing ones with their counts summed as StatusStore.get sums them. */
  records: StatusRecord[];
  /** Where the next page starts (the index position of the last request read); unset on the last page. */
  next?: string;
}

/**
 * The requests of an owner, newest first, from the status table's sparse owner index (only request items carry its
 * keys), and what is left of a request once its status item is gone (its tombstone).
 */
export interface RequestHistory {
  /**
   * Requests of `owner` (undefined: those made without an API key) not expired at `now`, after `after` (a `next`
   * handed out before), with `status` only when given. A page may hold fewer than `limit` and still have a `next`
   * when a status filter skipped many requests (each call reads a bounded number).
   */
  listOwned(
    owner: string | undefined,
    query: { limit: number; status?: RequestStatus; after?: string; now: Date },
  ): Promise<OwnedPage>;
  /** The tombstone a request leaves for after its status item is gone: whose it was and when it expired. */
  tombstone(requestId: string): Promise<{ owner?: string; expiresAt: number } | undefined>;
}

export interface IntakeUpdate {
  intake: IntakeCheckpoint;
  totalContacts?: number;
  totalBatches?: number;
}

/** The intake function's queue: one message starts (or continues) the intake of a request. */
export interface IntakeQueue {
  send(message: IntakeMessage): Promise<void>;
}

/** The assembleOutput function's queue: one message asks for one request's assembly. */
export interface AssemblyQueue {
  send(message: AssemblyMessage): Promise<void>;
}

/** The webhook delivery function's queue (src/core/webhooks.ts), and its dead-letter queue for events given up. */
export interface WebhookQueue {
  /** `delaySeconds` (0..900): the message becomes visible only then. */
  send(message: WebhookMessage, opts?: { delaySeconds?: number }): Promise<void>;
  /** Puts an event whose attempts are all spent on the dead-letter queue (the monitor's signal). */
  deadLetter(message: WebhookMessage): Promise<void>;
}

/** How one attempt ended (src/adapters/webhookHttp.ts): an HTTP answer, or none. */
export type WebhookAttemptResult =
  | { kind: 'answered'; statusCode: number; retryAfterMs?: number }
  | { kind: 'timeout' }
  | { kind: 'network'; reason: string }
  /** Not sent: the URL or an address its name resolved to is not allowed (SSRF rules). */
  | { kind: 'refused'; reason: string };

/** POSTs one signed event: no redirect followed, at most a few KB of the answer read. Never throws. */
export interface WebhookSender {
  post(url: string, headers: Record<string, string>, body: string): Promise<WebhookAttemptResult>;
}

/** The outcome of an attempt as the status item keeps it. */
export interface WebhookAttemptRecord {
  state: Extract<WebhookState, 'retrying' | 'delivered' | 'failed'>;
  lastStatusCode?: number;
  deliveredAt?: string;
  reason?: string;
}

/**
 * The `webhook` map of a status item (src/adapters/webhookDeliveries.ts): single conditional UpdateItems, never a read.
 */
export interface WebhookDeliveries {
  /** pending → queued. false when it was not pending (queued before: nothing written). */
  markQueued(requestId: string): Promise<boolean>;
  /**
   * Claims attempt `attempt` at `now`: only if the attempts so far are `attempt - 1` and no other attempt is under way
   * (or its claim is older than `staleBefore`), or attempt `attempt` itself was claimed before `staleBefore` (a crash).
   * `afterFailed`: a redriven event may follow a `failed` state. false: a duplicate message, or the webhook is done.
   */
  claimAttempt(
    requestId: string,
    attempt: number,
    now: string,
    staleBefore: string,
    afterFailed?: boolean,
  ): Promise<boolean>;
  /** Records how attempt `attempt` ended, if it is still the current one. */
  recordAttempt(requestId: string, attempt: number, result: WebhookAttemptRecord): Promise<void>;
}

/** The signing secrets per API key owner (`whsec#<owner>` in the status table, src/adapters/webhookSecrets.ts). */
export interface WebhookSecretStore {
  /** Read consistently; undefined when the owner has none yet. */
  get(owner: string): Promise<WebhookSecrets | undefined>;
  /** Writes the owner's first secrets; false when some exist already (nothing written). */
  create(owner: string, secrets: WebhookSecrets): Promise<boolean>;
  /** Replaces the secrets if the current one is still `expectedCurrent`; false when another rotation won. */
  replace(owner: string, secrets: WebhookSecrets, expectedCurrent: string): Promise<boolean>;
}

export interface BatchQueue {
  /** `delaySeconds` (0..900): the messages become visible only then (a held batch: docs/failure-handling.md: Holds). */
  send(messages: BatchMessage[], opts?: { delaySeconds?: number }): Promise<void>;
}

/**
 * The provider's rate limits, shared by every worker (src/core/rateLimiter.ts on src/adapters/rateLimitTable.ts).
 * `take` is called before each provider call: one call token and `contacts` contact tokens.
 */
export interface RateLimiter {
  /**
   * Waits until the tokens are there and resolves true, when that is within `maxWaitMs`; false at once (nothing waited)
   * when it is not: the worker's time budget cannot cover the wait, or a pause runs past it.
   */
  take(contacts: number, maxWaitMs: number): Promise<boolean>;
  /** The provider said to wait until `untilMs` (epoch ms; a 429's Retry-After): every worker's next takes wait till then. */
  pause(untilMs: number): Promise<void>;
}

export type BucketCounter = 'calls' | 'contacts';

/**
 * The shared bucket's item(s), one per shard (`limit#bucket#<shard>` in the status table): each method is ONE
 * conditional UpdateItem of one item, never a read.
 */
export interface TokenBucketStore {
  /**
   * Adds `amounts` to the shard's counters if every counter stays at most its `max` (an absent counter counts 0);
   * the new values, or undefined when the condition failed (nothing written).
   */
  add(
    shard: number,
    amounts: Partial<Record<BucketCounter, number>>,
    max: Partial<Record<BucketCounter, number>>,
  ): Promise<Partial<Record<BucketCounter, number>> | undefined>;
  /** Sets each counter to its `to` if every one of them is below its `below` (or absent); false when not (nothing written). */
  raise(shard: number, counters: Partial<Record<BucketCounter, { below: number; to: number }>>): Promise<boolean>;
}

/** Why the provider gate is open: its calls keep failing, its credits are spent (402), or it asked us to wait (429). */
export type PauseReason = 'outage' | 'credits' | 'rate_limit';

/**
 * What the provider gate answers a caller about to call the provider (src/core/providerGate.ts). Allowed: call, and
 * report how the call ended; `trial`: this call is the one trial after a pause; `key`: the caller's batch, as it asked.
 * Refused: the gate is open for `reason`, and `reopensInMs` is how long until it may let a call through (the hold's
 * hint); `own`: only this instance is paused, by failures of the caller's own batch alone (its own doing, not a pause
 * to wait out).
 */
export type GatePass =
  /** `pausedMs`: how long it waited out a rate-limit pause before it let the call go (none: no wait). */
  /** `fleet`: the trial is the whole fleet's one call after a fleet-wide pause (not this instance's own trial). */
  | { allowed: true; trial: boolean; key?: string; pausedMs?: number; fleet?: boolean }
  | { allowed: false; reason: PauseReason; reopensInMs: number; own?: boolean };

/**
 * The provider gate, shared by every worker through one item of the status table: the fleet-wide circuit breaker, the
 * provider's 429 pause and the credit pause (docs/failure-handling.md: The provider gate). Each call asks `acquire`
 * first and reports how it ended with exactly one of the other methods, passing the pass it got.
 */
export interface ProviderGate {
  /**
   * Whether a call may go now. A rate-limit pause that ends within `maxWaitMs` is waited out (the provider said when
   * to come back); any other pause refuses at once. Half open, one caller in the fleet gets the trial call. `key`
   * names the caller's batch (ids only), so that a batch whose failures alone paused this instance is told so.
   */
  acquire(maxWaitMs?: number, key?: string): Promise<GatePass>;
  /** The call succeeded: the failure count starts again; a trial closes the gate. */
  success(pass?: GatePass): Promise<void>;
  /** A permanent answer (a 4xx about the request): the provider is up, so a trial closes the gate; otherwise nothing. */
  answered(pass?: GatePass): Promise<void>;
  /**
   * A transient failure (timeout, network, 408, 5xx): counted; the threshold, or a failed trial, opens the gate for the
   * cool-down: for the fleet when the failures in a row came from two batches or more, else for this instance only
   * (one batch of contacts the provider always rejects must not pause the fleet). The time until it reopens when it
   * is open now.
   */
  failure(pass?: GatePass): Promise<number | undefined>;
  /**
   * The provider answered 429: the gate opens for everyone for `pauseMs` (its Retry-After or x-ratelimit-reset; at
   * least a second). The time until it reopens.
   */
  rateLimited(pauseMs: number, pass?: GatePass): Promise<number>;
  /** The provider answered 402: the gate opens for the credit retry interval. The time until it reopens. */
  outOfCredits(pass?: GatePass): Promise<number>;
  /** No call was made after all, or it was cut short by the caller's deadline: it says nothing (a trial's lease ends). */
  release(pass?: GatePass): Promise<void>;
}

/**
 * The gate's item as stored (`provider#gate` in the status table; all times epoch ms). No `openUntil`: closed.
 * `openUntil` in the future: open. Past, for `outage` or `credits`: half open, until a trial (`trialUntil`, its lease)
 * closes it; past, for `rate_limit`: closed (the provider said when to come back: no trial needed).
 */
export interface GateState {
  openUntil?: number;
  reason?: PauseReason;
  /** When the current pause began (kept while a pause is extended or reopened by a failed trial). */
  since?: number;
  trialUntil?: number;
  updatedAt?: number;
}

/** The gate's one item (src/adapters/providerGate.ts): an eventually consistent read, and single conditional writes. */
export interface ProviderGateStore {
  /** The item (eventually consistent GetItem); {} when there is none. */
  read(): Promise<GateState>;
  /**
   * Opens the gate until `untilMs` for `reason`, only moving `openUntil` forward (false: it was already open as long
   * or longer, nothing written). A pause that starts from closed sets `since`; any open ends a trial's lease.
   */
  open(reason: PauseReason, untilMs: number, nowMs: number): Promise<boolean>;
  /** Takes the trial's lease until `leaseUntilMs`, only if the gate is half open and no live lease exists. */
  claimTrial(nowMs: number, leaseUntilMs: number): Promise<boolean>;
  /** Closes the gate (removes the pause), only if the lease is still `trialUntilMs` (no open since the claim). */
  close(trialUntilMs: number, nowMs: number): Promise<boolean>;
  /** Ends the lease `trialUntilMs` without closing (a trial that made no call), if it is still that one. */
  endTrial(trialUntilMs: number): Promise<void>;
}

/** The enrichment provider (src/adapters/enrichmentApi.ts): one answer per contact, in order. */
export interface EnrichmentApi {
  /** `timeoutMs`, when given, caps this call's own timeout (the time budget left). */
  enrich(contacts: Contact[], fields: EnrichField[], opts?: { timeoutMs?: number }): Promise<EnrichmentResult[]>;
}

/**
 * A provider result kept in the result cache (src/core/resultCache.ts): the answer for one contact identity and
 * field set, when it was obtained, and when it stops counting (epoch seconds: the table's TTL removes it some time
 * after, offline never, so the reader checks it).
 */
export interface CachedResult {
  cacheKey: string;
  result: FoundResult;
  cachedAt: string;
  expiresAt: number;
}

/**
 * The result cache (src/adapters/resultCache.ts: a DynamoDB table): batched reads and writes, each retrying what
 * DynamoDB left unprocessed a bounded number of times and reporting what is still left.
 */
export interface ResultCache {
  /** The items stored under `keys` (at most 100: one BatchGetItem), expired ones included. */
  getMany(keys: readonly string[]): Promise<{ items: CachedResult[]; unprocessed: number }>;
  /** Writes the items (BatchWriteItem, 25 per call). */
  putMany(items: readonly CachedResult[]): Promise<{ unprocessed: number }>;
}

/** A test-only hook: production wiring passes none, so it can never fire there. */
export interface FaultHooks {
  at(point: string, context: { requestId: string; batchIndex?: number }): Promise<void> | void;
}

export const noFaults: FaultHooks = { at: () => undefined };

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** The time an invocation has left before it is stopped (Lambda: context.getRemainingTimeInMillis()). */
export interface TimeBudget {
  remainingMs(): number;
}

/** A part the client uploaded, as S3 answered its PUT. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/** Direct uploads to the bucket: multipart uploads the client writes through presigned part URLs. */
export interface UploadStore {
  bucket: string;
  /** Starts a multipart upload; its S3 upload id. */
  start(key: string, contentType: string): Promise<string>;
  /** A URL that lets anyone holding it PUT one part of the upload, until it expires. */
  presignPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string>;
  /** `missing`: no such upload (never started, aborted, completed); `invalid`: parts S3 refused (with its reason). */
  complete(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<{ ok: true } | { ok: false; reason: 'missing' | 'invalid'; message: string }>;
  /** The object's size in bytes (HeadObject); undefined when it does not exist. */
  size(key: string): Promise<number | undefined>;
  delete(key: string): Promise<void>;
}

/**
 * Where an upload is in its life (src/core/uploads.ts): `open` from createUpload until a complete claims it
 * (`completing`, with the claim's time), then `completed` (the object holds the declared bytes) or `rejected` (the
 * object was deleted; `errors` is the 400 it was answered). A failed attempt that assembled nothing hands the claim
 * back (`open`); a claim older than any function can run is taken over.
 */
export type UploadState = 'open' | 'completing' | 'completed' | 'rejected';

/** The server's record of an upload, written by createUpload: what completeUpload checks the client against. */
export interface UploadRecord {
  uploadId: string;
  key: string;
  /** undefined on a stage without API keys. */
  owner?: string;
  /** The declared size in bytes, and the part count createUpload handed out (ceil(size / PART_SIZE)). */
  size: number;
  parts: number;
  format: string;
  createdAt: string;
  /** Epoch seconds: the table's TTL removes the record. */
  expiresAt: number;
  state: UploadState;
  /** When the current (or last) complete claimed it. */
  claimedAt?: string;
  errors?: FieldError[];
}

/** The upload records (`upload#<sha256 of the upload id>` in the status table): single-item conditional writes only. */
export interface UploadRecords {
  /** Writes a new record (open); throws if one exists for the upload id. */
  create(record: UploadRecord): Promise<void>;
  /** Read consistently; undefined when there is none. */
  get(uploadId: string): Promise<UploadRecord | undefined>;
  /**
   * open → completing at `now`, or takes over a claim made before `staleBefore`. false when the record is not
   * open (or its claim is fresh): another complete got it.
   */
  claim(uploadId: string, now: string, staleBefore: string): Promise<boolean>;
  /** completing → open, if the claim is still the one made at `claimedAt` (a failed attempt that assembled nothing). */
  release(uploadId: string, claimedAt: string): Promise<void>;
  /** completing → completed or rejected (with its errors), if the claim is still the one made at `claimedAt`. */
  finish(
    uploadId: string,
    claimedAt: string,
    outcome: { state: 'completed' } | { state: 'rejected'; errors: FieldError[] },
  ): Promise<boolean>;
}

/**
 * Custom metrics (src/adapters/metrics.ts: Datadog distributions). Names come from the catalogue
 * (core/metricNames.ts); tags are closed sets of values, never ids or contact data. Never throws.
 */
export interface Metrics {
  emit(metric: MetricKey, value: number, tags?: Readonly<Record<string, string>>): void;
}

/** A span's tags: ids, counts, statuses. Never contact data (names, domains, bodies). */
export type SpanTags = Record<string, string | number | boolean | undefined>;

export interface Span {
  setTag(key: string, value: string | number | boolean): void;
}

/**
 * Custom spans around the use cases' steps (src/adapters/tracing.ts: dd-trace when it is loaded). `fn` runs
 * inside the span, so what it calls (AWS SDK spans, log lines) joins it; a thrown error is recorded and rethrown.
 */
export interface Tracer {
  span<T>(name: string, tags: SpanTags, fn: (span: Span) => Promise<T>): Promise<T>;
}

const noSpan: Span = { setTag: () => undefined };

/** No spans: the default when no tracer is wired (tests, scripts). */
export const noTracer: Tracer = { span: (_name, _tags, fn) => fn(noSpan) };

/** Structured JSON log lines (src/logger.ts). Fields are ids, counts and statuses: never contact data. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}
