import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Contact, EnrichField } from '../../src/schemas/contact';
import type { BatchMessage } from '../../src/schemas/message';
import type { RequestStatus, StatusRecord, Usage, UsageCounts } from '../../src/schemas/status';
import { addUsage } from '../../src/core/usage';
import { FleetGate, type GateOptions } from '../../src/core/providerGate';
import type {
  CachedResult,
  ResultCache,
  BatchLookup,
  BatchOutcome,
  BatchQueue,
  ClaimResult,
  Clock,
  DedupClaim,
  EnrichmentApi,
  FaultHooks,
  GateState,
  IntakeQueue,
  IntakeUpdate,
  ObjectInfo,
  ObjectStore,
  PauseReason,
  ProviderGateStore,
  RecordBatchResult,
  RequestRef,
  ShardState,
  StatusStore,
  TimeBudget,
} from '../../src/core/ports';
import { batchAt, offsetIn, shardCount, shardOf, shardSize } from '../../src/core/shards';
import type { IntakeMessage } from '../../src/schemas/message';
import type { FieldError } from '../../src/core/errors';
import type { OutputCounts } from '../../src/core/output';
import { HttpError, TimeoutError } from '../../src/core/retry';
import { mockEnrichContact } from '../../src/handlers/mockData';
import type { Logger } from '../../src/logger';

/** Every operation a fake saw, in order, across fakes that share the journal. */
export type Journal = string[];

/** An S3 bucket in a Map. Bodies are kept as text. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, string>();
  constructor(readonly journal: Journal = []) {}

  async putJson(key: string, value: unknown): Promise<void> {
    this.journal.push(`put ${key}`);
    this.objects.set(key, JSON.stringify(value));
  }

  async upload(key: string, body: AsyncIterable<string | Buffer> | Readable): Promise<void> {
    let text = '';
    for await (const part of body as AsyncIterable<string | Buffer>)
      text += typeof part === 'string' ? part : part.toString('utf8');
    this.journal.push(`upload ${key}`);
    this.objects.set(key, text);
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const text = this.objects.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const text = this.objects.get(key);
    return text === undefined ? undefined : Readable.from([Buffer.from(text)]);
  }

  async listKeys(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Content types set with `put(key, text, contentType)`. */
  readonly contentTypes = new Map<string, string>();

  put(key: string, text: string, contentType?: string): void {
    this.objects.set(key, text);
    if (contentType) this.contentTypes.set(key, contentType);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const text = this.objects.get(key);
    if (text === undefined) return undefined;
    this.journal.push(`head ${key}`);
    return {
      size: Buffer.byteLength(text),
      etag: `"${createHash('md5').update(text).digest('hex')}"`,
      contentType: this.contentTypes.get(key),
    };
  }

  text(key: string): string | undefined {
    return this.objects.get(key);
  }

  json<T = any>(key: string): T | undefined {
    const text = this.objects.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }
}

const clone = <T>(value: T): T => structuredClone(value);

/** The status table with the same conditional semantics as the DynamoDB adapter. */
export class MemoryStatusStore implements StatusStore {
  readonly records = new Map<string, StatusRecord>();
  /** The dedup items, kept apart from the status items (in DynamoDB they share the table). */
  readonly claims = new Map<string, DedupClaim>();
  constructor(readonly journal: Journal = []) {}

  async claimDedup(claim: DedupClaim, replaces?: string): Promise<ClaimResult> {
    const current = this.claims.get(claim.key);
    const free =
      replaces !== undefined
        ? current?.requestId === replaces
        : !current || current.expiresAt < Date.parse(claim.claimedAt) / 1000;
    if (!free) return { claimed: false, current: current && clone(current) };
    this.journal.push(`status.claimDedup ${claim.requestId}`);
    this.claims.set(claim.key, clone(claim));
    return { claimed: true };
  }

  async releaseDedup(claim: DedupClaim): Promise<void> {
    const current = this.claims.get(claim.key);
    if (current?.requestId !== claim.requestId) return;
    this.journal.push(`status.releaseDedup ${claim.requestId}`);
    current.released = true;
  }

