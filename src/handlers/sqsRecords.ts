import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { BatchMessageSchema, type BatchMessage } from '../schemas/message';
import { logger } from '../logger';

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
        await handle(message, Number(record.attributes?.ApproximateReceiveCount ?? 1));
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
