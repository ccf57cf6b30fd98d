import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { runIntake, type IntakeDeps } from '../core/intake';
import { logger } from '../logger';
import { IntakeMessageSchema } from '../schemas/message';

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
import { budgetOf } from './processBatch';
import { inRecordTrace, lambdaHandler, type LambdaContext } from './sqsRecords';
import { intakeDeps } from './wiring';

/**
 * Triggered by the intake queue (batchSize 1): takes in one referenced upload, or goes on from its
 * checkpoint. A failure is reported for its record, so SQS redelivers it (and in the end dead-letters it).
 */
export function makeHandler(deps: () => IntakeDeps = intakeDeps) {
  return lambdaHandler(async (event: SQSEvent, context?: LambdaContext): Promise<SQSBatchResponse> => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      const parsed = IntakeMessageSchema.safeParse(parseJson(record.body));
      if (!parsed.success) {
        logger.error('malformed intake message dropped', { messageId: record.messageId });
        continue;
      }
      try {
        await inRecordTrace(record, () => runIntake(parsed.data.requestId, deps(), budgetOf(context)));
      } catch (err) {
        logger.error('intake failed; it will be retried from its checkpoint', { requestId: parsed.data.requestId, messageId: record.messageId, err });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  });
}

export const handler = makeHandler();