  async create(record: StatusRecord): Promise<void> {
    if (this.records.has(record.requestId)) throw new Error('ConditionalCheckFailed: request exists');
    this.journal.push(`status.create ${record.requestId}`);
    this.records.set(record.requestId, clone(record));
  }

  /** The shard items, as DynamoDB holds them (key `<requestId>#<shard>`), with their running usage once recorded. */
  readonly shards = new Map<
    string,
    { done: Set<number>; processed: number; failed: number; updatedAt: string; usage?: UsageCounts }
  >();

  /** Batches whose results are stored together (`<requestId>#<batchIndex>` → group id), as the shard items note them. */
  readonly together = new Map<string, string>();

  /** What get() answers: the status item with the unpromoted shards' counts added, and (only here) the done set. */
  private view(record: StatusRecord): StatusRecord {
    const out = clone(record);
    delete out.doneBatches;
    if (out.status !== 'processing') return out;
    const done = new Set<number>();
    for (let k = 0; k < shardCount(out.totalBatches); k++) {
      const s = this.shards.get(`${out.requestId}#${k}`);
      if (!s) continue;
      for (const o of s.done) done.add(batchAt(k, o));
      if (out.fullShards?.has(k)) continue;
      out.processedBatches += s.processed;
      out.failedBatches += s.failed;
      if (s.usage) out.usage = out.usage ? addUsage(out.usage, s.usage) : clone(s.usage);
      if (s.updatedAt > out.updatedAt) out.updatedAt = s.updatedAt;
    }
    if (done.size) out.doneBatches = done;
    return out;
  }

  private shardState(requestId: string, batchIndex: number, totalBatches: number): ShardState {
    const k = shardOf(batchIndex);
    const s = this.shards.get(`${requestId}#${k}`);
    return {
      requestId,
      shard: k,
      size: shardSize(k, totalBatches),
      done: s?.done.size ?? 0,
      processed: s?.processed ?? 0,
      failed: s?.failed ?? 0,
      ...(s?.usage ? { usage: clone(s.usage) } : {}),
    };
  }

  async get(requestId: string): Promise<StatusRecord | undefined> {
    const record = this.records.get(requestId);
    return record && this.view(record);
  }

  async lookupBatch(requestId: string, batchIndex: number): Promise<BatchLookup | undefined> {
    const record = this.records.get(requestId);
    if (!record) return undefined;
    const done = !!this.shards.get(`${requestId}#${shardOf(batchIndex)}`)?.done.has(offsetIn(batchIndex));
    return {
      record: clone(record),
      batchDone: done,
      shard: this.shardState(requestId, batchIndex, record.totalBatches),
    };
  }

  async recordBatch(
    requestId: string,
    batchIndex: number,
    outcome: BatchOutcome,
    now: string,
    request?: RequestRef,
    usage?: UsageCounts,
  ): Promise<RecordBatchResult | undefined> {
    const totalBatches = request?.totalBatches ?? this.records.get(requestId)?.totalBatches;
    if (totalBatches === undefined) return undefined;
    const key = `${requestId}#${shardOf(batchIndex)}`;
    const s = this.shards.get(key) ?? { done: new Set<number>(), processed: 0, failed: 0, updatedAt: now };
    if (s.done.has(offsetIn(batchIndex)))
      return { recorded: false, shard: this.shardState(requestId, batchIndex, totalBatches) };
    s.done.add(offsetIn(batchIndex));
    if (outcome === 'processed') s.processed += 1;
    else s.failed += 1;
    if (usage) s.usage = s.usage ? addUsage(s.usage, usage) : clone(usage);
    s.updatedAt = now;
    this.shards.set(key, s);
    this.journal.push(`status.record ${batchIndex} ${outcome}`);
    return { recorded: true, shard: this.shardState(requestId, batchIndex, totalBatches) };
  }

