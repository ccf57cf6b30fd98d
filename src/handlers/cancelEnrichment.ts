import { cancelEnrichment, type CancelDeps } from '../core/cancel';
import { toStatusResponse } from '../core/status';
import { parseOrThrow } from '../core/validation';
import { RequestIdSchema } from '../schemas/request';
import { downloadUrlFor, json, ownerOf, httpHandler } from './http';
import { cancelDeps } from './wiring';

/** POST /enrichment/{id}/cancel: 202 with the status while cancelling, 200 once cancelled (docs/api.md: Cancel). */
export function makeHandler(deps: () => CancelDeps & { pricePerMatch?: number } = cancelDeps) {
  return httpHandler(async (event, { log }) => {
    const id = parseOrThrow(RequestIdSchema, event.pathParameters?.id, 'Invalid request id', ['id']);
    const { pricePerMatch, ...rest } = deps();
    const { outcome, record } = await cancelEnrichment(id, ownerOf(event), { ...rest, log });
    return json(
      outcome === 'cancelled' ? 200 : 202,
      toStatusResponse(record, downloadUrlFor(event, record.requestId), pricePerMatch),
      { 'cache-control': 'no-store' },
    );
  });
}

export const handler = makeHandler();
