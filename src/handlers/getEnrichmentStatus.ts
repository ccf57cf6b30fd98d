import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { toStatusResponse } from '../core/status';
import { logger } from '../logger';
import { callersRequest, correlationIdOf, downloadUrlFor, errorResponse, json } from './http';
import { readDeps, type ReadDeps } from './wiring';

export function makeHandler(deps: () => ReadDeps = readDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const correlationId = correlationIdOf(event);
    const log = logger.child({ correlationId });
    try {
      const record = await callersRequest(event, deps().status);
      return json(200, toStatusResponse(record, downloadUrlFor(event, record.requestId)), { 'cache-control': 'no-store' });
    } catch (err) {
      return errorResponse(err, log, correlationId);
    }
  };
}

export const handler = makeHandler();
