import { createEnrichment, type CreateDeps } from '../core/createEnrichment';
import { EnrichmentError } from '../core/errors';
import {
  API_GATEWAY_MAX_BODY_BYTES,
  lambdaEventBytes,
  LAMBDA_MAX_EVENT_BYTES,
  TOO_LARGE_MESSAGE,
} from '../inlineLimits';
import { downloadUrlFor, header, json, ownerOf, parseJsonBody, requireJsonBody, httpHandler } from './http';
import { createDeps } from './wiring';

/**
 * The caller, for dedup: the SHA-256 of its API key (API Gateway, or the local edge, has checked the key
 * before the function runs). The key itself is never stored or logged.
 */
export function makeHandler(deps: () => CreateDeps = createDeps) {
  return httpHandler(async (event, { log }) => {
    // API Gateway and Lambda (offline, the local edge) stop such requests before they get here; this
    // keeps a direct invocation honest too.
    if (
      event.body &&
      (Buffer.byteLength(event.body) > API_GATEWAY_MAX_BODY_BYTES || lambdaEventBytes(event) >= LAMBDA_MAX_EVENT_BYTES)
    ) {
      throw new EnrichmentError(TOO_LARGE_MESSAGE, { kind: 'payload_too_large' });
    }
    requireJsonBody(event);
    const result = await createEnrichment(
      parseJsonBody(event, { refuseReplacementChar: true }),
      { ...deps(), log, owner: ownerOf(event), downloadUrlOf: (id) => downloadUrlFor(event, id) },
      {
        // Dedup never crosses callers: the key's owner id is its scope.
        callerHash: ownerOf(event) ?? '',
        idempotencyKey: header(event, 'idempotency-key'),
      },
    );
    if (result.duplicate) {
      return json(200, {
        message: 'Duplicate request: already accepted',
        requestId: result.requestId,
        downloadUrl: downloadUrlFor(event, result.requestId),
        totalContacts: result.totalContacts,
        totalBatches: result.totalBatches,
        status: result.duplicate.status,
        duplicate: true,
      });
    }
    if (result.status === 'validating') {
      // A referenced upload: its intake validates and counts it; the totals come with its status.
      return json(202, {
        message: 'Request accepted: the upload is being validated (GET the status for its totals and progress)',
        requestId: result.requestId,
        downloadUrl: downloadUrlFor(event, result.requestId),
        status: 'validating',
      });
    }
    return json(202, {
      message: 'Request accepted',
      requestId: result.requestId,
      downloadUrl: downloadUrlFor(event, result.requestId),
      totalContacts: result.totalContacts,
      totalBatches: result.totalBatches,
    });
  });
}

export const handler = makeHandler();
