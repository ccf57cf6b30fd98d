import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { claimedAccessKey, functionSecret, type ReceivedRequest, verifySigV4 } from '../../../src/local/sigv4';

const KEY = 'svc-dev-downloadEnrichment';
const SECRET = functionSecret('stack-secret', KEY);
const secretOf = (k: string) => (k === KEY ? SECRET : undefined);
const s3 = new S3Client({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:4566',
  forcePathStyle: true,
  credentials: { accessKeyId: KEY, secretAccessKey: SECRET },
});
afterAll(() => s3.destroy());

const received = (url: string, headers: Record<string, string> = {}): ReceivedRequest => {
  const u = new URL(url);
  return { method: 'GET', url: `${u.pathname}${u.search}`, headers: { host: u.host, ...headers } };
};
const verifyAt = (req: ReceivedRequest, now: string) =>
  verifySigV4(req, { service: 's3', region: 'us-east-1', secretOf, now: new Date(now) });

describe('SigV4 verification at the local IAM edge', () => {
  it('a presigned URL holds from X-Amz-Date to X-Amz-Expires seconds after it, and not a second longer', async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'b', Key: 'r/output.csv' }), {
      expiresIn: 60,
      signingDate: new Date('2026-11-29T11:59:00Z'),
    });
    expect(await verifyAt(received(url), '2026-11-29T12:00:00Z')).toMatchObject({ ok: true, accessKeyId: KEY });
    expect(await verifyAt(received(url), '2026-11-29T12:00:01Z')).toMatchObject({
      ok: false,
      failure: 'expired',
      message: 'Request has expired',
    });
    // Signed for later than now (beyond the clock skew allowed): not valid yet.
    expect(await verifyAt(received(url), '2026-11-29T11:40:00Z')).toMatchObject({ ok: false, failure: 'expired' });
  });

  it('a header signature holds within 15 minutes of the request time (RequestTimeTooSkewed beyond)', async () => {
    const signer = new SignatureV4({
      credentials: { accessKeyId: KEY, secretAccessKey: SECRET },
      region: 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    });
    const signed = await signer.sign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4566,
        path: '/b/r/output.csv',
        query: { 'x-id': 'GetObject' },
        headers: { host: '127.0.0.1:4566' },
      },
      { signingDate: new Date('2026-11-29T12:00:00Z') },
    );
    const req = {
      method: 'GET',
      url: '/b/r/output.csv?x-id=GetObject',
      headers: signed.headers as Record<string, string>,
    };
    expect(claimedAccessKey(req)).toBe(KEY);
    expect(await verifyAt(req, '2026-11-29T12:15:00Z')).toMatchObject({ ok: true });
    expect(await verifyAt(req, '2026-11-29T12:15:01Z')).toMatchObject({ ok: false, failure: 'skewed' });
    expect(await verifyAt(req, '2026-11-29T11:44:59Z')).toMatchObject({ ok: false, failure: 'skewed' });
    // Another function's secret does not make the same signature.
    const other = await verifySigV4(req, {
      service: 's3',
      region: 'us-east-1',
      secretOf: () => functionSecret('stack-secret', 'svc-dev-processBatch'),
      now: new Date('2026-11-29T12:00:00Z'),
    });
    expect(other).toMatchObject({ ok: false, failure: 'mismatch' });
  });

  it("a function's worker derives its own secret from the stack's (functionCredentials.js) and keeps only its own", async () => {
    const preload = path.resolve(__dirname, '../../../src/local/functionCredentials.js');
    const worker = new Worker(
      `require('node:worker_threads').parentPort.postMessage({ id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, stack: process.env.LOCAL_IAM_SECRET ?? null })`,
      {
        eval: true,
        execArgv: ['-r', preload],
        env: { AWS_LAMBDA_FUNCTION_NAME: KEY, LOCAL_IAM_SECRET: 'stack-secret', AWS_SESSION_TOKEN: 'x' },
      },
    );
    const seen = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await worker.terminate();
    expect(seen).toEqual({ id: KEY, secret: SECRET, stack: null });
  });
});
