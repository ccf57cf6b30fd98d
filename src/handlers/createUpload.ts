import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createUpload, type UploadDeps } from '../core/uploads';
import { logger } from '../logger';
import { apiBaseUrl, correlationIdOf, errorResponse, json, ownerOf, parseJsonBody, requireJsonBody } from './http';
import { uploadDeps } from './wiring';

/** POST /enrichment/uploads: a multipart upload the client writes with presigned part URLs. */
export function makeHandler(deps: () => Omit<UploadDeps, 'owner'> = uploadDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const correlationId = correlationIdOf(event);
    const log = logger.child({ correlationId });
    try {
      requireJsonBody(event);
      const upload = await createUpload(parseJsonBody(event), { ...deps(), owner: ownerOf(event) });
      log.info('upload started', { key: upload.key, parts: upload.parts.length });
      const completeUrl = `${apiBaseUrl(event)}/enrichment/uploads/${encodeURIComponent(upload.uploadId)}/complete`;
      return json(201, { ...upload, completeUrl }, { 'cache-control': 'no-store' });
    } catch (err) {
      return errorResponse(err, log, correlationId);
    }
  };
}

export const handler = makeHandler();
