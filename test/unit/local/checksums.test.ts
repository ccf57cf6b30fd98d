import { createHash } from 'node:crypto';
import { AwsChunkedDecoder, ChecksumCheck, declaredChecksums } from '../../../src/local/checksums';

/** The CRC catalogue's check input, and its published check values (big-endian, as S3 takes them in base64). */
const CHECK_INPUT = Buffer.from('123456789');
const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const CHECK_VALUES: Record<string, string> = {
  crc32: b64('cbf43926'),
  crc32c: b64('e3069283'),
  crc64nvme: b64('ae8b14860a799888'),
  sha1: createHash('sha1').update(CHECK_INPUT).digest('base64'),
  sha256: createHash('sha256').update(CHECK_INPUT).digest('base64'),
};
const noQuery = new URLSearchParams();

async function check(headers: Record<string, string>, body: Buffer, query = noQuery, chunked = false) {
  const declaration = declaredChecksums(headers, query, { chunked });
  if (!declaration.ok) throw new Error(declaration.message);
  const c = new ChecksumCheck(declaration.checksums, chunked);
  // A byte at a time: nothing may depend on where the network splits the body.
  for (const byte of body) c.update(Buffer.from([byte]));
  return c.verify();
}

/** aws-chunked as the SDK frames an unsigned body with a trailing checksum. */
const awsChunked = (parts: string[], trailer?: string) =>
  Buffer.from(
    parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') +
      '0\r\n' +
      (trailer === undefined ? '' : `${trailer}\r\n\r\n`),
  );

describe('declared checksums at the local IAM edge (S3 flexible checksums)', () => {
  it.each(Object.entries(CHECK_VALUES))(
    '%s: the check value holds, any other is BadDigest',
    async (algorithm, value) => {
      expect(await check({ [`x-amz-checksum-${algorithm}`]: value }, CHECK_INPUT)).toBeUndefined();
      const label = algorithm.toUpperCase();
      expect(await check({ [`x-amz-checksum-${algorithm}`]: value }, Buffer.from('123456780'))).toEqual({
        status: 400,
        code: 'BadDigest',
        message: `The ${label} you specified did not match the calculated checksum.`,
      });
    },
  );

  it("AAAAAA== (the SDK's CRC32 of an empty body, signed into part URLs) holds for an empty body only", async () => {
    const query = new URLSearchParams({ 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-sdk-checksum-algorithm': 'CRC32' });
    expect(await check({}, Buffer.alloc(0), query)).toBeUndefined();
    expect(await check({}, Buffer.from('a part'), query)).toMatchObject({ code: 'BadDigest' });
  });

  it('reads headers and presigned query parameters, and not the names that carry no checksum', () => {
    const query = new URLSearchParams({ 'x-amz-checksum-crc32': CHECK_VALUES.crc32 });
    expect(
      declaredChecksums(
        {
          'x-amz-checksum-crc32': CHECK_VALUES.crc32,
          'x-amz-checksum-algorithm': 'CRC32',
          'x-amz-checksum-mode': 'ENABLED',
          'x-amz-checksum-type': 'FULL_OBJECT',
        },
        query,
        { chunked: false },
      ),
    ).toEqual({
      ok: true,
      checksums: [
        { algorithm: 'crc32', label: 'CRC32', value: CHECK_VALUES.crc32, from: 'header' },
        { algorithm: 'crc32', label: 'CRC32', value: CHECK_VALUES.crc32, from: 'query' },
      ],
    });
    expect(declaredChecksums({}, noQuery, { chunked: false })).toEqual({ ok: true, checksums: [] });
  });

  it('refuses as S3 does a malformed value or two algorithms (400 InvalidRequest)', () => {
    expect(declaredChecksums({ 'x-amz-checksum-crc32': 'not base64!' }, noQuery, { chunked: false })).toEqual({
      ok: false,
      status: 400,
      code: 'InvalidRequest',
      message: 'Value for x-amz-checksum-crc32 header is invalid.',
    });
    // A SHA-256 in a CRC32's place: valid base64, wrong length.
    expect(
      declaredChecksums({ 'x-amz-checksum-crc32': CHECK_VALUES.sha256 }, noQuery, { chunked: false }),
    ).toMatchObject({ ok: false, code: 'InvalidRequest' });
    expect(
      declaredChecksums(
        { 'x-amz-checksum-crc32': CHECK_VALUES.crc32 },
        new URLSearchParams({ 'x-amz-checksum-sha256': CHECK_VALUES.sha256 }),
        { chunked: false },
      ),
    ).toMatchObject({
      ok: false,
      status: 400,
      code: 'InvalidRequest',
      message: 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
    });
  });

  it('refuses with 501 naming it an algorithm it cannot compute, rather than pass it unchecked', () => {
    expect(declaredChecksums({ 'x-amz-checksum-xxhash64': 'AAAAAAAAAAA=' }, noQuery, { chunked: false })).toEqual({
      ok: false,
      status: 501,
      code: 'NotImplemented',
      message: expect.stringContaining('cannot compute the XXHASH64 checksum that x-amz-checksum-xxhash64 declares'),
    });
  });

  it('aws-chunked: the trailer x-amz-trailer names is checked against the decoded payload', async () => {
    const headers = { 'x-amz-trailer': 'x-amz-checksum-crc32' };
    const body = awsChunked(['1234', '56789'], `x-amz-checksum-crc32:${CHECK_VALUES.crc32}`);
    expect(await check(headers, body, noQuery, true)).toBeUndefined();
    const forged = awsChunked(['1234', '56780'], `x-amz-checksum-crc32:${CHECK_VALUES.crc32}`);
    expect(await check(headers, forged, noQuery, true)).toMatchObject({ status: 400, code: 'BadDigest' });
    // A trailer promised and not sent, or a body cut short: malformed, as S3 answers it.
    for (const bad of [awsChunked(['123456789']), body.subarray(0, body.length - 2)])
      expect(await check(headers, bad, noQuery, true)).toMatchObject({ status: 400, code: 'MalformedTrailerError' });
  });

  it('decodes aws-chunked framing, with chunk extensions, however it is split', () => {
    const framed = Buffer.from('3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n');
    for (const step of [1, 2, 5, framed.length]) {
      const decoder = new AwsChunkedDecoder();
      const out: Buffer[] = [];
      for (let i = 0; i < framed.length; i += step) decoder.write(framed.subarray(i, i + step), (d) => out.push(d));
      expect(Buffer.concat(out).toString()).toBe('abcde');
      expect(decoder.end()).toEqual(new Map([['x-amz-checksum-crc32', 'AAAAAA==']]));
    }
    const bad = new AwsChunkedDecoder();
    expect(bad.write(Buffer.from('zz\r\n'), () => undefined)).toBe(false);
    expect(bad.end()).toBeUndefined();
  });
});
