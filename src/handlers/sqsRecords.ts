import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { withMessageContext } from '../adapters/tracing';
import type { TimeBudget } from '../core/ports';
import { BatchMessageSchema, type BatchMessage } from '../schemas/message';
import { logger, withInvocation } from '../logger';

/** The part of Lambda's context the SQS functions use: the deadline, and the request id for the logs. */
export type LambdaContext = Pick<Context, 'getRemainingTimeInMillis'> & Partial<Pick<Context, 'awsRequestId'>>;

/** The invocation's deadline as the core sees it; no limit without a context (direct calls in tests). */
export const budgetOf = (context?: LambdaContext): TimeBudget | undefined =>
  context && { remainingMs: () => context.getRemainingTimeInMillis() };

/** Every SQS function's wrapper (reconcile does the same): the invocation's awsRequestId on every log line. */
export function lambdaHandler<E, R>(
  fn: (event: E, context?: LambdaContext) => Promise<R>,
): (event: E, context?: LambdaContext) => Promise<R> {
  return (event, context) => withInvocation({ awsRequestId: context?.awsRequestId }, () => fn(event, context));
}

/** Handles one record in the trace its message came with (src/adapters/tracing.ts). */
const inRecordTrace = <T>(record: Pick<SQSRecord, 'messageAttributes'>, fn: () => Promise<T>): Promise<T> =>
  withMessageContext(record.messageAttributes, fn);

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * Every SQS function's record loop: parses each record's body with `schema`, runs `handle` in the trace its
 * message came with, and reports failures per record (ReportBatchItemFailures), so one bad message never makes
 * Lambda retry its neighbours. A message that does not parse can never succeed: it is logged and dropped
 * instead of cycling through retries.
 */
export async function forEachRecord<M extends { requestId: string; batchIndex?: number }>(
  event: SQSEvent,
  schema: z.ZodType<M>,
  handle: (message: M, record: SQSRecord) => Promise<unknown>,
): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      const parsed = schema.safeParse(parseJson(record.body));
      if (!parsed.success) {
        logger.error('malformed message dropped', { messageId: record.messageId, queue: record.eventSourceARN });
        return;
      }
      const { requestId, batchIndex } = parsed.data;
      try {
        await inRecordTrace(record, () => handle(parsed.data, record));
      } catch (err) {
        logger.error('message failed; it will be retried', {
          requestId,
          batchIndex,
          messageId: record.messageId,
          queue: record.eventSourceARN,
          err,
        });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }),
  );
  return { batchItemFailures };
}

/** The batch queue's and its DLQ's loop: each batch message with its delivery count (1 on the first delivery). */
export const forEachBatchMessage = (
  event: SQSEvent,
  handle: (message: BatchMessage, receiveCount: number) => Promise<unknown>,
) =>
  forEachRecord(event, BatchMessageSchema, (message, record) =>
    handle(message, Number(record.attributes?.ApproximateReceiveCount ?? 1)),
  );
