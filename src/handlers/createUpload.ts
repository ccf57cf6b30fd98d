import { createUpload, type UploadDeps } from '../core/uploads';
import { apiBaseUrl, json, ownerOf, parseJsonBody, requireJsonBody, httpHandler } from './http';
import { uploadDeps } from './wiring';

/** POST /enrichment/uploads: a multipart upload the client writes with presigned part URLs. */
export function makeHandler(deps: () => Omit<UploadDeps, 'owner'> = uploadDeps) {
  return httpHandler(async (event, { log }) => {
    requireJsonBody(event);
    const upload = await createUpload(parseJsonBody(event), { ...deps(), owner: ownerOf(event) });
    log.info('upload started', { key: upload.key, parts: upload.parts.length });
    const completeUrl = `${apiBaseUrl(event)}/enrichment/uploads/${encodeURIComponent(upload.uploadId)}/complete`;
    return json(201, { ...upload, completeUrl }, { 'cache-control': 'no-store' });
  });
}

export const handler = makeHandler();
