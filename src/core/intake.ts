import type { Readable } from 'node:stream';
import { ContactSchema, type Contact } from '../schemas/contact';
import type { BatchMessage } from '../schemas/message';
import type { IntakeCheckpoint, StatusRecord } from '../schemas/status';
import { EnrichmentError, type FieldError } from './errors';
import { InputParseError, inputOf, readInputBatches, streamContactRunsOf } from './inputFile';
import {
  noTracer,
  type Logger,
  type BatchQueue,
  type Clock,
  type FaultHooks,
  type IntakeQueue,
  type Metrics,
  type ObjectStore,
  type StatusStore,
  type TimeBudget,
  type Tracer,
} from './ports';
import { cancelledRow, placeholderOutput, type BatchResult } from './output';
import { noUsage } from './usage';
import { keys } from './status';
import { checkContact } from './validation';
import { enqueueFinalEvent, type WebhookOutbox } from './webhooks';

export interface IntakeDeps {
  store: ObjectStore;
  status: StatusStore;
  queue: BatchQueue;
  intakeQueue: IntakeQueue;
  clock: Clock;
  log: Logger;
  faults: FaultHooks;
  /** Custom metrics: none when unset. */
  metrics?: Metrics;
  /** Time kept back from the invocation's budget to save the checkpoint and queue the continuation. */
  timeReserveMs: number;
  /** Contacts between two checkpoints (pass 1). */
  checkpointEvery?: number;
  /** Batches sent between two checkpoints (pass 2), in calls of SendMessageBatch run concurrently. */
  sendGroupBatches?: number;
  /** What pass 1 keeps for pass 2 at most (HOLD): a larger upload is read twice. */
  hold?: { contacts: number; uploadBytes: number };
  /** The `enrichment.intake` span: none when unset. */
  tracer?: Tracer;
  /** Where a rejected request's completion webhook is queued (src/core/webhooks.ts): none when unset. */
  webhooks?: WebhookOutbox;
}

/** As a 400 shows them. */
const MAX_INTAKE_ERRORS = 50;
const CHECKPOINT_EVERY = 5_000;
const SEND_GROUP_BATCHES = 100;
/**
 * The uploads whose contacts pass 1 keeps for pass 2, which then sends them without reading, parsing and checking the
 * upload again (half the intake's time at 1M): about 100 MB of heap at 1M contacts, of the intake's 1,024 MB. The
 * size is known before pass 1 reads, so a larger upload holds nothing (memory stays flat to 10M contacts); more
 * contacts than `contacts` in a smaller one (short CSV rows) are dropped when the count passes it.
 */
const HOLD = { contacts: 1_000_000, uploadBytes: 96 * 1024 * 1024 };

export type IntakeOutcome = 'not-validating' | 'rejected' | 'processing' | 'continued';

class OutOfTime extends EnrichmentError<'out_of_time'> {
  constructor() {
    super('the intake ran out of time at a checkpoint', { kind: 'out_of_time' });
  }
}

export const INTAKE_DLQ_MESSAGE =
  'the upload could not be taken in: its intake kept failing (see the service logs); submit it again';

/**
 * A rejected request's webhook event, once (src/core/webhooks.ts): also when an earlier run rejected it and crashed
 * before queueing the event.
 */
async function notifyRejected(requestId: string, deps: Pick<IntakeDeps, 'status' | 'log' | 'webhooks'>): Promise<void> {
  if (!deps.webhooks) return;
  const record = await deps.status.get(requestId);
  if (record?.status === 'rejected') await enqueueFinalEvent(record, deps.webhooks, deps.log);
}

/**
 * An intake that kept failing (its message dead-lettered):
 * 1. End the request `rejected` with the reason, if it is still `validating` (no client waits for ever).
 * 2. Count it as rejected (`intake_failed`). A request that had already left `validating` stays as it is.
 * 3. Queue its webhook event, if it has a callbackUrl.
 */