  async recordBatches(
    requestId: string,
    shard: number,
    batches: readonly { batchIndex: number; outcome: BatchOutcome; usage?: UsageCounts }[],
    now: string,
    request: RequestRef,
    groupId?: string,
  ): Promise<{ recorded: true; shard: ShardState } | { recorded: false }> {
    const key = `${requestId}#${shard}`;
    const s = this.shards.get(key) ?? { done: new Set<number>(), processed: 0, failed: 0, updatedAt: now };
    // One conditional update: nothing happens if any of the batches is counted already.
    if (batches.some((b) => shardOf(b.batchIndex) !== shard || s.done.has(offsetIn(b.batchIndex))))
      return { recorded: false };
    for (const b of batches) {
      s.done.add(offsetIn(b.batchIndex));
      if (b.outcome === 'processed') s.processed += 1;
      else s.failed += 1;
      if (b.usage) s.usage = s.usage ? addUsage(s.usage, b.usage) : clone(b.usage);
    }
    s.updatedAt = now;
    this.shards.set(key, s);
    if (groupId) for (const b of batches) this.together.set(`${requestId}#${b.batchIndex}`, groupId);
    this.journal.push(`status.record ${batches.map((b) => b.batchIndex).join(',')} together`);
    return { recorded: true, shard: this.shardState(requestId, batches[0].batchIndex, request.totalBatches) };
  }

  async promoteShard(shard: ShardState, now: string): Promise<{ complete: boolean } | undefined> {
    const record = this.records.get(shard.requestId);
    if (!record) return undefined;
    if ((record.status === 'processing' || record.status === 'validating') && !record.fullShards?.has(shard.shard)) {
      record.fullShards = new Set([...(record.fullShards ?? []), shard.shard]);
      record.processedBatches += shard.processed;
      record.failedBatches += shard.failed;
      // The running usage of a processing record (the DynamoDB adapter keeps it in attributes of its own).
      if (shard.usage) record.usage = record.usage ? addUsage(record.usage, shard.usage) : clone(shard.usage);
      record.updatedAt = now;
      this.journal.push(`status.promote ${shard.shard}`);
      return {
        complete:
          record.status === 'processing' && record.processedBatches + record.failedBatches >= record.totalBatches,
      };
    }
    const complete =
      record.status === 'processing' &&
      !!record.fullShards?.has(shard.shard) &&
      record.processedBatches + record.failedBatches >= record.totalBatches;
    return { complete };
  }

  async storedTogether(record: StatusRecord): Promise<Map<number, string>> {
    const groups = new Map<number, string>();
    for (let i = 0; i < record.totalBatches; i++) {
      const groupId = this.together.get(`${record.requestId}#${i}`);
      if (groupId) groups.set(i, groupId);
    }
    return groups;
  }

  async doneBatches(record: StatusRecord): Promise<Set<number>> {
    const current = this.records.get(record.requestId);
    return current ? (this.view({ ...current, status: 'processing' }).doneBatches ?? new Set()) : new Set();
  }

  async finalize(
    requestId: string,
    status: RequestStatus,
    counts: OutputCounts,
    now: string,
    usage?: Usage,
  ): Promise<boolean> {
    const record = this.records.get(requestId);
    if (record?.status !== 'processing') return false;
    if (record.cancelRequestedAt) status = 'cancelled';
    let processed = 0;
    let failed = 0;
    for (let k = 0; k < shardCount(record.totalBatches); k++) {
      processed += this.shards.get(`${requestId}#${k}`)?.processed ?? 0;
      failed += this.shards.get(`${requestId}#${k}`)?.failed ?? 0;
    }
    delete record.fullShards;
    // The final usage replaces the running one (none without it: the adapter's final item has no usage map then).
    delete record.usage;
    if (usage) record.usage = clone(usage);
    Object.assign(record, {
      status,
      updatedAt: now,
      completedAt: now,
      processedBatches: processed,
      failedBatches: failed,
      enrichedContacts: counts.enriched,
      notFoundContacts: counts.not_found,
      failedContacts: counts.failed,
      ...(record.cancelRequestedAt || counts.cancelled !== undefined
        ? { cancelledContacts: counts.cancelled ?? 0 }
        : {}),
    });
    this.journal.push(`status.finalize ${status}`);
    return true;
  }

  async requestCancel(requestId: string, now: string): Promise<boolean> {
    const record = this.records.get(requestId);
    if ((record?.status !== 'processing' && record?.status !== 'validating') || record.cancelRequestedAt) return false;
    Object.assign(record, { cancelRequestedAt: now, updatedAt: now });
    this.journal.push('status.requestCancel');
    return true;
  }

