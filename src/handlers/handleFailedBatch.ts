import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { failBatch, type RecordingDeps } from '../core/processBatch';
import { forEachBatchMessage, lambdaHandler } from './sqsRecords';
import { recordingDeps } from './wiring';

export const DLQ_REASON = 'batch kept failing and was moved to the dead-letter queue';

/** Triggered by the dead-letter queue: the batch is recorded as failed so the request still finishes. */
export function makeHandler(deps: () => RecordingDeps = recordingDeps) {
  return lambdaHandler(
    (event: SQSEvent): Promise<SQSBatchResponse> =>
      forEachBatchMessage(event, (message) => failBatch(message, DLQ_REASON, deps())),
  );
}

export const handler = makeHandler();
