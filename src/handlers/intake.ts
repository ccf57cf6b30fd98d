import type { SQSEvent } from 'aws-lambda';
import { runIntake, type IntakeDeps } from '../core/intake';
import { IntakeMessageSchema } from '../schemas/message';
import { budgetOf, forEachRecord, lambdaHandler, type LambdaContext } from './sqsRecords';
import { intakeDeps } from './wiring';

/**
 * Triggered by the intake queue (batchSize 1): takes in one referenced upload, or goes on from its
 * checkpoint. A failure is reported for its record, so SQS redelivers it (and in the end dead-letters it):
 * the next delivery goes on from the checkpoint.
 */
export function makeHandler(deps: () => IntakeDeps = intakeDeps) {
  return lambdaHandler((event: SQSEvent, context?: LambdaContext) =>
    forEachRecord(event, IntakeMessageSchema, ({ requestId }) => runIntake(requestId, deps(), budgetOf(context))),
  );
}

export const handler = makeHandler();