  async touch(requestId: string, now: string): Promise<void> {
    const record = this.records.get(requestId);
    if (record?.status === 'processing') record.updatedAt = now;
  }

  async *listProcessing(): AsyncIterable<StatusRecord> {
    for (const record of [...this.records.values()]) if (record.status === 'processing') yield this.view(record);
  }

  async saveIntake(requestId: string, update: IntakeUpdate, now: string): Promise<boolean> {
    const record = this.records.get(requestId);
    if (record?.status !== 'validating') return false;
    record.intake = clone(update.intake);
    if (update.totalBatches !== undefined)
      Object.assign(record, { totalContacts: update.totalContacts, totalBatches: update.totalBatches });
    record.updatedAt = now;
    this.journal.push(
      `status.saveIntake ${update.intake.phase} ${update.intake.contactsValidated} ${update.intake.batchesSent}`,
    );
    return true;
  }

  async reject(requestId: string, errors: FieldError[], now: string): Promise<boolean> {
    const record = this.records.get(requestId);
    if (record?.status !== 'validating') return false;
    Object.assign(record, { status: 'rejected', errors: clone(errors), updatedAt: now, completedAt: now });
    delete record.intake;
    this.journal.push(`status.reject ${errors.length}`);
    return true;
  }

  async abandon(record: StatusRecord, errors: FieldError[], now: string): Promise<boolean> {
    const current = this.records.get(record.requestId);
    if (current?.status !== 'validating') return false;
    const { intake: _intake, ...rest } = clone(record);
    this.records.set(record.requestId, {
      ...rest,
      status: 'rejected',
      errors: clone(errors),
      updatedAt: now,
      completedAt: now,
    });
    this.journal.push(`status.abandon ${errors.length}`);
    return true;
  }

  async startProcessing(requestId: string, now: string): Promise<{ complete: boolean } | undefined> {
    const record = this.records.get(requestId);
    if (record?.status !== 'validating') return undefined;
    record.status = 'processing';
    record.updatedAt = now;
    delete record.intake;
    this.journal.push('status.startProcessing');
    return { complete: record.processedBatches + record.failedBatches >= record.totalBatches };
  }

  only(): StatusRecord {
    if (this.records.size !== 1) throw new Error(`expected one status record, found ${this.records.size}`);
    return this.view([...this.records.values()][0]);
  }
}

export class MemoryIntakeQueue implements IntakeQueue {
  readonly sent: IntakeMessage[] = [];
  constructor(readonly journal: Journal = []) {}
  async send(message: IntakeMessage): Promise<void> {
    this.journal.push(`intakeQueue.send ${message.requestId}`);
    this.sent.push(clone(message));
  }
}

export class MemoryQueue implements BatchQueue {
  readonly sent: BatchMessage[] = [];
  /** The DelaySeconds of each send (0 when none was given). */
  readonly delays: number[] = [];
  constructor(readonly journal: Journal = []) {}
  async send(messages: BatchMessage[], opts?: { delaySeconds?: number }): Promise<void> {
    this.journal.push(`queue.send ${messages.length}`);
    this.sent.push(...clone(messages));
    this.delays.push(opts?.delaySeconds ?? 0);
  }
  /** Hands the sent messages over, as a consumer would receive them. */
  drain(): BatchMessage[] {
    return this.sent.splice(0, this.sent.length);
  }
}

