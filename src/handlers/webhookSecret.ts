import {
  rotateWebhookSecrets,
  ensureWebhookSecrets,
  secretAnswer,
  secretOwner,
  type SecretDeps,
} from '../core/webhookSecrets';
import { httpHandler, json, ownerOf } from './http';
import { secretDeps } from './wiring';

/**
 * GET /enrichment/webhook-secret: the caller's signing secret (made on first use), and the previous one while it still
 * signs. POST /enrichment/webhook-secret/rotate: a new one (the old one signs beside it for the overlap). The secrets
 * are the API key owner's; they are never logged.
 */
export function makeHandler(deps: () => SecretDeps = secretDeps) {
  return httpHandler(async (event) => {
    const d = deps();
    const owner = secretOwner(ownerOf(event));
    const rotate = event.httpMethod === 'POST';
    const secrets = rotate ? await rotateWebhookSecrets(owner, d) : await ensureWebhookSecrets(owner, d);
    return json(200, secretAnswer(secrets, d.clock.now()), { 'cache-control': 'no-store' });
  });
}

export const handler = makeHandler();
