import { listRequests } from '../core/listRequests';
import { toStatusResponse } from '../core/status';
import { downloadUrlFor, json, ownerOf, httpHandler } from './http';
import { listDeps, type ListHandlerDeps } from './wiring';

/** GET /enrichment: the caller's requests, newest first, each as GET /enrichment/{id} shows it (waitingFor aside). */
export function makeHandler(deps: () => ListHandlerDeps = listDeps) {
  return httpHandler(async (event) => {
    const { history, clock, pricePerMatch } = deps();
    const page = await listRequests(event.queryStringParameters, { history, clock, owner: ownerOf(event) });
    return json(
      200,
      {
        requests: page.records.map((r) => toStatusResponse(r, downloadUrlFor(event, r.requestId), pricePerMatch)),
        ...(page.cursor ? { cursor: page.cursor } : {}),
      },
      { 'cache-control': 'no-store' },
    );
  });
}

export const handler = makeHandler();
