import type { SQSEvent } from 'aws-lambda';
import { assembleOutput, type AssembleDeps } from '../core/assembleOutput';
import { logger } from '../logger';
import { AssemblyMessageSchema } from '../schemas/message';
import { forEachRecord, lambdaHandler } from './sqsRecords';
import { assemblyDeps } from './wiring';

/**
 * Triggered by the assembly queue (batchSize 1): assembles one large request's output. A failure is reported
 * for its record, so SQS redelivers it (and in the end dead-letters it; reconcile queues it again).
 */
export function makeHandler(deps: () => AssembleDeps = assemblyDeps) {
  return lambdaHandler((event: SQSEvent) =>
    forEachRecord(event, AssemblyMessageSchema, async ({ requestId }) => {
      const outcome = await assembleOutput(requestId, deps());
      logger.info('assembly message handled', { requestId, outcome });
    }),
  );
}

export const handler = makeHandler();
