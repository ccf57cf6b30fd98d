import { reconcileAll, type ReconcileDeps, type ReconcileReport } from '../core/reconcile';
import { logger } from '../logger';
import { reconcileDeps } from './wiring';

/** Scheduled sweep that finishes stalled requests (see README: Failure handling). */
export function makeHandler(deps: () => ReconcileDeps = reconcileDeps) {
  return async (): Promise<{ reconciled: ReconcileReport[] }> => {
    const reconciled = await reconcileAll(deps());
    logger.info('reconcile pass done', { requests: reconciled.length });
    return { reconciled };
  };
}

export const handler = makeHandler();
