import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { NoOutputError } from '../core/errors';
import { logger } from '../logger';
import { callersRequest, correlationIdOf, errorResponse } from './http';
import { readDeps, type ReadDeps } from './wiring';

/** A stable link that redirects to a fresh presigned URL, so it works for as long as the output exists. */
export function makeHandler(deps: () => ReadDeps = readDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const correlationId = correlationIdOf(event);
    const log = logger.child({ correlationId });
    try {
      const { status, presign } = deps();
      const record = await callersRequest(event, status);
      if (record.status === 'rejected') {
        throw new NoOutputError(`Request ${record.requestId} was rejected and has no output: GET /enrichment/${record.requestId} shows its errors`);
      }
      if (record.status === 'validating') {
        throw new NoOutputError(`Request ${record.requestId} is still validating its upload: there is no output yet (GET /enrichment/${record.requestId} shows its progress)`);
      }
      const location = await presign(record.outputFileKey, `enrichment-${record.requestId}.json`);
      return { statusCode: 302, headers: { location, 'cache-control': 'no-store', 'x-enrichment-status': record.status }, body: '' };
    } catch (err) {
      return errorResponse(err, log, correlationId);
    }
  };
}

export const handler = makeHandler();
