import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoStatusStore } from '../adapters/statusTable';
import { NotFoundError } from '../core/errors';
import { toStatusResponse } from '../core/status';
import { parseOrThrow } from '../core/validation';
import { logger } from '../logger';
import { RequestIdSchema } from '../schemas/request';
import { correlationIdOf, downloadUrlFor, errorResponse, json } from './http';

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const correlationId = correlationIdOf(event);
  const log = logger.child({ correlationId });
  try {
    const id = parseOrThrow(RequestIdSchema, event.pathParameters?.id, 'Invalid request id', ['id']);
    const record = await dynamoStatusStore().get(id);
    if (!record) throw new NotFoundError(`No enrichment request with id ${id}`);
    return json(200, toStatusResponse(record, downloadUrlFor(event, id)), { 'cache-control': 'no-store' });
  } catch (err) {
    return errorResponse(err, log, correlationId);
  }
};
