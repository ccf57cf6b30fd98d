import type { SQSEvent } from 'aws-lambda';
import { failIntake, type IntakeDeps } from '../core/intake';
import { IntakeMessageSchema } from '../schemas/message';
import { forEachRecord, lambdaHandler } from './sqsRecords';
import { intakeDeps } from './wiring';

export { INTAKE_DLQ_MESSAGE } from '../core/intake';

/**
 * Triggered by the intake's dead-letter queue: a request whose intake kept failing ends `rejected` with a
 * reason. Nothing was sent for it if it never left validating; if it did, the condition fails and nothing changes.
 */
export function makeHandler(deps: () => IntakeDeps = intakeDeps) {
  return lambdaHandler((event: SQSEvent) =>
    forEachRecord(event, IntakeMessageSchema, ({ requestId }) => failIntake(requestId, deps())),
  );
}

export const handler = makeHandler();
