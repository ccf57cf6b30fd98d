import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { config } from '../config';
import type { ObjectStore } from '../core/ports';
import { s3Client } from './clients';

/**
 * A missing object: 404 NoSuchKey, or the 403 AccessDenied S3 answers instead when the caller may not
 * s3:ListBucket (the roles grant it where a key may be missing; this keeps a narrower role working).
 */
function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return err instanceof NoSuchKey || e?.name === 'NoSuchKey' || e?.name === 'AccessDenied' || e?.$metadata?.httpStatusCode === 404 || e?.$metadata?.httpStatusCode === 403;
}

export function s3ObjectStore(bucket = config().BUCKET_NAME, client = s3Client()): ObjectStore {
  return {
    async putJson(key, value) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(value), ContentType: 'application/json' }),
      );
    },
    async upload(key, body, contentType = 'application/json') {
      const stream = body instanceof Readable ? body : Readable.from(body);
      // Multipart: no single request grows with the request size (fauxqs rejects bodies over 11 MiB).
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: stream, ContentType: contentType },
        partSize: 5 * 1024 * 1024,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await upload.done();
    },
    async getJson<T>(key: string) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return JSON.parse(await res.Body!.transformToString()) as T;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async getStream(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return res.Body as Readable;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async listKeys(prefix) {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async head(key) {
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: res.ContentLength ?? 0, etag: res.ETag ?? '', contentType: res.ContentType };
      } catch (err) {
        if (isMissing(err) || (err as { name?: string }).name === 'NotFound') return undefined;
        throw err;
      }
    },
  };
}

/** A short-lived GET URL for a private object. */
export async function presignDownload(key: string, filename: string, bucket = config().BUCKET_NAME, client = s3Client()): Promise<string> {
  return getSignedUrl(
    client,
    new GetObjectCommand({ Bucket: bucket, Key: key, ResponseContentDisposition: `attachment; filename="${filename}"` }),
    { expiresIn: config().DOWNLOAD_URL_TTL_SECONDS },
  );
}