export async function failIntake(
  requestId: string,
  deps: Pick<IntakeDeps, 'status' | 'clock' | 'log' | 'metrics' | 'webhooks'>,
): Promise<boolean> {
  const ended = await deps.status.reject(
    requestId,
    [{ path: 'contacts', message: INTAKE_DLQ_MESSAGE }],
    deps.clock.now().toISOString(),
  );
  if (ended) deps.metrics?.emit('requestRejected', 1, { reason: 'intake_failed' });
  await notifyRejected(requestId, deps);
  deps.log.warn('intake dead-lettered', { requestId, rejected: ended });
  return ended;
}

/**
 * Takes in the upload of a `validating` request, going on from its checkpoint.
 * 1. Load the status item; anything but `validating` needs nothing (a redelivery after the end).
 * 2. Pass 1 (validate): stream the upload, check every contact as the inline path does, keep the first
 *    50 errors; checkpoint every few thousand contacts. Errors → `rejected`, nothing sent. Else record
 *    totalContacts/totalBatches.
 * 3. Pass 2 (send): the contacts pass 1 held, if it read them all in this run and there are few enough, else
 *    stream the upload again; skip the batches already sent, send the rest with SendMessageBatch
 *    (10 a call, several calls at once); checkpoint after each group. Once the request is cancelled (read before
 *    each group), record the groups left instead of sending them, every contact `cancelled`.
 * 4. Write the placeholder output and move the status to `processing`. If the workers had counted every batch
 *    by then (while the request was still validating), send the last batch once more: that duplicate makes a
 *    worker assemble the output. Else the last promotion, after the move, does.
 * Out of time (the invocation's remaining time below the reserve): save the checkpoint, queue a continuation,
 * return. A crash goes on from the last checkpoint on redelivery; batches sent twice are counted once.
 */
export async function runIntake(requestId: string, deps: IntakeDeps, budget?: TimeBudget): Promise<IntakeOutcome> {
  return (deps.tracer ?? noTracer).span('enrichment.intake', { 'enrichment.request_id': requestId }, () =>
    intake(requestId, deps, budget),
  );
}

async function intake(requestId: string, deps: IntakeDeps, budget?: TimeBudget): Promise<IntakeOutcome> {
  const log = deps.log.child({ requestId });
  const record = await deps.status.get(requestId);
  if (record?.status === 'rejected') await enqueueFinalEvent(record, deps.webhooks, log);
  if (record?.status !== 'validating') return 'not-validating';
  const checkpoint: IntakeCheckpoint = {
    ...(record.intake ?? { phase: 'validate', contactsValidated: 0, batchesSent: 0 }),
  };
  checkpoint.runs = (checkpoint.runs ?? 0) + 1;
  const now = () => deps.clock.now().toISOString();
  const outOfTime = () => budget !== undefined && budget.remainingMs() < deps.timeReserveMs;
  const batchSize = record.batchSize ?? 100;
  const reject = async (errors: FieldError[]) => {
    if (await deps.status.reject(requestId, errors, now()))
      deps.metrics?.emit('requestRejected', 1, { reason: 'invalid_upload' });
    await notifyRejected(requestId, deps);
  };
  let held: Contact[] | undefined;
  try {
    if (checkpoint.phase === 'validate') {
      const totals = await validatePass(record, checkpoint, deps, outOfTime);
      held = totals.held;
      if (checkpoint.errorsSoFar?.length) {
        await reject(checkpoint.errorsSoFar);
        log.info('upload rejected', { errors: checkpoint.errorsSoFar.length, contacts: totals.contacts });
        return 'rejected';
      }
      if (totals.contacts === 0) {
        await reject([{ path: 'contacts', message: 'the upload holds no contacts' }]);
        return 'rejected';
      }
      Object.assign(checkpoint, { phase: 'send', batchesSent: 0, errorsSoFar: undefined });
      delete checkpoint.errorsSoFar;
      const totalBatches = Math.ceil(totals.contacts / batchSize);
      if (
        !(await deps.status.saveIntake(
          requestId,
          { intake: checkpoint, totalContacts: totals.contacts, totalBatches },
          now(),
        ))
      )
        return 'not-validating';
      record.totalContacts = totals.contacts;
      record.totalBatches = totalBatches;
      log.info('upload validated', { totalContacts: totals.contacts, totalBatches });
      await deps.faults.at('intake:after-validation', { requestId });
    }
    const last = await sendPass(record, checkpoint, deps, outOfTime, held);
    await deps.faults.at('intake:before-processing', { requestId });
    // What a download shows until the assembly writes the output (an inline request's is written at create).
    await deps.store.putJson(keys.output(requestId), placeholderOutput(requestId));
    const moved = await deps.status.startProcessing(requestId, now());
    if (!moved) return 'not-validating';
    // Every batch counted while validating: no worker will finish the request, so a duplicate of the last batch
    // makes one do it. Otherwise the promotion still to come sees `processing` and finishes it.
    if (moved.complete) {
      const nudge =
        last ??
        (await readInputBatches(deps.store, inputOf(record), batchSize, new Set([record.totalBatches - 1]))).get(
          record.totalBatches - 1,
        );
      if (nudge) await deps.queue.send([message(record, record.totalBatches - 1, nudge)]);
    }
    log.info('upload taken in', {
      totalBatches: record.totalBatches,
      runs: checkpoint.runs,
      completeAtMove: moved.complete,
    });
    deps.metrics?.emit('requestContacts', record.totalContacts, { input: 'upload' });
    return 'processing';
  } catch (err) {
    if (err instanceof OutOfTime) {
      await deps.status.saveIntake(requestId, { intake: checkpoint }, now());
      await deps.intakeQueue.send({ requestId });
      log.info('intake out of time: checkpoint saved, continuation queued', {
        ...checkpoint,
        errorsSoFar: checkpoint.errorsSoFar?.length,
      });
      return 'continued';
    }
    if (err instanceof InputParseError) {
      await reject(
        [
          ...(checkpoint.errorsSoFar ?? []),
          { path: 'contacts', message: `the upload is not valid ${record.inputFormat ?? 'json'}: ${err.message}` },
        ].slice(0, MAX_INTAKE_ERRORS),
      );
      log.info('upload rejected: it does not parse', { position: err.position });
      return 'rejected';
    }
    throw err;
  }
}

