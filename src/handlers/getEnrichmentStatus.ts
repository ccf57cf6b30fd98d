import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { NotFoundError } from '../core/errors';
import { visibleTo } from '../core/owner';
import { toStatusResponse } from '../core/status';
import { parseOrThrow } from '../core/validation';
import { logger } from '../logger';
import { RequestIdSchema } from '../schemas/request';
import { correlationIdOf, ownerOf, downloadUrlFor, errorResponse, json } from './http';
import { readDeps, type ReadDeps } from './wiring';

export function makeHandler(deps: () => ReadDeps = readDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const correlationId = correlationIdOf(event);
    const log = logger.child({ correlationId });
    try {
      const id = parseOrThrow(RequestIdSchema, event.pathParameters?.id, 'Invalid request id', ['id']);
      const record = await deps().status.get(id);
      // Another key's request is as unknown as one that does not exist.
      if (!record || !visibleTo(record, ownerOf(event))) throw new NotFoundError(`No enrichment request with id ${id}`);
      return json(200, toStatusResponse(record, downloadUrlFor(event, id)), { 'cache-control': 'no-store' });
    } catch (err) {
      return errorResponse(err, log, correlationId);
    }
  };
}

export const handler = makeHandler();
