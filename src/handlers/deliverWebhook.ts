import type { SQSEvent } from 'aws-lambda';
import { deliverWebhook, type DeliveryDeps } from '../core/webhooks';
import { WebhookMessageSchema } from '../schemas/webhook';
import { forEachRecord, lambdaHandler } from './sqsRecords';
import { deliveryDeps } from './wiring';

/**
 * Triggered by the webhook queue (batchSize 1): one attempt to deliver a request's completion event. A failed attempt
 * is not an error (the next attempt is a new, delayed message); only a failure of the function itself (DynamoDB, SQS)
 * is reported for its record, so SQS redelivers it (and after maxReceiveCount dead-letters it).
 */
export function makeHandler(deps: () => DeliveryDeps = deliveryDeps) {
  return lambdaHandler((event: SQSEvent) =>
    forEachRecord(event, WebhookMessageSchema, (message) => deliverWebhook(message, deps())),
  );
}

export const handler = makeHandler();
