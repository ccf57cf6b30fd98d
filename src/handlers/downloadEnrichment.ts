import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { NotFoundError } from '../core/errors';
import { visibleTo } from '../core/owner';
import { parseOrThrow } from '../core/validation';
import { logger } from '../logger';
import { RequestIdSchema } from '../schemas/request';
import { correlationIdOf, ownerOf, errorResponse } from './http';
import { readDeps, type ReadDeps } from './wiring';

/** A stable link that redirects to a fresh presigned URL, so it works for as long as the output exists. */
export function makeHandler(deps: () => ReadDeps = readDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const correlationId = correlationIdOf(event);
    const log = logger.child({ correlationId });
    try {
      const id = parseOrThrow(RequestIdSchema, event.pathParameters?.id, 'Invalid request id', ['id']);
      const { status, presign } = deps();
      const record = await status.get(id);
      // Another key's request is as unknown as one that does not exist.
      if (!record || !visibleTo(record, ownerOf(event))) throw new NotFoundError(`No enrichment request with id ${id}`);
      const location = await presign(record.outputFileKey, `enrichment-${id}.json`);
      return { statusCode: 302, headers: { location, 'cache-control': 'no-store', 'x-enrichment-status': record.status }, body: '' };
    } catch (err) {
      return errorResponse(err, log, correlationId);
    }
  };
}

export const handler = makeHandler();
