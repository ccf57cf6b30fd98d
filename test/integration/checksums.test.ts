import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Crc32 } from '@aws-sdk/checksums/crc';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { PART_SIZE } from '../../src/core/uploads';
import { apiEvent } from '../support/factories';
import { createUploadFn } from '../support/functions';
import { startTestService, type TestService } from '../support/service';

/**
 * S3 checks a checksum a request declares (x-amz-checksum-* header, presigned query parameter or aws-chunked trailer)
 * against the body, and refuses a mismatch with 400 BadDigest, storing nothing; fauxqs ignores them, so the local
 * IAM edge checks them. The part URLs createUpload hands out declare none: the SDK's default would sign the CRC32 of
 * the absent body (AAAAAA==) into them, and every real part PUT would fail on AWS. Real edge, real fauxqs.
 */
const API_KEY = 'checksum-test-key-0123456789';
const CHECKSUM_PARAM = /^x-amz-(checksum-|sdk-checksum-algorithm$)/i;

const errorCode = (xml: string) => /<Code>([^<]+)<\/Code>/.exec(xml)?.[1];
const crc32 = async (bytes: Buffer) => {
  const c = new Crc32();
  c.update(bytes);
  return Buffer.from(await c.digest()).toString('base64');
};
const md5Etag = (bytes: Buffer) => `"${createHash('md5').update(bytes).digest('hex')}"`;
async function put(url: string, body: Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'PUT', body, headers });
  return { status: res.status, etag: res.headers.get('etag') ?? '', text: await res.text() };
}

