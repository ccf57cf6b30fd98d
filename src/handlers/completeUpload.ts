import { completeUpload, type UploadDeps } from '../core/uploads';
import { json, ownerOf, parseJsonBody, requireJsonBody, httpHandler } from './http';
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
  return httpHandler(async (event, { log }) => {
    requireJsonBody(event);
    const done = await completeUpload(decoded(event.pathParameters?.uploadId), parseJsonBody(event), {
      ...deps(),
      owner: ownerOf(event),
    });
    log.info('upload completed', { reference: done.reference, size: done.size });
    return json(200, done);
  });
}

export const handler = makeHandler();
