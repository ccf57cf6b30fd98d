import { z } from 'zod';

/**
 * Where a request's completion webhook is (docs/api.md: Webhooks). `pending`: the request is not final yet;
 * `queued`: its event is on the webhook queue; `sending`: an attempt is under way; `retrying`: an attempt failed and the
 * next one waits; `delivered`: a 2xx; `failed`: given up (410, a refused address, or every attempt failed: the event is
 * in the webhook dead-letter queue).
 */
export const WEBHOOK_STATES = ['pending', 'queued', 'sending', 'retrying', 'delivered', 'failed'] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

/** The `webhook` map of a status item with a callbackUrl. Only state, attempts, lastStatusCode, deliveredAt and reason are shown. */
export const WebhookRecordSchema = z.object({
  url: z.string(),
  /** The request's download link as its create call answered it (the event repeats it). */
  downloadUrl: z.string(),
  state: z.enum(WEBHOOK_STATES),
  attempts: z.number().int().min(0),
  lastStatusCode: z.number().int().optional(),
  deliveredAt: z.string().optional(),
  /** Why the last attempt failed without a status code (timeout, network, a refused address), or why it was given up. */
  reason: z.string().optional(),
  /** When the current attempt was claimed (a claim older than the delivery can run is taken over). */
  claimedAt: z.string().optional(),
});
export type WebhookRecord = z.infer<typeof WebhookRecordSchema>;

/** The event a receiver gets (docs/openapi.yaml `webhooks:`): thin, under 20 KB. */
export interface WebhookEvent {
  type: string;
  /** When the request became final (its completedAt): the same on every attempt. */
  timestamp: string;
  data: Record<string, unknown>;
}

/**
 * A message of the webhook queue: one attempt (1 for the first) to deliver a request's event. The event travels in
 * the message (it never changes); `notBefore` (epoch ms) is set for a wait longer than SQS's 15-minute delay: the
 * delivery function re-sends the message until then. `exhausted`: every attempt failed (the dead-letter queue's
 * messages); redriven to the queue, such a message makes one more attempt.
 */
export const WebhookMessageSchema = z.object({
  requestId: z.uuid(),
  webhookId: z.string().min(1),
  owner: z.string().optional(),
  url: z.string().min(1),
  attempt: z.number().int().min(1),
  notBefore: z.number().int().optional(),
  exhausted: z.literal(true).optional(),
  event: z.object({ type: z.string(), timestamp: z.string(), data: z.record(z.string(), z.unknown()) }),
});
export type WebhookMessage = z.infer<typeof WebhookMessageSchema>;
