import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { metric } from '../adapters/metrics';
import { createEnrichment, type CreateDeps } from '../core/createEnrichment';
import { PayloadTooLargeError } from '../core/errors';
import { logger } from '../logger';
import { MAX_INLINE_BODY_BYTES } from '../schemas/request';
import { correlationIdOf, downloadUrlFor, errorResponse, json, parseJsonBody } from './http';
import { createDeps } from './wiring';


export function makeHandler(deps: () => CreateDeps = createDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const correlationId = correlationIdOf(event);
    const log = logger.child({ correlationId });
    try {
      // Deployed, API Gateway answers bigger bodies itself (a GatewayResponse); offline the local edge does.
      if (event.body && Buffer.byteLength(event.body) > MAX_INLINE_BODY_BYTES) {
        throw new PayloadTooLargeError(
          'Request body is larger than 10 MB. Upload the contacts to S3 and submit {"contacts": "s3://<bucket>/uploads/<key>"} instead.',
        );
      }
      const result = await createEnrichment(parseJsonBody(event), { ...deps(), log });
      metric('enrichment.request.contacts', result.totalContacts);
      return json(202, {
        message: 'Request accepted',
        requestId: result.requestId,
        downloadUrl: downloadUrlFor(event, result.requestId),
        totalContacts: result.totalContacts,
        totalBatches: result.totalBatches,
      });
    } catch (err) {
      return errorResponse(err, log, correlationId);
    }
  };
}

export const handler = makeHandler();
