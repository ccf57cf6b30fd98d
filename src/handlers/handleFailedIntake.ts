import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { IntakeDeps } from '../core/intake';
import { logger } from '../logger';
import { IntakeMessageSchema } from '../schemas/message';

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
import { lambdaHandler } from './sqsRecords';
import { intakeDeps } from './wiring';

export const INTAKE_DLQ_MESSAGE = 'the upload could not be taken in: its intake kept failing (see the service logs); submit it again';

/**
 * Triggered by the intake's dead-letter queue: a request whose intake kept failing ends `rejected` with a
 * reason, so no client waits on a `validating` request for ever. Nothing was sent for it if it never left
 * validating; if it did, the condition fails and nothing changes.
 */
export function makeHandler(deps: () => Pick<IntakeDeps, 'status' | 'clock'> = intakeDeps) {
  return lambdaHandler(async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      const parsed = IntakeMessageSchema.safeParse(parseJson(record.body));
      if (!parsed.success) continue;
      try {
        const { status, clock } = deps();
        const ended = await status.reject(parsed.data.requestId, [{ path: 'contacts', message: INTAKE_DLQ_MESSAGE }], clock.now().toISOString());
        logger.warn('intake dead-lettered', { requestId: parsed.data.requestId, rejected: ended });
      } catch (err) {
        logger.error('ending a dead-lettered intake failed; it will be retried', { requestId: parsed.data.requestId, err });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  });
}

export const handler = makeHandler();
