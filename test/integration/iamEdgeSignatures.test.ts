import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { presignDownload, s3ObjectStore } from '../../src/adapters/s3';
import { ownerIdOf, uploadPrefixOf } from '../../src/core/owner';
import { PART_SIZE } from '../../src/core/uploads';
import { apiEvent, makeContacts } from '../support/factories';
import { completeUploadFn, createUploadFn, downloadFn } from '../support/functions';
import { runIntakeSource, runPipeline } from '../support/faults';
import { submit, waitForFinal } from '../support/flow';
import { startTestService, type TestService } from '../support/service';

/**
 * The local IAM edge checks every request's SigV4 signature (header or presigned URL) against the secret of the
 * function its access key names, as AWS checks its credentials: the forgeries an adversarial review made on the
 * offline stack are refused, and every real client (the SDK as each function, presigned part PUTs and download GETs)
 * still works. Real edge, real emulators (fauxqs, dynalite).
 */
const API_KEY = 'signature-test-key-0123456789';
const FIELDS = ['professional_email'];
const MIB = 1024 * 1024;

const errorCode = (xml: string) => /<Code>([^<]+)<\/Code>/.exec(xml)?.[1];
async function get(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  return { status: res.status, text: await res.text() };
}

describe('the local IAM edge verifies SigV4 signatures (fauxqs + dynalite behind it)', () => {
  let service: TestService;
  /** Two requests' outputs, as the download function presigns them. */
  const idA = randomUUID();
  const idB = randomUUID();
  const fnName = (key: string) => `enrichment-service-${service.stage}-${key}`;
  const edgeUrl = () => process.env.S3_ENDPOINT!;

  beforeAll(async () => {
    service = await startTestService();
    for (const [id, csv] of [
      [idA, 'first_name\nAlice\n'],
      [idB, 'first_name\nBob-secret\n'],
    ])
      await service.s3.send(new PutObjectCommand({ Bucket: service.bucket, Key: `${id}/output.csv`, Body: csv }));
  });
  afterAll(() => service.close());

  const downloadUrl = (id: string) =>
    presignDownload(`${id}/output.csv`, 'e.csv', service.bucket, service.as('downloadEnrichment').s3, 'text/csv');

  it('a presigned download URL reads its own object, and its path rewritten to another request is refused', async () => {
    const url = await downloadUrl(idA);
    expect(await get(url)).toEqual({ status: 200, text: 'first_name\nAlice\n' });
    const forged = await get(url.replace(idA, idB));
    expect([forged.status, errorCode(forged.text)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(forged.text).not.toContain('Bob-secret');
  });

  it('an unsigned GET carrying only X-Amz-Credential is refused', async () => {
    const credential = encodeURIComponent(`${fnName('downloadEnrichment')}/20261206/us-east-1/s3/aws4_request`);
    const res = await get(`${edgeUrl()}/${service.bucket}/${idB}/output.csv?X-Amz-Credential=${credential}`);
    expect([res.status, errorCode(res.text)]).toEqual([400, 'AuthorizationQueryParametersError']);
    expect(res.text).not.toContain('Bob-secret');
    // Nothing at all: anonymous, which the private bucket refuses.
    const anonymous = await get(`${edgeUrl()}/${service.bucket}/${idB}/output.csv`);
    expect([anonymous.status, errorCode(anonymous.text)]).toEqual([403, 'AccessDenied']);
  });

  it('a zeroed signature is refused', async () => {
    const url = new URL(await downloadUrl(idB));
    url.searchParams.set('X-Amz-Signature', '0'.repeat(64));
    const res = await get(url.toString());
    expect([res.status, errorCode(res.text)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(res.text).not.toContain('Bob-secret');
  });

  it('an expired URL stays expired when its X-Amz-Date is changed', async () => {
    const url = new URL(
      await getSignedUrl(
        service.as('downloadEnrichment').s3,
        new GetObjectCommand({ Bucket: service.bucket, Key: `${idB}/output.csv` }),
        { expiresIn: 60, signingDate: new Date(Date.now() - 3_600_000) },
      ),
    );
    const expired = await get(url.toString());
    expect([expired.status, errorCode(expired.text), expired.text]).toEqual([
      403,
      'AccessDenied',
      expect.stringContaining('Request has expired'),
    ]);
    // Today's date in X-Amz-Date and in the credential's scope alike (signed an hour ago, the scope may name
    // yesterday: a date that disagrees with it is another error, and this test failed between 00:00 and 01:00 UTC).
    const now = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    url.searchParams.set('X-Amz-Date', now);
    url.searchParams.set(
      'X-Amz-Credential',
      url.searchParams.get('X-Amz-Credential')!.replace(/\/\d{8}\//, `/${now.slice(0, 8)}/`),
    );
    const fresh = await get(url.toString());
    expect([fresh.status, errorCode(fresh.text)]).toEqual([403, 'SignatureDoesNotMatch']);
    // A week is S3's longest validity.
    url.searchParams.set('X-Amz-Expires', String(7 * 24 * 3600 + 1));
    expect(errorCode((await get(url.toString())).text)).toBe('AuthorizationQueryParametersError');
  });

  it('a PUT signed with the createUpload function name but not its secret writes nothing', async () => {
    const key = `${uploadPrefixOf(ownerIdOf(API_KEY))}forged.json`;
    // The secret the repository used to publish ('local'), and a hand-made header with no valid signature.
    const forger = new S3Client({
      region: 'us-east-1',
      endpoint: edgeUrl(),
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: fnName('createUpload'), secretAccessKey: 'local' },
    });
    await expect(
      forger.send(new PutObjectCommand({ Bucket: service.bucket, Key: key, Body: '{"contacts":[]}' })),
    ).rejects.toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    forger.destroy();
    const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const plain = await get(`${edgeUrl()}/${service.bucket}/${key}`, {
      method: 'PUT',
      body: '{"contacts":[]}',
      headers: {
        'x-amz-date': date,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        authorization: `AWS4-HMAC-SHA256 Credential=${fnName('createUpload')}/${date.slice(0, 8)}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'ab'.repeat(32)}`,
      },
    });
    expect([plain.status, errorCode(plain.text)]).toEqual([403, 'SignatureDoesNotMatch']);
    await expect(service.s3.send(new HeadObjectCommand({ Bucket: service.bucket, Key: key }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('an unknown key, a wrong secret on SQS and DynamoDB, a skewed clock and a swapped body are refused as AWS does', async () => {
    const unknown = new S3Client({
      region: 'us-east-1',
      endpoint: edgeUrl(),
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: 'not-a-function', secretAccessKey: 'x' },
    });
    await expect(unknown.send(new ListObjectsV2Command({ Bucket: service.bucket }))).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
    });
    unknown.destroy();
    const wrong = { accessKeyId: fnName('processBatch'), secretAccessKey: 'local' };
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: edgeUrl(), maxAttempts: 1, credentials: wrong });
    await expect(sqs.send(new ListQueuesCommand({}))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
      message: expect.stringContaining('signature'),
    });
    sqs.destroy();
    const ddb = new DynamoDBClient({ region: 'us-east-1', endpoint: edgeUrl(), maxAttempts: 1, credentials: wrong });
    await expect(ddb.send(new DescribeTableCommand({ TableName: service.table }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    ddb.destroy();

    // The function's real secret, but a clock 20 minutes off: S3 allows 15.
    const skewed = new S3Client({
      region: 'us-east-1',
      endpoint: edgeUrl(),
      forcePathStyle: true,
      maxAttempts: 1,
      systemClockOffset: -20 * 60_000,
      credentials: service.iam.credentialsOf(fnName('processBatch')),
    });
    await expect(
      skewed.send(new GetObjectCommand({ Bucket: service.bucket, Key: `${idA}/output.csv` })),
    ).rejects.toMatchObject({ name: 'RequestTimeTooSkewed', $metadata: { httpStatusCode: 403 } });
    skewed.destroy();

    // A request signed over one body, sent with another: S3 checks the body against x-amz-content-sha256.
    const key = `${idA}/batches/swapped.json`;
    const target = new URL(edgeUrl());
    const signer = new SignatureV4({
      credentials: service.iam.credentialsOf(fnName('processBatch')),
      region: 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    });
    const signed = await signer.sign({
      method: 'PUT',
      protocol: 'http:',
      hostname: target.hostname,
      port: Number(target.port),
      path: `/${service.bucket}/${key}`,
      query: {},
      headers: { host: target.host, 'content-length': '6' },
      body: 'honest',
    });
    const swapped = await get(`${edgeUrl()}/${service.bucket}/${key}`, {
      method: 'PUT',
      headers: signed.headers,
      body: 'forged',
    });
    expect([swapped.status, errorCode(swapped.text)]).toEqual([400, 'XAmzContentSHA256Mismatch']);
    await expect(service.s3.send(new HeadObjectCommand({ Bucket: service.bucket, Key: key }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    const honest = await get(`${edgeUrl()}/${service.bucket}/${key}`, {
      method: 'PUT',
      headers: signed.headers,
      body: 'honest',
    });
    expect(honest.status).toBe(200);
  });

  it('the real clients still work: each function through the SDK, presigned part PUTs, presigned downloads', async () => {
    // The SDK as each function of the pipeline: create, intake, worker, assembly, status, download.
    const res = await submit({ contacts: makeContacts(120), fields_to_enrich: FIELDS });
    expect(res.statusCode).toBe(202);
    runIntakeSource(service);
    runPipeline(service, { concurrency: 2 });
    expect((await waitForFinal(res.json.requestId, 30_000)).status).toBe('completed');
    const redirect = await downloadFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: res.json.requestId } }));
    const download = await fetch(String(redirect.headers?.location));
    expect(download.status).toBe(200);
    expect(((await download.json()) as { enriched_contacts: unknown[] }).enriched_contacts).toHaveLength(120);

    // lib-storage's multipart upload: 5 MiB parts, sent with Expect: 100-continue and their SHA-256.
    const big = Buffer.alloc(6 * MIB, 'a');
    await s3ObjectStore(service.bucket, service.as('processBatch').s3).upload(
      `${idA}/batches/big.json`,
      Readable.from([big]),
    );
    const stored = await service.s3.send(
      new HeadObjectCommand({ Bucket: service.bucket, Key: `${idA}/batches/big.json` }),
    );
    expect(stored.ContentLength).toBe(big.length);

    // Direct upload: presigned part URLs signed by createUpload, PUT with no credentials.
    const headers = { 'x-api-key': API_KEY, 'content-type': 'application/json' };
    const file = Buffer.alloc(PART_SIZE + 10, 'b');
    const created = await createUploadFn()(apiEvent({ body: JSON.stringify({ size: file.length }), headers }));
    const up = JSON.parse(created.body);
    const parts = [];
    for (const p of up.parts as Array<{ partNumber: number; url: string }>) {
      const put = await fetch(p.url, {
        method: 'PUT',
        body: file.subarray((p.partNumber - 1) * PART_SIZE, p.partNumber * PART_SIZE),
      });
      expect(put.status).toBe(200);
      parts.push({ partNumber: p.partNumber, etag: put.headers.get('etag') });
    }
    const done = await completeUploadFn()(
      apiEvent({ body: JSON.stringify({ key: up.key, parts }), headers, pathParameters: { uploadId: up.uploadId } }),
    );
    expect(done.statusCode).toBe(200);
  }, 60_000);

  it("a part over the emulator's 11 MiB is answered 400 EntityTooLarge naming the limit, never 502", async () => {
    const headers = { 'x-api-key': API_KEY, 'content-type': 'application/json' };
    const created = await createUploadFn()(apiEvent({ body: JSON.stringify({ size: 12 * MIB }), headers }));
    const url: string = JSON.parse(created.body).parts[0].url;
    const body = Buffer.alloc(12 * MIB, 'c');
    const sized = await get(url, { method: 'PUT', body });
    expect([sized.status, errorCode(sized.text)]).toEqual([400, 'EntityTooLarge']);
    expect(sized.text).toContain('the offline S3 emulator accepts at most 11 MiB');
    expect(sized.text).toContain('parts are 8 MiB');
    // Without a Content-Length (chunked): counted as it streams, refused once past the limit.
    const stream = new Blob([body]).stream();
    const chunked = await get(url, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    expect([chunked.status, errorCode(chunked.text)]).toEqual([400, 'EntityTooLarge']);
  });
});
