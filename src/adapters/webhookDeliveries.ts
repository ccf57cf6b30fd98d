import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../config';
import type { WebhookDeliveries } from '../core/ports';
import { documentClient } from './clients';
import { conditional } from './statusTable';

/**
 * The `webhook` map of the status items (src/schemas/webhook.ts): each method is one conditional UpdateItem.
 * `state` is a DynamoDB reserved word, hence the names.
 */
export function dynamoWebhookDeliveries(table = config().TABLE_NAME, db = documentClient()): WebhookDeliveries {
  const names = { '#w': 'webhook', '#s': 'state' };
  return {
    markQueued: (requestId) =>
      conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: 'SET #w.#s = :queued',
            ConditionExpression: '#w.#s = :pending',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':queued': 'queued', ':pending': 'pending' },
          }),
        ),
      ),
    claimAttempt: (requestId, attempt, now, staleBefore, afterFailed) =>
      conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: 'SET #w.#s = :sending, #w.attempts = :n, #w.claimedAt = :now',
            // The next attempt after a free state (or a stale claim); or this attempt again after a stale claim.
            ConditionExpression: `(#w.attempts = :prev AND (#w.#s IN (:pending, :queued, :retrying${afterFailed ? ', :failed' : ''}) OR (#w.#s = :sending AND #w.claimedAt < :stale))) OR (#w.attempts = :n AND #w.#s = :sending AND #w.claimedAt < :stale)`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: {
              ':sending': 'sending',
              ':pending': 'pending',
              ':queued': 'queued',
              ':retrying': 'retrying',
              ...(afterFailed ? { ':failed': 'failed' } : {}),
              ':n': attempt,
              ':prev': attempt - 1,
              ':now': now,
              ':stale': staleBefore,
            },
          }),
        ),
      ),
    async recordAttempt(requestId, attempt, result) {
      const sets = ['#w.#s = :state'];
      const values: Record<string, unknown> = { ':state': result.state, ':n': attempt, ':sending': 'sending' };
      for (const field of ['lastStatusCode', 'deliveredAt', 'reason'] as const) {
        if (result[field] === undefined) continue;
        sets.push(`#w.${field} = :${field}`);
        values[`:${field}`] = result[field];
      }
      // A status code or reason of an earlier attempt does not describe this one.
      const removes = (['lastStatusCode', 'reason'] as const)
        .filter((f) => result[f] === undefined)
        .map((f) => `#w.${f}`);
      await conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId },
            UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression: '#w.attempts = :n AND #w.#s = :sending',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
      );
    },
  };
}
