import type { RequestStatus, StatusRecord } from '../schemas/status';
import type { WebhookEvent, WebhookMessage } from '../schemas/webhook';
import type {
  Clock,
  Logger,
  Metrics,
  WebhookAttemptRecord,
  WebhookAttemptResult,
  WebhookDeliveries,
  WebhookQueue,
  WebhookSecretStore,
  WebhookSender,
} from './ports';
import { secretOwner } from './webhookSecrets';
import { signedHeaders, signingSecrets } from './webhookSigning';
import { isFinal, recordSummary } from './status';

/**
 * The event type of each final status. A new final status (`cancelled`) is one more entry here: the type of the
 * map makes every entry a final status, and a final status without one sends no event (and says so in the logs).
 */
export const WEBHOOK_EVENT_TYPES: Partial<Record<RequestStatus, `enrichment.${string}`>> = {
  completed: 'enrichment.completed',
  completed_with_errors: 'enrichment.completed_with_errors',
  failed: 'enrichment.failed',
  rejected: 'enrichment.rejected',
  cancelled: 'enrichment.cancelled',
};

/** The event's whole body stays under this (docs/api.md: Webhooks). */
export const MAX_EVENT_BYTES = 20 * 1024;
/** A rejected request's errors in its event: the first few (the status has up to 50). */
const EVENT_ERRORS = 5;

/** The `webhook-id` of a request's event: derived from the request id, so the same on every attempt and every enqueue. */
export const webhookIdOf = (requestId: string): string => `evt_${requestId}`;

/** The event of a final request: thin (ids, status, counts, links, usage), never contact data. */
export function webhookEvent(record: StatusRecord): WebhookEvent | undefined {
  const type = WEBHOOK_EVENT_TYPES[record.status];
  if (!type || !record.webhook) return undefined;
  const data: Record<string, unknown> = {
    requestId: record.requestId,
    status: record.status,
    createdAt: record.createdAt,
    completedAt: record.completedAt ?? record.updatedAt,
  };
  if (record.status !== 'rejected' || record.totalBatches > 0) data.totalContacts = record.totalContacts;
  const summary = recordSummary(record);
  if (summary) data.summary = summary;
  if (record.metadata) data.metadata = record.metadata;
  if (record.status !== 'rejected') data.downloadUrl = record.webhook.downloadUrl;
  if (record.usage && record.usage.estimatedCost !== undefined) data.usage = record.usage;
  if (record.status === 'rejected') {
    data.errors = (record.errors ?? []).slice(0, EVENT_ERRORS).map((e) => ({
      path: e.path.slice(0, 200),
      message: e.message.slice(0, 500),
    }));
    data.errorCount = record.errors?.length ?? 0;
  }
  const event: WebhookEvent = { type, timestamp: String(data.completedAt), data };
  if (Buffer.byteLength(JSON.stringify(event)) > MAX_EVENT_BYTES) delete data.errors;
  return event;
}

/** What the use cases that end a request need to queue its event. Unset: no webhooks (unit tests, the bench). */
export interface WebhookOutbox {
  queue: WebhookQueue;
  deliveries: WebhookDeliveries;
}

/**
 * Queues the event of a request that is final, once:
 * 1. Nothing for a request without a callbackUrl, not final, or whose event left `pending` already.
 * 2. Send its first attempt to the webhook queue.
 * 3. Mark it `queued` with a conditional write (pending → queued). A redelivered message that ends the request again
 *    finds it queued and sends nothing; a crash between 2 and 3 sends it twice, and the delivery's claim of attempt 1
 *    drops the second (one POST either way).
 */
export async function enqueueFinalEvent(
  record: StatusRecord | undefined,
  outbox: WebhookOutbox | undefined,
  log: Logger,
): Promise<boolean> {
  if (!record?.webhook || !outbox || !isFinal(record.status) || record.webhook.state !== 'pending') return false;
  const event = webhookEvent(record);
  if (!event) {
    log.warn('no webhook event type for this final status', { requestId: record.requestId, status: record.status });
    return false;
  }
  await outbox.queue.send({
    requestId: record.requestId,
    webhookId: webhookIdOf(record.requestId),
    ...(record.owner ? { owner: record.owner } : {}),
    url: record.webhook.url,
    attempt: 1,
    event,
  });
  const marked = await outbox.deliveries.markQueued(record.requestId);
  log.info('webhook queued', { requestId: record.requestId, type: event.type, marked });
  return true;
}

/** The longest wait between two attempts (and the longest Retry-After honoured). */
export const MAX_RETRY_WAIT_SECONDS = 6 * 3600;
/** Each wait is this many times the one before (before jitter and the cap); with the jitter at most 4.9×. */
const GROWTH = 4;
/** ±10% jitter: spreads retries of many events, keeps each wait within 5× the one before. */
const JITTER = 0.1;

/**
 * The wait after failed attempt `attempt` (1-based), in seconds: `first` × 4^(attempt-1), at most 6 h, ±10% jitter.
 * A Retry-After (ms) wins when given (at least a second, at most 6 h). With first = 5 s and 12 attempts the 11 waits
 * add up to at least 28 hours.
 */
export function retryDelaySeconds(attempt: number, first: number, random = Math.random, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(MAX_RETRY_WAIT_SECONDS, Math.max(1, Math.ceil(retryAfterMs / 1000)));
  const base = Math.min(MAX_RETRY_WAIT_SECONDS, first * GROWTH ** (attempt - 1));
  return Math.max(1, Math.round(base * (1 - JITTER + 2 * JITTER * random())));
}

/** SQS's longest message delay: a longer wait is a chain of such delays (`notBefore` in the message). */
export const MAX_SQS_DELAY_SECONDS = 900;

