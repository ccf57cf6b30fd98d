import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { formatOf as formatOfKey, type InputFormat } from '../../core/inputFile';
import type { CreatedUpload as CoreCreatedUpload } from '../../core/uploads';
import { request } from './api';
import { progressBar } from './progress';

export type UploadFormat = InputFormat;

/** The format of a contacts file, by its extension (the service's rule): .ndjson/.jsonl, .csv, otherwise JSON. */
export function formatOf(file: string): UploadFormat {
  return formatOfKey(file) ?? 'json';
}

/** POST /enrichment/uploads's answer (docs/openapi.yaml): the use case's result and the route to complete it. */
export type CreatedUpload = CoreCreatedUpload & { completeUrl: string };

/** Parts in flight at once, and tries per part (a network blip does not lose the upload). */
const CONCURRENCY = 4;
const PART_ATTEMPTS = 3;

/** PUTs bytes [start, end] of the file to a presigned URL, streamed from disk; resolves to the part's ETag. */
function putPart(url: string, file: string, start: number, end: number, onBytes: (n: number) => void): Promise<string> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      target,
      { method: 'PUT', headers: { 'content-length': String(end - start + 1) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const etag = res.headers.etag;
          if (res.statusCode === 200 && etag) resolve(etag);
          else
            reject(
              new Error(
                `PUT of bytes ${start}-${end} answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`,
              ),
            );
        });
      },
    );
    req.on('error', reject);
    const body = createReadStream(file, { start, end });
    body.on('data', (c) => onBytes(c.length));
    pipeline(body, req).catch(reject);
  });
}

/**
 * Uploads `file` through the API, with nothing but API_URL and API_KEY: POST /enrichment/uploads, each part PUT
 * to its presigned URL (a few at a time, streamed from disk), then the completion. Returns the `s3://` reference.
 */
export async function uploadContactsFile(
  file: string,
  opts: { progress?: boolean } = {},
): Promise<{ reference: string; size: number }> {
  // 1. Size the file and ask for an upload of that size and format.
  const { size } = await stat(file);
  const format = formatOf(file);
  const created = await request<CreatedUpload | { message?: string }>('POST', '/enrichment/uploads', {
    body: { size, format, filename: path.basename(file) },
  });
  if (created.status !== 201)
    throw new Error(`POST /enrichment/uploads answered ${created.status}: ${JSON.stringify(created.body)}`);
  const up = created.body as CreatedUpload;

  // 2. PUT the parts, CONCURRENCY at a time, with a bar of the bytes sent.
  const bar =
    opts.progress === false
      ? undefined
      : progressBar('uploading |{bar}| {percentage}% | {value}/{total} MB | {duration_formatted}');
  const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
  let sent = 0;
  bar?.start(mb(size), 0);
  const etags: Array<{ partNumber: number; etag: string }> = [];
  const queue = [...up.parts];
  try {
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
        for (let part = queue.shift(); part; part = queue.shift()) {
          const start = (part.partNumber - 1) * up.partSize;
          const end = Math.min(size, start + up.partSize) - 1;
          for (let attempt = 1; ; attempt++) {
            let partBytes = 0;
            try {
              const etag = await putPart(part.url, file, start, end, (n) => {
                partBytes += n;
                sent += n;
                bar?.update(mb(sent));
              });
              etags.push({ partNumber: part.partNumber, etag });
              break;
            } catch (err) {
              sent -= partBytes;
              if (attempt >= PART_ATTEMPTS)
                throw new Error(`upload of part ${part.partNumber} failed: ${(err as Error).message}`);
            }
          }
        }
      }),
    );
  } finally {
    bar?.stop();
  }

  // 3. Complete: the API checks the parts and the size, and answers the reference to submit.
  etags.sort((a, b) => a.partNumber - b.partNumber);
  const done = await request<{ reference: string; size: number }>(
    'POST',
    `/enrichment/uploads/${encodeURIComponent(up.uploadId)}/complete`,
    {
      body: { key: up.key, parts: etags },
    },
  );
  if (done.status !== 200)
    throw new Error(`completing the upload answered ${done.status}: ${JSON.stringify(done.body)}`);
  return done.body;
}