export class ManualClock implements Clock {
  constructor(private current = new Date('2024-05-01T12:00:00.000Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export interface LogEntry {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps its entries (child fields merged in) for assertions. */
export function recordingLogger(
  entries: LogEntry[] = [],
  base: Record<string, unknown> = {},
): Logger & { entries: LogEntry[] } {
  const write =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      entries.push({ level, msg, fields: { ...base, ...fields } });
    };
  return {
    entries,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (fields) => recordingLogger(entries, { ...base, ...fields }),
  };
}

/** Fault hooks that throw once at the named point (like a Lambda crash there), then let everything pass. */
export function crashOnceAt(
  point: string,
  when: (ctx: { requestId: string; batchIndex?: number }) => boolean = () => true,
) {
  const seen: string[] = [];
  let fired = false;
  const hooks: FaultHooks & { seen: string[]; fired: () => boolean } = {
    seen,
    fired: () => fired,
    at(p, ctx) {
      seen.push(p);
      if (!fired && p === point && when(ctx)) {
        fired = true;
        throw new Error(`crash at ${p}`);
      }
    },
  };
  return hooks;
}

/**
 * An enrichment API in memory: mock data for every contact, and a 500 for any call that
 * contains a poison contact. Every call's contacts are kept.
 */
export class FakeEnrichmentApi implements EnrichmentApi {
  readonly calls: Contact[][] = [];
  constructor(
    private readonly isPoison: (c: Contact) => boolean = () => false,
    private readonly failWith: (contacts: Contact[]) => Error = () => new HttpError(500, 'enrichment API answered 500'),
  ) {}

  async enrich(contacts: Contact[], fields: EnrichField[]) {
    if (contacts.length === 0) throw new Error('called with no contacts');
    this.calls.push([...contacts]);
    await Promise.resolve();
    if (contacts.some(this.isPoison)) throw this.failWith(contacts);
    return contacts.map((c) => mockEnrichContact(c, fields));
  }
}

/** Virtual time for time-budget tests: calls move it forward instead of waiting. */
export class VirtualClock {
  now = 0;
  /** An invocation's budget that ends `ms` from now, as Lambda's context counts it down. */
  budget(ms: number): TimeBudget & { deadline: number } {
    const deadline = this.now + ms;
    return { deadline, remainingMs: () => deadline - this.now };
  }
}

export interface TimedCall {
  contacts: Contact[];
  startedAt: number;
  timeoutMs: number | undefined;
  /** When the call ended on the virtual clock. */
  endedAt: number;
}

/**
 * An enrichment API on a virtual clock: a call takes `callMs`, except that a call including a
 * hanging contact never answers, so it lasts its whole timeout and times out (without a timeout it
 * would hang for ever: that throws at once, as a test failure).
 */
export class HangingEnrichmentApi implements EnrichmentApi {
  readonly calls: TimedCall[] = [];
  constructor(
    private readonly clock: VirtualClock,
    private readonly isHanging: (c: Contact) => boolean,
    private readonly callMs = 5,
  ) {}

  async enrich(contacts: Contact[], fields: EnrichField[], opts?: { timeoutMs?: number }) {
    const startedAt = this.clock.now;
    const timeoutMs = opts?.timeoutMs;
    await Promise.resolve();
    if (contacts.some(this.isHanging)) {
      if (timeoutMs === undefined) throw new Error('a call with a hanging contact and no timeout would never end');
      this.clock.now += timeoutMs;
      this.calls.push({ contacts: [...contacts], startedAt, timeoutMs, endedAt: this.clock.now });
      throw new TimeoutError(`no answer within ${timeoutMs} ms`);
    }
    this.clock.now += this.callMs;
    this.calls.push({ contacts: [...contacts], startedAt, timeoutMs, endedAt: this.clock.now });
    return contacts.map((c) => mockEnrichContact(c, fields));
  }
}

export const NO_RETRY_DELAY = { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 } as const;

/** A status item as createEnrichment writes it (250 contacts, 3 batches, nothing done yet), with overrides. */
export function statusRecordOf(requestId: string, over: Partial<StatusRecord> = {}): StatusRecord {
  return {
    requestId,
    status: 'processing',
    createdAt: '2024-05-01T12:00:00.000Z',
    updatedAt: '2024-05-01T12:00:00.000Z',
    totalContacts: 250,
    totalBatches: 3,
    processedBatches: 0,
    failedBatches: 0,
    fields: ['professional_email'],
    inputFileKey: `${requestId}/input.json`,
    outputFileKey: `${requestId}/output.json`,
    deadlineAt: '2024-05-01T13:00:00.000Z',
    expiresAt: 1_717_243_200,
    ...over,
  };
}

/**
 * The intake's deps on the same fakes as a create's (src/core/intake.ts): a referenced upload is accepted
 * `validating`, then taken in by runIntake.
 */
export function intakeDepsFor(
  deps: {
    store: ObjectStore;
    status: StatusStore;
    queue: BatchQueue;
    clock: Clock;
    log: Logger;
    intakeQueue?: IntakeQueue;
  },
  extra: Partial<import('../../src/core/intake').IntakeDeps> = {},
): import('../../src/core/intake').IntakeDeps {
  return {
    store: deps.store,
    status: deps.status,
    queue: deps.queue,
    intakeQueue: deps.intakeQueue ?? new MemoryIntakeQueue(),
    clock: deps.clock,
    log: deps.log,
    faults: { at: () => undefined },
    timeReserveMs: 1_000,
    ...extra,
  };
}

/** The result cache in memory (a Map by key, expired items kept, as dynalite keeps them); every call's keys and items. */
export class MemoryResultCache implements ResultCache {
  readonly items = new Map<string, CachedResult>();
  readonly reads: string[][] = [];
  readonly writes: CachedResult[][] = [];

  async getMany(keys: readonly string[]) {
    this.reads.push([...keys]);
    return {
      items: keys.flatMap((k) => (this.items.has(k) ? [structuredClone(this.items.get(k)!)] : [])),
      unprocessed: 0,
    };
  }

  async putMany(items: readonly CachedResult[]) {
    this.writes.push([...items]);
    for (const item of items) this.items.set(item.cacheKey, structuredClone(item));
    return { unprocessed: 0 };
  }
}

/**
 * The provider gate's item in memory, with the adapter's conditions (src/adapters/providerGate.ts), and a count of
 * the calls by kind. Each call answers after a turn of the event loop, as a DynamoDB call would, so that concurrent
 * callers really interleave. `failing`: every call throws (DynamoDB unreachable).
 */
/** A provider gate on a manual clock: `sleep` moves the clock instead of waiting. */
export function manualClockGate(
  opts: Pick<GateOptions, 'threshold' | 'coolDownMs'> & Partial<GateOptions>,
  clock = { now: 0 },
): { clock: { now: number }; gate: FleetGate } {
  const gate = new FleetGate({
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms;
    },
    ...opts,
  });
  return { clock, gate };
}

export class MemoryGateStore implements ProviderGateStore {
  item: GateState = {};
  readonly calls = { read: 0, open: 0, claimTrial: 0, close: 0, endTrial: 0 };
  failing = false;

