import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../config';
import type { WebhookSecretStore } from '../core/ports';
import type { WebhookSecrets } from '../core/webhookSigning';
import { documentClient } from './clients';
import { conditional } from './statusTable';

/** An owner's secrets share the status table: key `whsec#<owner id>`, no TTL (they live as long as the key is used). */
const secretKey = (owner: string) => `whsec#${owner}`;

const toSecrets = (item: Record<string, unknown> | undefined): WebhookSecrets | undefined =>
  item
    ? {
        current: String(item.current),
        createdAt: String(item.createdAt),
        ...(typeof item.previous === 'string' ? { previous: item.previous } : {}),
        ...(typeof item.previousUntil === 'string' ? { previousUntil: item.previousUntil } : {}),
      }
    : undefined;

/** The webhook signing secrets (src/core/webhookSecrets.ts). Never logged: callers pass them to the signer only. */
export function dynamoWebhookSecrets(table = config().TABLE_NAME, db = documentClient()): WebhookSecretStore {
  const item = (owner: string, s: WebhookSecrets) => ({ requestId: secretKey(owner), kind: 'webhook-secret', ...s });
  return {
    async get(owner) {
      const res = await db.send(
        new GetCommand({ TableName: table, Key: { requestId: secretKey(owner) }, ConsistentRead: true }),
      );
      return toSecrets(res.Item);
    },
    create: (owner, secrets) =>
      conditional(
        db.send(
          new PutCommand({
            TableName: table,
            Item: item(owner, secrets),
            ConditionExpression: 'attribute_not_exists(requestId)',
          }),
        ),
      ),
    replace: (owner, secrets, expectedCurrent) =>
      conditional(
        db.send(
          new PutCommand({
            TableName: table,
            Item: item(owner, secrets),
            ConditionExpression: '#current = :expected',
            ExpressionAttributeNames: { '#current': 'current' },
            ExpressionAttributeValues: { ':expected': expectedCurrent },
          }),
        ),
      ),
  };
}
