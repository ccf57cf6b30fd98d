import { reconcileAll, type ReconcileDeps, type ReconcileReport } from '../core/reconcile';
import { logger, withInvocation } from '../logger';
import type { LambdaContext } from './sqsRecords';
import { reconcileDeps } from './wiring';

/** Scheduled sweep that finishes stalled requests (see docs/failure-handling.md). */
export function makeHandler(deps: () => ReconcileDeps = reconcileDeps) {
  return (_event?: unknown, context?: LambdaContext): Promise<{ reconciled: ReconcileReport[] }> =>
    withInvocation({ awsRequestId: context?.awsRequestId }, async () => {
      const reconciled = await reconcileAll(deps());
      logger.info('reconcile pass done', { requests: reconciled.length });
      return { reconciled };
    });
}

export const handler = makeHandler();
