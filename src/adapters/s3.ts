import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { config } from '../config';
import type { ObjectStore, UploadStore } from '../core/ports';
import { s3Client } from './clients';

/**
 * A missing object: 404 NoSuchKey, or the 403 AccessDenied S3 answers instead when the caller may not
 * s3:ListBucket (the roles grant it where a key may be missing; this keeps a narrower role working).
 */
function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return (
    err instanceof NoSuchKey ||
    e?.name === 'NoSuchKey' ||
    e?.name === 'AccessDenied' ||
    e?.$metadata?.httpStatusCode === 404 ||
    e?.$metadata?.httpStatusCode === 403
  );
}

/** The most keys one DeleteObjects call takes. */
export const DELETE_OBJECTS_MAX = 1000;

export function s3ObjectStore(bucket = config().BUCKET_NAME, client = s3Client()): ObjectStore {
  return {
    async putJson(key, value) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: JSON.stringify(value),
          ContentType: 'application/json',
          ChecksumAlgorithm: 'CRC32',
        }),
      );
    },
    async upload(key, body, contentType = 'application/json') {
      const stream = body instanceof Readable ? body : Readable.from(body);
      // Multipart: no single request grows with the request size (fauxqs rejects bodies over 11 MiB).
      const upload = new Upload({
        client,
        // CRC32 on every part, and on the object S3 assembles (the client computes none unless asked).
        params: { Bucket: bucket, Key: key, Body: stream, ContentType: contentType, ChecksumAlgorithm: 'CRC32' },
        partSize: 5 * 1024 * 1024,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await upload.done();
    },
    async getJson<T>(key: string) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
        return JSON.parse(await res.Body!.transformToString()) as T;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async getStream(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
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
        const res = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async deleteKeys(keys) {
      for (let i = 0; i < keys.length; i += DELETE_OBJECTS_MAX) {
        const chunk = keys.slice(i, i + DELETE_OBJECTS_MAX);
        const res = await client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
            // DeleteObjects requires an integrity checksum of its body (Content-MD5 or a flexible checksum).
            ChecksumAlgorithm: 'CRC32',
          }),
        );
        // A DeleteObjects call succeeds as a whole and reports each key that failed apart.
        const failed = res.Errors ?? [];
        if (failed.length)
          throw new Error(
            `S3 did not delete ${failed.length} of ${chunk.length} objects (first: ${failed[0].Key}: ${failed[0].Code})`,
          );
      }
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

/** A short-lived GET URL for a private object; `contentType` overrides the stored one in the answer. */
export async function presignDownload(
  key: string,
  filename: string,
  bucket = config().BUCKET_NAME,
  client = s3Client(),
  contentType?: string,
): Promise<string> {
  return getSignedUrl(
    client,
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ResponseContentDisposition: `attachment; filename="${filename}"`,
      ...(contentType ? { ResponseContentType: contentType } : {}),
    }),
    { expiresIn: config().DOWNLOAD_URL_TTL_SECONDS },
  );
}

const s3ErrorName = (err: unknown) => (err as { name?: string; Code?: string } | undefined)?.name;

/** Direct uploads: multipart uploads that clients write through presigned part URLs (no AWS credentials of theirs). */
export function s3UploadStore(bucket = config().BUCKET_NAME, client = s3Client()): UploadStore {
  return {
    bucket,
    async start(key, contentType) {
      const res = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: contentType }),
      );
      if (!res.UploadId) throw new Error(`S3 started no multipart upload for ${key}`);
      return res.UploadId;
    },
    presignPart(key, uploadId, partNumber, expiresIn) {
      // No checksum: the signer never sees the part (the client's config computes none it is not asked for).
      return getSignedUrl(
        client,
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber }),
        { expiresIn },
      );
    },
    async complete(key, uploadId, parts) {
      try {
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        );
        return { ok: true };
      } catch (err) {
        const name = s3ErrorName(err);
        if (name === 'NoSuchUpload') return { ok: false, reason: 'missing', message: 'no such upload' };
        if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') {
          return { ok: false, reason: 'invalid', message: `S3 refused the parts (${name}): ${(err as Error).message}` };
        }
        throw err;
      }
    },
    async size(key) {
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return res.ContentLength;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}
