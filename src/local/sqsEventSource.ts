import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Logger } from '../logger';

export interface EventSourceOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
  /** Calls the function; a rejection means the whole batch failed, as an unhandled Lambda error does. */
  invoke(event: SQSEvent): Promise<unknown>;
  /** How many batches run at once (Lambda's concurrency for this mapping). */
  concurrency?: number;
  /**
   * Overrides the queue's visibility timeout on receive, so failed messages come back sooner locally.
   * While the function runs its messages are kept hidden (renewed every half period), as on AWS,
   * where the queue's visibility timeout is at least the function's timeout.
   */
  visibilityTimeout?: number;
  /**
   * The client that renews that visibility: this stand-in's own need (on AWS the queue's visibility
   * outlasts the function), so not the function's role but the emulator's operator; default `sqs`.
   */
  renewSqs?: SQSClient;
  waitTimeSeconds?: number;
  log?: Logger;
}

export interface EventSource {
  stop(): Promise<void>;
}

/** Messages as Lambda's SQS event source delivers them (message attributes too: the `_datadog` trace context). */
export function toEvent(messages: Message[], arn: string, region: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? 'local',
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([name, a]) => [
          name,
          {
            dataType: a.DataType ?? 'String',
            stringValue: a.StringValue,
            binaryValue: a.BinaryValue && Buffer.from(a.BinaryValue).toString('base64'),
          },
        ]),
      ),
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: arn,
      awsRegion: region,
    })),
  };
}

/**
 * A local stand-in for Lambda's SQS event source mapping: polls a queue, invokes the function
 * with an SQS event, and deletes only the messages that succeeded. With ReportBatchItemFailures
 * the listed messages stay on the queue and come back after the visibility timeout, so retries
 * and the dead-letter redrive behave as they do on AWS.
 */
export function startSqsEventSource(opts: EventSourceOptions): EventSource {
  let running = true;
  const region = opts.queueArn.split(':')[3] ?? 'us-east-1';
  const abort = new AbortController();
  // Every poller's receive listens on it: more than Node's default 10 with LOCAL_WORKERS above 9 is expected, not a leak.
  setMaxListeners((opts.concurrency ?? 4) + 1, abort.signal);

  /** Keeps in-flight messages hidden until stopped, so a short local visibility never redelivers a running batch. */
  function keepHidden(messages: Message[]): () => void {
    const seconds = opts.visibilityTimeout;
    if (!seconds) return () => undefined;
    const timer = setInterval(
      () => {
        (opts.renewSqs ?? opts.sqs)
          .send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: opts.queueUrl,
              Entries: messages.map((m, i) => ({
                Id: `v${i}`,
                ReceiptHandle: m.ReceiptHandle!,
                VisibilityTimeout: seconds,
              })),
            }),
          )
          .catch((err: unknown) =>
            opts.log?.warn('could not extend the visibility of running messages', { queue: opts.queueUrl, err }),
          );
      },
      (seconds * 1000) / 2,
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  async function handle(messages: Message[]): Promise<void> {
    let failedIds = new Set<string>(messages.map((m) => m.MessageId!));
    const release = keepHidden(messages);
    try {
      const result = (await opts.invoke(toEvent(messages, opts.queueArn, region))) as SQSBatchResponse | undefined;
      const reported = opts.reportBatchItemFailures ? (result?.batchItemFailures ?? []) : [];
      failedIds = new Set(reported.map((f) => f.itemIdentifier));
    } catch (err) {
      opts.log?.warn('function failed; the batch will be retried', { queue: opts.queueUrl, err });
    } finally {
      release();
    }
    const done = messages.filter((m) => !failedIds.has(m.MessageId!));
    if (done.length) {
      await opts.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: opts.queueUrl,
          Entries: done.map((m) => ({ Id: randomUUID(), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  }

  async function loop(): Promise<void> {
    while (running) {
      try {
        const res = await opts.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: opts.queueUrl,
            MaxNumberOfMessages: Math.min(opts.batchSize, 10),
            WaitTimeSeconds: opts.waitTimeSeconds ?? 1,
            VisibilityTimeout: opts.visibilityTimeout,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        );
        if (res.Messages?.length) await handle(res.Messages);
      } catch (err) {
        if (!running) return;
        opts.log?.warn('polling failed; retrying', { queue: opts.queueUrl, err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  const loops = Array.from({ length: opts.concurrency ?? 4 }, () => loop());
  return {
    async stop() {
      running = false;
      abort.abort();
      await Promise.allSettled(loops);
    },
  };
}
