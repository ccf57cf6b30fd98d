import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Random bytes of a signing secret (Standard Webhooks asks for 24 to 64). */
export const SECRET_BYTES = 32;

/** A new signing secret: `whsec_` and the base64 of SECRET_BYTES random bytes (the form standardwebhooks reads). */
export const newWebhookSecret = (): string => `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;

/**
 * An API key owner's signing secrets (`whsec#<owner>` in the status table). After a rotation the previous secret
 * signs too until `previousUntil` (the overlap, WEBHOOK_SECRET_OVERLAP_HOURS).
 */
export interface WebhookSecrets {
  current: string;
  createdAt: string;
  previous?: string;
  previousUntil?: string;
}

/** The secrets that sign at `now`: the current one, and the previous one while its overlap lasts. */
export function signingSecrets(secrets: WebhookSecrets, now: Date): string[] {
  const previousSigns =
    secrets.previous !== undefined && secrets.previousUntil !== undefined && now.toISOString() < secrets.previousUntil;
  return previousSigns ? [secrets.current, secrets.previous!] : [secrets.current];
}

/**
 * The Standard Webhooks headers of one attempt. The signed content is `${webhook-id}.${webhook-timestamp}.${body}`
 * (the body byte for byte as sent), HMAC-SHA256 with the base64-decoded secret; `webhook-signature` holds one
 * `v1,<base64>` per signing secret, separated by spaces. `id` is the same on every attempt; the timestamp (seconds)
 * and so the signatures are new each time.
 */
export function signedHeaders(id: string, body: string, secrets: readonly string[], now: Date): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': secrets.map((s) => new Webhook(s).sign(id, now, body)).join(' '),
  };
}
