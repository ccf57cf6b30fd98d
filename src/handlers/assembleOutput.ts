import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { assembleOutput, type AssembleDeps } from '../core/assembleOutput';
import { logger } from '../logger';
import { AssemblyMessageSchema } from '../schemas/message';
import { inRecordTrace, lambdaHandler } from './sqsRecords';
import { assemblyDeps } from './wiring';

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * Triggered by the assembly queue (batchSize 1): assembles one large request's output. A failure is reported
 * for its record, so SQS redelivers it (and in the end dead-letters it; reconcile queues it again).
 */
export function makeHandler(deps: () => AssembleDeps = assemblyDeps) {
  return lambdaHandler(async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      const parsed = AssemblyMessageSchema.safeParse(parseJson(record.body));
      if (!parsed.success) {
        logger.error('malformed assembly message dropped', { messageId: record.messageId });
        continue;
      }
      const { requestId } = parsed.data;
      try {
        const outcome = await inRecordTrace(record, () => assembleOutput(requestId, deps()));
        logger.info('assembly message handled', { requestId, outcome });
      } catch (err) {
        logger.error('assembly failed; it will be retried', { requestId, messageId: record.messageId, err });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  });
}

export const handler = makeHandler();
