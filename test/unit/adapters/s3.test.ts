import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../../src/adapters/clients';
import { presignDownload, s3ObjectStore, s3UploadStore } from '../../../src/adapters/s3';
import { resetConfig } from '../../../src/config';

const s3 = mockClient(S3Client);
const body = (text: string) => ({ transformToString: async () => text }) as never;

beforeEach(() => {
  s3.reset();
  resetConfig();
  resetClients();
});
afterAll(() => s3.restore());

describe('s3ObjectStore.getJson / getStream', () => {
  it('parses a stored JSON object', async () => {
    s3.on(GetObjectCommand, { Bucket: 'unit-bucket', Key: 'a/b.json' }).resolves({ Body: body('{"x":[1,2]}') });
    expect(await s3ObjectStore().getJson('a/b.json')).toEqual({ x: [1, 2] });
  });

  it('returns undefined for a missing key', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    expect(await s3ObjectStore().getJson('nope.json')).toBeUndefined();
    expect(await s3ObjectStore().getStream('nope.json')).toBeUndefined();
  });

  it('treats a bare 404 as missing too', async () => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'NotFound',
        $fault: 'client',
        $metadata: { httpStatusCode: 404 },
        message: 'not found',
      }),
    );
    expect(await s3ObjectStore().getJson('nope.json')).toBeUndefined();
  });

  it('treats the 403 S3 answers for a missing key, to a role without s3:ListBucket, as missing', async () => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'denied',
      }),
    );
    expect(await s3ObjectStore().getJson('nope.json')).toBeUndefined();
    expect(await s3ObjectStore().getStream('nope.json')).toBeUndefined();
  });

  it('passes other errors on', async () => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'InternalError',
        $fault: 'server',
        $metadata: { httpStatusCode: 500 },
        message: 'broken',
      }),
    );
    await expect(s3ObjectStore().getJson('x.json')).rejects.toThrow('broken');
    await expect(s3ObjectStore().getStream('x.json')).rejects.toThrow('broken');
  });

  it('uses the bucket it was given', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body('1') });
    await s3ObjectStore('other-bucket').getJson('k');
    // ChecksumMode: the SDK validates a stored full-object checksum it gets back (the client asks for none itself).
    expect(s3.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({
      Bucket: 'other-bucket',
      Key: 'k',
      ChecksumMode: 'ENABLED',
    });
  });
});

describe('s3ObjectStore.listKeys', () => {
  it('follows continuation tokens until the listing ends', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'r/batches/000000.json' }, { Key: 'r/batches/000001.json' }],
        IsTruncated: true,
        NextContinuationToken: 't1',
      })
      .resolvesOnce({ Contents: [{ Key: 'r/batches/000002.json' }], IsTruncated: true, NextContinuationToken: 't2' })
      .resolvesOnce({ IsTruncated: false });
    expect(await s3ObjectStore().listKeys('r/batches/')).toEqual([
      'r/batches/000000.json',
      'r/batches/000001.json',
      'r/batches/000002.json',
    ]);
    const inputs = s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    expect(inputs).toEqual([
      { Bucket: 'unit-bucket', Prefix: 'r/batches/', ContinuationToken: undefined },
      { Bucket: 'unit-bucket', Prefix: 'r/batches/', ContinuationToken: 't1' },
      { Bucket: 'unit-bucket', Prefix: 'r/batches/', ContinuationToken: 't2' },
    ]);
  });
});

describe('s3ObjectStore writes', () => {
  it('puts JSON with its content type', async () => {
    s3.on(PutObjectCommand).resolves({});
    await s3ObjectStore().putJson('r/output.json', { enriched_contacts: [] });
    expect(s3.commandCalls(PutObjectCommand)[0].args[0].input).toEqual({
      Bucket: 'unit-bucket',
      Key: 'r/output.json',
      Body: '{"enriched_contacts":[]}',
      ContentType: 'application/json',
      ChecksumAlgorithm: 'CRC32',
    });
  });

  it('uploads a small streamed body whole', async () => {
    s3.on(PutObjectCommand).resolves({});
    async function* parts() {
      yield '{"a":';
      yield Buffer.from('[1,2,3]');
      yield '}';
    }
    await s3ObjectStore().upload('r/input.json', parts(), 'application/json');
    const input = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(input).toMatchObject({
      Bucket: 'unit-bucket',
      Key: 'r/input.json',
      ContentType: 'application/json',
      ChecksumAlgorithm: 'CRC32',
    });
    expect(Buffer.from(input.Body as Uint8Array).toString('utf8')).toBe('{"a":[1,2,3]}');
  });
});

describe('presignDownload', () => {
  it('signs a GET of the key that saves as the given file name and expires per config', async () => {
    const url = new URL(await presignDownload('r/output.json', 'enrichment-r.json'));
    expect(url.hostname).toMatch(/^unit-bucket\.s3\./);
    expect(url.pathname).toBe('/r/output.json');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(url.searchParams.get('response-content-disposition')).toBe('attachment; filename="enrichment-r.json"');
    // Nothing for a browser to honour: no x-amz-checksum-mode (the SDK's default response validation adds it).
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    expect(s3.calls()).toHaveLength(0); // signing is local
  });
});

describe('s3UploadStore.presignPart', () => {
  it('signs a part PUT with no checksum: the signer never sees the part (the SDK default signs crc32 of nothing)', async () => {
    const url = new URL(await s3UploadStore().presignPart('uploads/u.csv', 'UPLOAD-1', 3, 600));
    expect(url.pathname).toBe('/uploads/u.csv');
    expect([url.searchParams.get('partNumber'), url.searchParams.get('uploadId')]).toEqual(['3', 'UPLOAD-1']);
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    expect(s3.calls()).toHaveLength(0);
  });
});