describe("declared checksums are checked at the local IAM edge as S3 checks them (fauxqs doesn't)", () => {
  let service: TestService;
  const fnName = (key: string) => `enrichment-service-${service.stage}-${key}`;
  /** A client as createUpload with the SDK's defaults (requestChecksumCalculation WHEN_SUPPORTED), not ours. */
  let sdkDefault: S3Client;

  beforeAll(async () => {
    service = await startTestService();
    sdkDefault = new S3Client({
      region: 'us-east-1',
      endpoint: process.env.S3_ENDPOINT,
      forcePathStyle: true,
      credentials: service.iam.credentialsOf(fnName('createUpload')),
    });
  });
  afterAll(async () => {
    sdkDefault.destroy();
    await service.close();
  });

  async function createUpload(size: number) {
    const headers = { 'x-api-key': API_KEY, 'content-type': 'application/json' };
    const res = await createUploadFn()(apiEvent({ body: JSON.stringify({ size, format: 'csv' }), headers }));
    expect(res.statusCode).toBe(201);
    return JSON.parse(res.body) as { uploadId: string; key: string; parts: Array<{ partNumber: number; url: string }> };
  }
  /** Completes straight on the emulator (no role): S3 refuses a part that was never stored (InvalidPart). */
  const completeOnEmulator = (key: string, uploadId: string, parts: Array<{ PartNumber: number; ETag: string }>) =>
    service.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: service.bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );

  it('the part URLs createUpload hands out carry no x-amz-checksum-* and no x-amz-sdk-checksum-algorithm', async () => {
    const up = await createUpload(PART_SIZE * 2 + 1);
    expect(up.parts).toHaveLength(3);
    for (const p of up.parts) {
      const names = [...new URL(p.url).searchParams.keys()];
      expect(names).toContain('X-Amz-Signature');
      expect(names.filter((n) => CHECKSUM_PARAM.test(n))).toEqual([]);
    }
  });

  it("a part PUT to a URL signed with the SDK's default (x-amz-checksum-crc32=AAAAAA==) is 400 BadDigest and stores nothing", async () => {
    const up = await createUpload(100);
    const url = await getSignedUrl(
      sdkDefault,
      new UploadPartCommand({ Bucket: service.bucket, Key: up.key, UploadId: up.uploadId, PartNumber: 1 }),
      { expiresIn: 600 },
    );
    // Today's bug, as a reviewer saw it: the CRC32 of an empty body, signed into the URL.
    expect(new URL(url).searchParams.get('x-amz-checksum-crc32')).toBe('AAAAAA==');
    const part = Buffer.from('first_name,last_name,company_domain\nAda,Lovelace,example.com\n');
    const res = await put(url, part);
    expect([res.status, errorCode(res.text)]).toEqual([400, 'BadDigest']);
    expect(res.text).toContain('The CRC32 you specified did not match the calculated checksum.');
    // The emulator never got the part: completing with its ETag is refused, and there is no object.
    await expect(
      completeOnEmulator(up.key, up.uploadId, [{ PartNumber: 1, ETag: md5Etag(part) }]),
    ).rejects.toMatchObject({ name: 'InvalidPart' });
    await expect(service.s3.send(new HeadObjectCommand({ Bucket: service.bucket, Key: up.key }))).rejects.toMatchObject(
      { $metadata: { httpStatusCode: 404 } },
    );
  });

  it('a correct checksum is accepted in a presigned query and in a signed header, a wrong header one refused', async () => {
    const up = await createUpload(PART_SIZE + 10);
    const createUploadS3 = service.as('createUpload').s3;
    const one = Buffer.alloc(PART_SIZE, 'x');
    const two = Buffer.from('0123456789');
    const sign = (partNumber: number, checksum: string, unhoistable: string[] = []) =>
      getSignedUrl(
        createUploadS3,
        new UploadPartCommand({
          Bucket: service.bucket,
          Key: up.key,
          UploadId: up.uploadId,
          PartNumber: partNumber,
          ChecksumCRC32: checksum,
        }),
        { expiresIn: 600, unhoistableHeaders: new Set(unhoistable) },
      );
    // Query form: the client's checksum of its part, signed into the URL.
    const inQuery = await sign(1, await crc32(one));
    expect(new URL(inQuery).searchParams.get('x-amz-checksum-crc32')).toBe(await crc32(one));
    const first = await put(inQuery, one);
    expect(first.status).toBe(200);
    // Header form: the URL signs the header, the PUT sends it. A header that is not the part's checksum is refused.
    const wrong = await crc32(Buffer.from('something else'));
    const badHeader = await sign(2, wrong, ['x-amz-checksum-crc32']);
    expect(new URL(badHeader).searchParams.has('x-amz-checksum-crc32')).toBe(false);
    const refused = await put(badHeader, two, { 'x-amz-checksum-crc32': wrong });
    expect([refused.status, errorCode(refused.text)]).toEqual([400, 'BadDigest']);
    const inHeader = await sign(2, await crc32(two), ['x-amz-checksum-crc32']);
    const second = await put(inHeader, two, { 'x-amz-checksum-crc32': await crc32(two) });
    expect(second.status).toBe(200);

    await completeOnEmulator(up.key, up.uploadId, [
      { PartNumber: 1, ETag: first.etag },
      { PartNumber: 2, ETag: second.etag },
    ]);
    const object = await service.s3.send(new GetObjectCommand({ Bucket: service.bucket, Key: up.key }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(Buffer.concat([one, two]))).toBe(true);
  });

  it('an algorithm the edge cannot compute is refused 501 naming it, not passed unchecked', async () => {
    const up = await createUpload(100);
    const url = new URL(up.parts[0].url);
    // Signed by createUpload with the parameter in it: the signature holds, the checksum cannot be checked.
    const signed = await getSignedUrl(
      service.as('createUpload').s3,
      new UploadPartCommand({
        Bucket: service.bucket,
        Key: up.key,
        UploadId: up.uploadId,
        PartNumber: 1,
        ChecksumXXHASH64: 'AAAAAAAAAAA=',
      } as never),
      { expiresIn: 600 },
    );
    expect(new URL(signed).pathname).toBe(url.pathname);
    const res = await put(signed, Buffer.from('a,b\n'));
    expect([res.status, errorCode(res.text)]).toEqual([501, 'NotImplemented']);
    expect(res.text).toContain('XXHASH64');
  });

  it("aws-chunked trailers: the SDK's streamed PutObject (CRC32 trailer) is stored, a forged trailer is BadDigest", async () => {
    const id = randomUUID();
    const body = Buffer.from('{"contacts":[{"first_name":"Ada"}]}');
    const processBatch = service.as('processBatch').s3;
    // A stream with a checksum: the SDK sends aws-chunked, STREAMING-UNSIGNED-PAYLOAD-TRAILER, x-amz-trailer.
    await processBatch.send(
      new PutObjectCommand({
        Bucket: service.bucket,
        Key: `${id}/batches/streamed.json`,
        Body: Readable.from([body]),
        ContentLength: body.length,
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    const stored = await service.s3.send(
      new GetObjectCommand({ Bucket: service.bucket, Key: `${id}/batches/streamed.json` }),
    );
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(body)).toBe(true);

    // The same, by hand, with the trailer of another body.
    const key = `${id}/batches/forged.json`;
    const edge = new URL(process.env.S3_ENDPOINT!);
    const framed = (trailer: string) =>
      Buffer.from(`${body.length.toString(16)}\r\n${body}\r\n0\r\nx-amz-checksum-crc32:${trailer}\r\n\r\n`);
    const signer = new SignatureV4({
      credentials: service.iam.credentialsOf(fnName('processBatch')),
      region: 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    });
    const send = async (trailer: string) => {
      const wire = framed(trailer);
      const signed = await signer.sign({
        method: 'PUT',
        protocol: 'http:',
        hostname: edge.hostname,
        port: Number(edge.port),
        path: `/${service.bucket}/${key}`,
        query: {},
        headers: {
          host: edge.host,
          'content-encoding': 'aws-chunked',
          'content-length': String(wire.length),
          'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
          'x-amz-decoded-content-length': String(body.length),
          'x-amz-trailer': 'x-amz-checksum-crc32',
        },
      });
      return put(`${edge.origin}/${service.bucket}/${key}`, wire, signed.headers);
    };
    const forged = await send(await crc32(Buffer.from('another body')));
    expect([forged.status, errorCode(forged.text)]).toEqual([400, 'BadDigest']);
    await expect(service.s3.send(new HeadObjectCommand({ Bucket: service.bucket, Key: key }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    expect((await send(await crc32(body))).status).toBe(200);
  });
});
