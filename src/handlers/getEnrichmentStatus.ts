import { readWaiting } from '../core/providerGate';
import { toStatusResponse } from '../core/status';
import { logger } from '../logger';
import { callersRequest, downloadUrlFor, json, httpHandler } from './http';
import { readDeps, type ReadDeps } from './wiring';

export function makeHandler(deps: () => ReadDeps = readDeps) {
  return httpHandler(async (event) => {
    const { status, pricePerMatch, gate } = deps();
    const record = await callersRequest(event, status);
    // A processing request says why it waits while the provider gate is not closed (credits, outage, rate limit).
    const waiting = record.status === 'processing' ? await readWaiting(gate, Date.now(), logger) : undefined;
    return json(200, toStatusResponse(record, downloadUrlFor(event, record.requestId), pricePerMatch, waiting), {
      'cache-control': 'no-store',
    });
  });
}

export const handler = makeHandler();