  get writes(): number {
    return this.calls.open + this.calls.claimTrial + this.calls.close + this.calls.endTrial;
  }

  private async turn(kind: keyof MemoryGateStore['calls']): Promise<void> {
    this.calls[kind] += 1;
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failing) throw new Error('DynamoDB unreachable');
  }

  async read(): Promise<GateState> {
    await this.turn('read');
    return { ...this.item };
  }

  async open(reason: PauseReason, untilMs: number, nowMs: number): Promise<boolean> {
    await this.turn('open');
    const s = this.item;
    if (s.openUntil === undefined || (s.openUntil <= nowMs && s.reason === 'rate_limit')) {
      this.item = { openUntil: untilMs, reason, since: nowMs, updatedAt: nowMs };
      return true;
    }
    if (s.openUntil >= untilMs) return false;
    this.item = { ...s, openUntil: untilMs, reason, updatedAt: nowMs, trialUntil: undefined };
    return true;
  }

  async claimTrial(nowMs: number, leaseUntilMs: number): Promise<boolean> {
    await this.turn('claimTrial');
    const s = this.item;
    if (s.openUntil === undefined || s.openUntil > nowMs || s.reason === 'rate_limit') return false;
    if (s.trialUntil !== undefined && s.trialUntil > nowMs) return false;
    this.item = { ...s, trialUntil: leaseUntilMs, updatedAt: nowMs };
    return true;
  }

  async close(trialUntilMs: number, nowMs: number): Promise<boolean> {
    await this.turn('close');
    if (this.item.trialUntil !== trialUntilMs) return false;
    this.item = { updatedAt: nowMs };
    return true;
  }

  async endTrial(trialUntilMs: number): Promise<void> {
    await this.turn('endTrial');
    if (this.item.trialUntil === trialUntilMs) this.item = { ...this.item, trialUntil: undefined };
  }
}
