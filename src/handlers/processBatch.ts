import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { invocationRecorder, processBatch, type WorkerDeps } from '../core/processBatch';
import { budgetOf, forEachBatchMessage, lambdaHandler, type LambdaContext } from './sqsRecords';
import { workerDeps } from './workerWiring';

export type { LambdaContext };

export function makeHandler(deps: () => WorkerDeps = workerDeps) {
  return lambdaHandler((event: SQSEvent, context?: LambdaContext): Promise<SQSBatchResponse> => {
    // One set of deps for the invocation's messages (up to 10): their status lookups share one read, and the batches
    // of one shard are recorded by one update (each message takes its seat in the recorder before any of them starts).
    const shared = deps();
    const budget = budgetOf(context);
    const recorder = invocationRecorder(shared, budget);
    return forEachBatchMessage(event, (message, receiveCount) =>
      processBatch(message, shared, { budget, receiveCount, seat: recorder.seat() }),
    );
  });
}

export const handler = makeHandler();
