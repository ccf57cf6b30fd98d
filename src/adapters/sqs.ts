import { GetQueueUrlCommand, SendMessageBatchCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { config } from '../config';
import { groupForSendBatch, mapLimit } from '../core/batching';
import type { BatchQueue } from '../core/ports';
import type { BatchMessage } from '../schemas/message';
import { sqsClient } from './clients';

const MAX_ENTRY_ATTEMPTS = 5;
const SEND_CONCURRENCY = 16;

const urls = new Map<string, Promise<string>>();

/** Queue URLs are looked up by name once per cold start (they differ between AWS and the emulator). */
export function queueUrl(name: string): Promise<string> {
  let url = urls.get(name);
  if (!url) {
    url = sqsClient()
      .send(new GetQueueUrlCommand({ QueueName: name }))
      .then((r) => r.QueueUrl!);
    url.catch(() => urls.delete(name));
    urls.set(name, url);
  }
  return url;
}

export function resetQueueUrls(): void {
  urls.clear();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends entries with SendMessageBatch, re-sending the entries that the call reports as failed. */
async function sendGroup(url: string, entries: SendMessageBatchRequestEntry[]): Promise<void> {
  let pending = entries;
  for (let attempt = 1; pending.length; attempt++) {
    const res = await sqsClient().send(new SendMessageBatchCommand({ QueueUrl: url, Entries: pending }));
    const failed = new Set((res.Failed ?? []).map((f) => f.Id));
    const senderFault = (res.Failed ?? []).find((f) => f.SenderFault);
    if (senderFault) throw new Error(`SQS rejected message ${senderFault.Id}: ${senderFault.Code} ${senderFault.Message}`);
    pending = pending.filter((e) => failed.has(e.Id));
    if (pending.length && attempt >= MAX_ENTRY_ATTEMPTS) {
      throw new Error(`${pending.length} SQS entries still failing after ${attempt} attempts`);
    }
    if (pending.length) await sleep(Math.random() * 100 * 2 ** attempt);
  }
}

export function sqsBatchQueue(name = config().BATCH_QUEUE_NAME): BatchQueue {
  return {
    async send(messages: BatchMessage[]) {
      if (!messages.length) return;
      const url = await queueUrl(name);
      const bodies = messages.map((m) => JSON.stringify(m));
      const groups = groupForSendBatch(bodies);
      await mapLimit(groups, SEND_CONCURRENCY, (group) =>
        sendGroup(
          url,
          group.map((i) => ({ Id: `b${messages[i].batchIndex}`, MessageBody: bodies[i] })),
        ),
      );
    },
  };
}
