import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { completeUpload, type UploadDeps } from '../core/uploads';
import { logger } from '../logger';
import { correlationIdOf, errorResponse, json, ownerOf, parseJsonBody, requireJsonBody } from './http';
import { uploadDeps } from './wiring';

/** S3's upload ids have no `%`; a path parameter still percent-encoded is decoded, anything else kept as sent. */
function decoded(param: string | undefined): string | undefined {
  try {
    return param === undefined ? undefined : decodeURIComponent(param);
  } catch {
    return param;
  }
}

/** POST /enrichment/uploads/{uploadId}/complete: assembles the parts; only the key that started the upload may. */
export function makeHandler(deps: () => Omit<UploadDeps, 'owner'> = uploadDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const correlationId = correlationIdOf(event);
    const log = logger.child({ correlationId });
    try {
      requireJsonBody(event);
      const done = await completeUpload(decoded(event.pathParameters?.uploadId), parseJsonBody(event), { ...deps(), owner: ownerOf(event) });
      log.info('upload completed', { reference: done.reference, size: done.size });
      return json(200, done);
    } catch (err) {
      return errorResponse(err, log, correlationId);
    }
  };
}

export const handler = makeHandler();
