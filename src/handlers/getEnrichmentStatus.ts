import { toStatusResponse } from '../core/status';
import { callersRequest, downloadUrlFor, json, httpHandler } from './http';
import { readDeps, type ReadDeps } from './wiring';

export function makeHandler(deps: () => ReadDeps = readDeps) {
  return httpHandler(async (event) => {
    const { status, pricePerMatch } = deps();
    const record = await callersRequest(event, status);
    return json(200, toStatusResponse(record, downloadUrlFor(event, record.requestId), pricePerMatch), {
      'cache-control': 'no-store',
    });
  });
}

export const handler = makeHandler();
