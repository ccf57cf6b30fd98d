import type { SQSEvent } from 'aws-lambda';
import type { IntakeDeps } from '../core/intake';
import { logger } from '../logger';
import { IntakeMessageSchema } from '../schemas/message';
import { forEachRecord, lambdaHandler } from './sqsRecords';
import { intakeDeps } from './wiring';

export const INTAKE_DLQ_MESSAGE = 'the upload could not be taken in: its intake kept failing (see the service logs); submit it again';

/**
 * Triggered by the intake's dead-letter queue: a request whose intake kept failing ends `rejected` with a
 * reason, so no client waits on a `validating` request for ever. Nothing was sent for it if it never left
 * validating; if it did, the condition fails and nothing changes.
 */
export function makeHandler(deps: () => Pick<IntakeDeps, 'status' | 'clock'> = intakeDeps) {
  return lambdaHandler((event: SQSEvent) =>
    forEachRecord(event, IntakeMessageSchema, async ({ requestId }) => {
      const { status, clock } = deps();
      const ended = await status.reject(requestId, [{ path: 'contacts', message: INTAKE_DLQ_MESSAGE }], clock.now().toISOString());
      logger.warn('intake dead-lettered', { requestId, rejected: ended });
    }),
  );
}

export const handler = makeHandler();
