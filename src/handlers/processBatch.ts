import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { processBatch, type WorkerDeps } from '../core/processBatch';
import { forEachBatchMessage } from './sqsRecords';
import { workerDeps } from './wiring';

export function makeHandler(deps: () => WorkerDeps = workerDeps) {
  return (event: SQSEvent): Promise<SQSBatchResponse> => forEachBatchMessage(event, (message) => processBatch(message, deps()));
}

export const handler = makeHandler();
