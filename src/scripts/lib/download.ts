import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { apiKeyHeader } from './api';

/**
 * Downloads the output through the API's download link, which redirects to a short-lived presigned
 * S3 URL; streams to `file` (via `file.part`, so a broken download never looks complete). Returns bytes written.
 */
export async function downloadTo(url: string, file: string, signal?: AbortSignal): Promise<number> {
  // The API needs the key; the presigned URL it redirects to must not get it (it goes to S3).
  const first = await fetch(url, { redirect: 'manual', headers: apiKeyHeader(url), signal });
  const location = first.status >= 300 && first.status < 400 ? first.headers.get('location') : null;
  if (location) await first.body?.cancel();
  const res = location ? await fetch(new URL(location, url), { signal }) : first;
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    throw new Error(`download from ${url} failed: HTTP ${res.status} ${text.slice(0, 500)}`);
  }
  const part = `${file}.part`;
  let bytes = 0;
  const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  try {
    await pipeline(body, createWriteStream(part), { signal });
    await rename(part, file);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  return bytes;
}
