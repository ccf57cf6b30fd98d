import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ownerIdOf, uploadPrefixOf } from '../../core/owner';
import { apiUrl, isLocalUrl } from './api';

export const SERVICE = 'enrichment-service';
export const LOCAL_S3_ENDPOINT = 'http://127.0.0.1:4566';

export interface S3Target {
  bucket: string;
  region: string;
  /** Set for the offline stack (fauxqs) or another S3-compatible endpoint; unset means AWS. */
  endpoint?: string;
  local: boolean;
}

/**
 * Where uploads go. Local stack (API_URL on this machine): fauxqs on S3_ENDPOINT (default
 * 127.0.0.1:4566) and the `local` stage's bucket. Deployed stage: BUCKET_NAME (its name holds the
 * account id: the stack's DataBucketName output), with the caller's own AWS credentials.
 */
export function s3Target(env: NodeJS.ProcessEnv = process.env): S3Target {
  const local = isLocalUrl(apiUrl(env));
  const endpoint = env.S3_ENDPOINT || (local ? LOCAL_S3_ENDPOINT : undefined);
  const bucket = env.BUCKET_NAME || (local ? `${SERVICE}-${env.STAGE || 'local'}-data` : undefined);
  if (!bucket) {
    throw new Error(
      `API_URL ${apiUrl(env)} is not local: set BUCKET_NAME to the stage's bucket (DataBucketName in \`npx sls info --stage <stage> --verbose\`) to upload the contacts to S3`,
    );
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  return { bucket, region, endpoint, local: Boolean(endpoint && isLocalUrl(endpoint)) };
}

function s3ClientFor(target: S3Target, env: NodeJS.ProcessEnv): S3Client {
  return new S3Client({
    region: target.region,
    endpoint: target.endpoint,
    forcePathStyle: Boolean(target.endpoint),
    // The emulator accepts any signature; fixed fake keys keep a developer's AWS profile out of it.
    credentials:
      target.local && !env.AWS_ACCESS_KEY_ID ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined,
  });
}

/**
 * Streams `file` to `uploads/<owner>/<uuid>.json` (the uploads of API_KEY's owner, the only ones a request of that
 * key may reference) with a multipart upload; returns the `s3://` reference to submit.
 */
export async function uploadContactsFile(
  file: string,
  target: S3Target = s3Target(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ uri: string; key: string; bucket: string }> {
  const key = `${env.API_KEY ? uploadPrefixOf(ownerIdOf(env.API_KEY)) : 'uploads/'}${randomUUID()}.json`;
  const client = s3ClientFor(target, env);
  try {
    // Multipart in 5 MiB parts: no single request grows with the file (fauxqs rejects bodies over 11 MiB).
    const upload = new Upload({
      client,
      params: { Bucket: target.bucket, Key: key, Body: createReadStream(file), ContentType: 'application/json' },
      partSize: 5 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  } catch (err) {
    const where = target.endpoint ? `${target.endpoint} (bucket ${target.bucket})` : `bucket ${target.bucket}`;
    throw new Error(`upload to ${where} failed: ${(err as Error).message}`);
  } finally {
    client.destroy();
  }
  return { uri: `s3://${target.bucket}/${key}`, key, bucket: target.bucket };
}