/** Batches recorded at once at a time: each is a PutObject and a conditional UpdateItem. */
const RECORD_CONCURRENCY = 10;

/**
 * The batches of a cancelled request the intake has not sent: each stored as a result of `cancelled` rows and
 * recorded once on its shard, as a worker would (a full shard promoted). While the request is still validating no
 * promotion completes it: the move to processing does, as for any upload (runIntake step 4).
 */
async function recordCancelled(record: StatusRecord, batches: BatchMessage[], deps: IntakeDeps): Promise<void> {
  const request = { totalBatches: record.totalBatches, expiresAt: record.expiresAt };
  const one = async (batch: BatchMessage) => {
    const rows = batch.contacts.map((contact) => cancelledRow(contact, batch.fields));
    const result: BatchResult = { requestId: record.requestId, batchIndex: batch.batchIndex, rows };
    await deps.store.putJson(keys.batch(record.requestId, batch.batchIndex), result);
    const now = deps.clock.now().toISOString();
    const r = await deps.status.recordBatch(record.requestId, batch.batchIndex, 'processed', now, request, {
      ...noUsage(),
      cancelled: rows.length,
    });
    if (r?.recorded) deps.metrics?.emit('contacts', rows.length, { outcome: 'cancelled' });
    if (r && r.shard.done >= r.shard.size) await deps.status.promoteShard(r.shard, now);
  };
  for (let i = 0; i < batches.length; i += RECORD_CONCURRENCY)
    await Promise.all(batches.slice(i, i + RECORD_CONCURRENCY).map(one));
}

const message = (record: StatusRecord, batchIndex: number, contacts: Contact[]): BatchMessage => ({
  requestId: record.requestId,
  batchIndex,
  fields: record.fields,
  contacts,
});

async function openInput(record: StatusRecord, deps: IntakeDeps): Promise<Readable> {
  const body = await deps.store.getStream(inputOf(record).key);
  if (!body) throw new InputParseError('the upload is gone', 'start');
  return body;
}

/**
 * Pass 1 from the checkpoint: counts every contact, keeps the first errors; `held`: every contact, checked and
 * trimmed, when this run read them all from the first and the upload is within `hold`.
 */