export interface DeliveryDeps {
  queue: WebhookQueue;
  deliveries: WebhookDeliveries;
  secrets: WebhookSecretStore;
  sender: WebhookSender;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  /** WEBHOOK_FIRST_RETRY_SECONDS */
  firstRetrySeconds: number;
  /** WEBHOOK_MAX_ATTEMPTS */
  maxAttempts: number;
  /** A claimed attempt older than this is taken over (its delivery crashed): longer than the function can run. */
  claimStaleMs: number;
  random?: () => number;
}

export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed' | 'dead_lettered' | 'waiting' | 'duplicate';

/** What an attempt's result means: 2xx delivered; 410 and a refused address end it; anything else may retry. */
function judge(result: WebhookAttemptResult): { ok: boolean; final: boolean; code?: number; reason?: string } {
  switch (result.kind) {
    case 'answered': {
      const code = result.statusCode;
      if (code >= 200 && code < 300) return { ok: true, final: true, code };
      if (code === 410) return { ok: false, final: true, code, reason: 'the receiver answered 410 Gone' };
      return {
        ok: false,
        final: false,
        code,
        ...(code >= 300 && code < 400 ? { reason: 'redirects are not followed' } : {}),
      };
    }
    case 'timeout':
      return { ok: false, final: false, reason: 'no answer within the timeout' };
    case 'network':
      return { ok: false, final: false, reason: result.reason };
    case 'refused':
      return { ok: false, final: true, reason: result.reason };
  }
}

/**
 * One message of the webhook queue:
 * 1. A wait longer than SQS's 15-minute delay not over yet (`notBefore`): re-send the message with the rest of it.
 * 2. Claim the attempt on the status item (conditional): a duplicate message finds it taken and is dropped.
 * 3. Sign the event with the owner's secrets (made by the create call) (the previous one too during a rotation's overlap): the same webhook-id,
 *    a new webhook-timestamp and signature.
 * 4. POST it (src/adapters/webhookHttp.ts: 10 s, no redirects, SSRF rules after DNS).
 * 5. 2xx: delivered. 410 or a refused address: failed for good. Otherwise, with attempts left: the next attempt is sent
 *    to the queue with its delay (the ladder, or Retry-After) and the webhook is `retrying`; without: `failed`, and
 *    the event goes to the dead-letter queue.
 * 6. Record the outcome on the status item and count it.
 */
export async function deliverWebhook(message: WebhookMessage, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const now = deps.clock.now();
  const log = deps.log.child({ requestId: message.requestId, webhookId: message.webhookId });
  const waitMs = (message.notBefore ?? 0) - now.getTime();
  if (waitMs > 1000) {
    await deps.queue.send(message, { delaySeconds: Math.min(MAX_SQS_DELAY_SECONDS, Math.ceil(waitMs / 1000)) });
    deps.metrics?.emit('webhookDelivery', 1, { outcome: 'waiting' });
    return 'waiting';
  }
  const attempt = message.exhausted ? message.attempt + 1 : message.attempt;
  const staleBefore = new Date(now.getTime() - deps.claimStaleMs).toISOString();
  if (
    !(await deps.deliveries.claimAttempt(message.requestId, attempt, now.toISOString(), staleBefore, message.exhausted))
  ) {
    log.info('webhook attempt already claimed or done: message dropped', { attempt });
    deps.metrics?.emit('webhookDelivery', 1, { outcome: 'duplicate' });
    return 'duplicate';
  }
  // The create call made the owner's secret (a callbackUrl's first use): the delivery only reads it.
  const secrets = await deps.secrets.get(secretOwner(message.owner));
  if (!secrets) throw new Error('the owner has no webhook signing secret');
  const body = JSON.stringify(message.event);
  const sentAt = deps.clock.now();
  const headers = signedHeaders(message.webhookId, body, signingSecrets(secrets, sentAt), sentAt);
  const result = await deps.sender.post(message.url, headers, body);
  const verdict = judge(result);
  const record = (r: WebhookAttemptRecord) => deps.deliveries.recordAttempt(message.requestId, attempt, r);
  const code = verdict.code !== undefined ? { lastStatusCode: verdict.code } : {};
  const reason = verdict.reason ? { reason: verdict.reason } : {};
  let outcome: DeliveryOutcome;
  if (verdict.ok) {
    await record({ state: 'delivered', ...code, deliveredAt: deps.clock.now().toISOString() });
    outcome = 'delivered';
  } else if (verdict.final) {
    await record({ state: 'failed', ...code, ...reason });
    outcome = 'failed';
  } else if (attempt < deps.maxAttempts && !message.exhausted) {
    const retryAfterMs = result.kind === 'answered' ? result.retryAfterMs : undefined;
    const wait = retryDelaySeconds(attempt, deps.firstRetrySeconds, deps.random, retryAfterMs);
    const next: WebhookMessage = { ...message, attempt: attempt + 1 };
    delete next.notBefore;
    if (wait > MAX_SQS_DELAY_SECONDS) next.notBefore = now.getTime() + wait * 1000;
    await deps.queue.send(next, { delaySeconds: Math.min(MAX_SQS_DELAY_SECONDS, wait) });
    await record({ state: 'retrying', ...code, ...reason });
    outcome = 'retrying';
    log.info('webhook attempt failed: retrying', { attempt, ...code, ...reason, waitSeconds: wait });
  } else {
    await deps.queue.deadLetter({ ...message, attempt, exhausted: true, notBefore: undefined });
    await record({ state: 'failed', ...code, reason: verdict.reason ?? `no 2xx in ${attempt} attempts` });
    outcome = 'dead_lettered';
  }
  deps.metrics?.emit('webhookDelivery', 1, { outcome });
  if (outcome !== 'retrying') log.info('webhook attempt ended', { attempt, outcome, ...code, ...reason });
  return outcome;
}
