import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { presignDownload } from '../adapters/s3';
import { dynamoStatusStore } from '../adapters/statusTable';
import { NotFoundError } from '../core/errors';
import { parseOrThrow } from '../core/validation';
import { logger } from '../logger';
import { RequestIdSchema } from '../schemas/request';
import { correlationIdOf, errorResponse } from './http';

/** A stable link that redirects to a fresh presigned URL, so it works for as long as the output exists. */
export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const correlationId = correlationIdOf(event);
  const log = logger.child({ correlationId });
  try {
    const id = parseOrThrow(RequestIdSchema, event.pathParameters?.id, 'Invalid request id', ['id']);
    const record = await dynamoStatusStore().get(id);
    if (!record) throw new NotFoundError(`No enrichment request with id ${id}`);
    const location = await presignDownload(record.outputFileKey, `enrichment-${id}.json`);
    return { statusCode: 302, headers: { location, 'cache-control': 'no-store', 'x-enrichment-status': record.status }, body: '' };
  } catch (err) {
    return errorResponse(err, log, correlationId);
  }
};
