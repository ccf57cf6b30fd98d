import type { Clock, WebhookSecretStore } from './ports';
import { newWebhookSecret, type WebhookSecrets } from './webhookSigning';

/** The secrets' key on a stage without API keys (every request has no owner there): one secret for the service. */
export const NO_OWNER = '-';
export const secretOwner = (owner: string | undefined): string => owner ?? NO_OWNER;

/** What GET /enrichment/webhook-secret answers: the current secret, and the previous one while it still signs. */
export interface SecretAnswer {
  secret: string;
  previousSecret?: string;
  previousSecretExpiresAt?: string;
}

export interface SecretDeps {
  secrets: WebhookSecretStore;
  clock: Clock;
  /** How long a rotated-out secret goes on signing (WEBHOOK_SECRET_OVERLAP_HOURS). */
  overlapHours: number;
}

/**
 * The owner's secrets, made on first use:
 * 1. Read them. 2. None: write new ones with a conditional put; a concurrent first use that won is read instead.
 */
export async function ensureWebhookSecrets(
  owner: string,
  deps: Pick<SecretDeps, 'secrets' | 'clock'>,
): Promise<WebhookSecrets> {
  const found = await deps.secrets.get(owner);
  if (found) return found;
  const made: WebhookSecrets = { current: newWebhookSecret(), createdAt: deps.clock.now().toISOString() };
  if (await deps.secrets.create(owner, made)) return made;
  const winner = await deps.secrets.get(owner);
  if (!winner) throw new Error('the webhook secret was neither written nor found');
  return winner;
}

/**
 * A new current secret:
 * 1. Read (or make) the owner's secrets.
 * 2. Replace them with a new one, the current one becoming `previous` for the overlap, with a conditional write; a
 *    concurrent rotation that won is answered instead (two rotations at once make one new secret).
 */
export async function rotateWebhookSecrets(owner: string, deps: SecretDeps): Promise<WebhookSecrets> {
  const before = await ensureWebhookSecrets(owner, deps);
  const now = deps.clock.now();
  const next: WebhookSecrets = {
    current: newWebhookSecret(),
    createdAt: now.toISOString(),
    previous: before.current,
    previousUntil: new Date(now.getTime() + deps.overlapHours * 3_600_000).toISOString(),
  };
  if (await deps.secrets.replace(owner, next, before.current)) return next;
  return (await deps.secrets.get(owner)) ?? next;
}

/** The answer of both secret routes: the previous secret only while it still signs. */
export function secretAnswer(secrets: WebhookSecrets, now: Date): SecretAnswer {
  const previousSigns = secrets.previous && secrets.previousUntil && now.toISOString() < secrets.previousUntil;
  return previousSigns
    ? { secret: secrets.current, previousSecret: secrets.previous, previousSecretExpiresAt: secrets.previousUntil }
    : { secret: secrets.current };
}
