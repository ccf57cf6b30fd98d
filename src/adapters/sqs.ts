import {
  GetQueueUrlCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { config } from '../config';
import { groupForSendBatch, mapLimit, SQS_BATCH_MAX_BYTES, SQS_BATCH_MAX_ENTRIES } from '../core/batching';
import type { AssemblyQueue, BatchQueue, IntakeQueue, WebhookQueue } from '../core/ports';
import { encodeMessageBody, type BatchMessage } from '../schemas/message';
import { sqsClient } from './clients';

const MAX_ENTRY_ATTEMPTS = 5;
const SEND_CONCURRENCY = 16;
/**
 * Room kept per entry for the `_datadog` message attribute dd-trace adds on the send (the trace context, about
 * 300 bytes): SQS counts attributes in the 256 KiB limit.
 */
export const TRACE_ATTRIBUTE_RESERVE_BYTES = 1024;

/** Per client (one per function), as each Lambda function has its own cold start. */
let urls = new WeakMap<SQSClient, Map<string, Promise<string>>>();

/** Queue URLs are looked up by name once per cold start (they differ between AWS and the emulator). */
export function queueUrl(name: string, client: SQSClient = sqsClient()): Promise<string> {
  let known = urls.get(client);
  if (!known) urls.set(client, (known = new Map()));
  let url = known.get(name);
  if (!url) {
    url = client.send(new GetQueueUrlCommand({ QueueName: name })).then((r) => r.QueueUrl!);
    url.catch(() => known.delete(name));
    known.set(name, url);
  }
  return url;
}

export function resetQueueUrls(): void {
  urls = new WeakMap();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends entries with SendMessageBatch, re-sending the entries that the call reports as failed. */
async function sendGroup(client: SQSClient, url: string, entries: SendMessageBatchRequestEntry[]): Promise<void> {
  let pending = entries;
  for (let attempt = 1; pending.length; attempt++) {
    const res = await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: pending }));
    const failed = new Set((res.Failed ?? []).map((f) => f.Id));
    const senderFault = (res.Failed ?? []).find((f) => f.SenderFault);
    if (senderFault)
      throw new Error(`SQS rejected message ${senderFault.Id}: ${senderFault.Code} ${senderFault.Message}`);
    pending = pending.filter((e) => failed.has(e.Id));
    if (pending.length && attempt >= MAX_ENTRY_ATTEMPTS) {
      throw new Error(`${pending.length} SQS entries still failing after ${attempt} attempts`);
    }
    if (pending.length) await sleep(Math.random() * 100 * 2 ** attempt);
  }
}

export function sqsBatchQueue(name = config().BATCH_QUEUE_NAME, client = sqsClient()): BatchQueue {
  return {
    async send(messages: BatchMessage[], opts = {}) {
      if (!messages.length) return;
      const delay = opts.delaySeconds
        ? { DelaySeconds: Math.min(900, Math.max(0, Math.round(opts.delaySeconds))) }
        : {};
      const url = await queueUrl(name, client);
      const bodies = messages.map(encodeMessageBody);
      const groups = groupForSendBatch(
        bodies,
        SQS_BATCH_MAX_ENTRIES,
        SQS_BATCH_MAX_BYTES,
        TRACE_ATTRIBUTE_RESERVE_BYTES,
      );
      await mapLimit(groups, SEND_CONCURRENCY, (group) =>
        sendGroup(
          client,
          url,
          group.map((i) => ({ Id: `b${messages[i].batchIndex}`, MessageBody: bodies[i], ...delay })),
        ),
      );
    },
  };
}

/** The intake function's queue (one message per intake run). */
export function sqsIntakeQueue(name = config().INTAKE_QUEUE_NAME, client = sqsClient()): IntakeQueue {
  return {
    async send(message) {
      await client.send(
        new SendMessageCommand({ QueueUrl: await queueUrl(name, client), MessageBody: JSON.stringify(message) }),
      );
    },
  };
}

/** The assembleOutput function's queue (one message per request to assemble). */
export function sqsAssemblyQueue(name = config().ASSEMBLY_QUEUE_NAME, client = sqsClient()): AssemblyQueue {
  return {
    async send(message) {
      await client.send(
        new SendMessageCommand({ QueueUrl: await queueUrl(name, client), MessageBody: JSON.stringify(message) }),
      );
    },
  };
}

/** The webhook delivery function's queue (each attempt a message, delayed for its wait) and its dead-letter queue. */
export function sqsWebhookQueue(
  name = config().WEBHOOK_QUEUE_NAME,
  dlqName = config().WEBHOOK_DLQ_NAME,
  client = sqsClient(),
): WebhookQueue {
  return {
    async send(message, opts = {}) {
      const delay = opts.delaySeconds ? Math.min(900, Math.max(0, Math.round(opts.delaySeconds))) : 0;
      await client.send(
        new SendMessageCommand({
          QueueUrl: await queueUrl(name, client),
          MessageBody: encodeMessageBody(message),
          ...(delay ? { DelaySeconds: delay } : {}),
        }),
      );
    },
    async deadLetter(message) {
      await client.send(
        new SendMessageCommand({ QueueUrl: await queueUrl(dlqName, client), MessageBody: encodeMessageBody(message) }),
      );
    },
  };
}