async function validatePass(
  record: StatusRecord,
  checkpoint: IntakeCheckpoint,
  deps: IntakeDeps,
  outOfTime: () => boolean,
): Promise<{ contacts: number; held?: Contact[] }> {
  const every = deps.checkpointEvery ?? CHECKPOINT_EVERY;
  const errors = [...(checkpoint.errorsSoFar ?? [])];
  const hold = deps.hold ?? HOLD;
  const size = checkpoint.contactsValidated === 0 ? (await deps.store.head?.(inputOf(record).key))?.size : undefined;
  let held: Contact[] | undefined = size !== undefined && size <= hold.uploadBytes ? [] : undefined;
  const body = await openInput(record, deps);
  let index = 0;
  try {
    read: for await (const run of streamContactRunsOf(body, inputOf(record).format)) {
      for (const item of run) {
        if (index >= checkpoint.contactsValidated) {
          const { contact, errors: found } = checkContact(item, index);
          if (held && contact && held.length < hold.contacts) held.push(contact);
          else held = undefined;
          if (found.length) errors.push(...found.slice(0, MAX_INTAKE_ERRORS - errors.length));
          checkpoint.contactsValidated = index + 1;
          if (errors.length >= MAX_INTAKE_ERRORS) break read; // the report is full: the rest need not be read
          if (checkpoint.contactsValidated % every === 0) {
            checkpoint.errorsSoFar = errors;
            if (outOfTime()) throw new OutOfTime();
            await deps.status.saveIntake(record.requestId, { intake: checkpoint }, deps.clock.now().toISOString());
          }
        }
        index += 1;
      }
    }
  } finally {
    body.destroy();
  }
  checkpoint.errorsSoFar = errors;
  return { contacts: index, held: held?.length === index ? held : undefined };
}

/**
 * Pass 2 from the checkpoint: the batches not sent yet, in order, from the contacts pass 1 held or else the upload.
 * Returns the last batch's contacts.
 */
async function sendPass(
  record: StatusRecord,
  checkpoint: IntakeCheckpoint,
  deps: IntakeDeps,
  outOfTime: () => boolean,
  held: Contact[] | undefined,
): Promise<Contact[] | undefined> {
  const batchSize = record.batchSize ?? 100;
  const groupSize = deps.sendGroupBatches ?? SEND_GROUP_BATCHES;
  if (checkpoint.batchesSent >= record.totalBatches) return undefined;
  const body = held ? undefined : await openInput(record, deps);
  let group: BatchMessage[] = [];
  let batch: Contact[] = [];
  let index = 0;
  let last: Contact[] | undefined;
  const midway = Math.floor(record.totalBatches / 2);
  let cancelled = !!record.cancelRequestedAt;
  const flush = async () => {
    if (!group.length) return;
    // A cancel stops the sending: the batches not sent yet are recorded here, every contact `cancelled`.
    cancelled ||= !!(await deps.status.get(record.requestId))?.cancelRequestedAt;
    if (cancelled) await recordCancelled(record, group, deps);
    else await deps.queue.send(group);
    checkpoint.batchesSent = group[group.length - 1].batchIndex + 1;
    group = [];
    await deps.status.saveIntake(record.requestId, { intake: checkpoint }, deps.clock.now().toISOString());
    if (checkpoint.batchesSent >= midway && checkpoint.batchesSent - groupSize < midway) {
      await deps.faults.at('intake:midway-sending', { requestId: record.requestId });
    }
    if (checkpoint.batchesSent < record.totalBatches && outOfTime()) throw new OutOfTime();
  };
  try {
    for await (const run of body ? streamContactRunsOf(body, inputOf(record).format) : [held ?? []]) {
      for (const item of run) {
        const batchIndex = Math.floor(index / batchSize);
        index += 1;
        if (batchIndex < checkpoint.batchesSent) continue;
        // Validated in pass 1: parsing again applies the same trimming as the inline path (held: trimmed).
        batch.push(body ? ContactSchema.parse(item) : (item as Contact));
        if (batch.length === batchSize) {
          group.push(message(record, batchIndex, batch));
          last = batch;
          batch = [];
          if (group.length >= groupSize) await flush();
        }
      }
    }
    if (batch.length) {
      group.push(message(record, Math.floor((index - 1) / batchSize), batch));
      last = batch;
    }
    await flush();
  } finally {
    body?.destroy();
  }
  return last;
}
