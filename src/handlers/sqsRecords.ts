import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { withMessageContext } from '../adapters/tracing';
import { BatchMessageSchema, type BatchMessage } from '../schemas/message';
import { logger, withInvocation } from '../logger';

/** The part of Lambda's context the SQS functions use: the deadline, and the request id for the logs. */
export type LambdaContext = Pick<Context, 'getRemainingTimeInMillis'> & Partial<Pick<Context, 'awsRequestId'>>;

/** Every SQS function's wrapper (reconcile does the same): the invocation's awsRequestId on every log line. */
export function lambdaHandler<E, R>(fn: (event: E, context?: LambdaContext) => Promise<R>): (event: E, context?: LambdaContext) => Promise<R> {
  return (event, context) => withInvocation({ awsRequestId: context?.awsRequestId }, () => fn(event, context));
}

/** Handles one record in the trace its message came with (src/adapters/tracing.ts). */
export const inRecordTrace = <T>(record: Pick<SQSRecord, 'messageAttributes'>, fn: () => Promise<T>): Promise<T> =>
  withMessageContext(record.messageAttributes, fn);

/**
 * Runs `handle` for every record and reports failures per record (ReportBatchItemFailures),
 * so one bad message never makes Lambda retry its neighbours. A message that does not parse
 * can never succeed: it is logged and dropped instead of cycling through retries.
 */
export async function forEachBatchMessage(
  event: SQSEvent,
  handle: (message: BatchMessage, receiveCount: number) => Promise<unknown>,
): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      let message: BatchMessage;
      try {
        message = BatchMessageSchema.parse(JSON.parse(record.body));
      } catch {
        logger.error('malformed batch message dropped', { messageId: record.messageId });
        return;
      }
      try {
        await inRecordTrace(record, () => handle(message, Number(record.attributes?.ApproximateReceiveCount ?? 1)));
      } catch (err) {
        logger.error('batch message failed; it will be retried', {
          requestId: message.requestId,
          batchIndex: message.batchIndex,
          messageId: record.messageId,
          err,
        });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }),
  );
  return { batchItemFailures };
}
