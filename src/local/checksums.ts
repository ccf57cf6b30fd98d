import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Crc32, Crc32c, Crc64Nvme } from '@aws-sdk/checksums/crc';

/**
 * S3's flexible checksums, for the local IAM edge: a PUT that declares one (x-amz-checksum-<algorithm> as a header,
 * as a presigned URL's query parameter, or as an aws-chunked trailer) must carry a body that has it, or S3 answers
 * 400 BadDigest and stores nothing. The emulator ignores them, so the edge checks them.
 */

interface Hasher {
  update(data: Uint8Array): void;
  digest(): Promise<Uint8Array>;
}

const node = (algorithm: string) => (): Hasher => {
  const hash = createHash(algorithm);
  return { update: (d) => hash.update(d), digest: async () => hash.digest() };
};

/** The algorithms the edge computes: the SDK's own CRCs (zlib's crc32 where Node has it), Node's hashes. */
const ALGORITHMS: Record<string, { label: string; bytes: number; make: () => Hasher }> = {
  crc32: { label: 'CRC32', bytes: 4, make: () => new Crc32() },
  crc32c: { label: 'CRC32C', bytes: 4, make: () => new Crc32c() },
  crc64nvme: { label: 'CRC64NVME', bytes: 8, make: () => new Crc64Nvme() },
  sha1: { label: 'SHA1', bytes: 20, make: node('sha1') },
  sha256: { label: 'SHA256', bytes: 32, make: node('sha256') },
  md5: { label: 'MD5', bytes: 16, make: node('md5') },
  sha512: { label: 'SHA512', bytes: 64, make: node('sha512') },
};

/** x-amz-checksum-* names that carry no checksum of the body. */
const NOT_A_CHECKSUM = new Set(['x-amz-checksum-algorithm', 'x-amz-checksum-mode', 'x-amz-checksum-type']);
const PREFIX = 'x-amz-checksum-';

export interface DeclaredChecksum {
  /** crc32, sha256, … */
  algorithm: string;
  /** S3's name for it in messages: CRC32, SHA256, … */
  label: string;
  /** As declared: base64 of the digest; for a trailer, undefined until the body's end. */
  value?: string;
  from: 'header' | 'query' | 'trailer';
}

export interface ChecksumRefusal {
  status: number;
  code: string;
  message: string;
}

export type Declaration = { ok: true; checksums: DeclaredChecksum[] } | ({ ok: false } & ChecksumRefusal);

const values = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * The checksums a PUT declares for its body: headers, query parameters (a presigned URL carries the client's headers
 * there) and, for an aws-chunked body, the trailer x-amz-trailer names. Refused as S3 refuses them: a malformed value
 * or two algorithms (400 InvalidRequest); an algorithm the edge cannot compute is refused (501) rather than passed.
 */
export function declaredChecksums(
  headers: IncomingHttpHeaders,
  query: URLSearchParams,
  { chunked }: { chunked: boolean },
): Declaration {
  const found: Array<{ name: string; value?: string; from: DeclaredChecksum['from'] }> = [];
  for (const [name, value] of Object.entries(headers))
    if (name.startsWith(PREFIX) && !NOT_A_CHECKSUM.has(name))
      for (const v of values(value)) found.push({ name, value: v, from: 'header' });
  for (const [raw, value] of query) {
    const name = raw.toLowerCase();
    if (name.startsWith(PREFIX) && !NOT_A_CHECKSUM.has(name)) found.push({ name, value, from: 'query' });
  }
  if (chunked)
    for (const v of values(headers['x-amz-trailer']))
      for (const name of v.split(',').map((n) => n.trim().toLowerCase()))
        if (name.startsWith(PREFIX)) found.push({ name, from: 'trailer' });

  const checksums: DeclaredChecksum[] = [];
  for (const { name, value, from } of found) {
    const algorithm = name.slice(PREFIX.length);
    const known = ALGORITHMS[algorithm];
    if (!known)
      return {
        ok: false,
        status: 501,
        code: 'NotImplemented',
        message: `The local IAM edge cannot compute the ${algorithm.toUpperCase()} checksum that ${name} declares, so it refuses the request rather than store a body it did not check; send ${Object.values(
          ALGORITHMS,
        )
          .map((a) => a.label)
          .join(', ')} or no checksum`,
      };
    if (value !== undefined && !isDigest(value, known.bytes))
      return { ok: false, status: 400, code: 'InvalidRequest', message: `Value for ${name} header is invalid.` };
    checksums.push({ algorithm, label: known.label, value, from });
  }
  if (new Set(checksums.map((c) => c.algorithm)).size > 1)
    return {
      ok: false,
      status: 400,
      code: 'InvalidRequest',
      message: 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
    };
  return { ok: true, checksums };
}

/** Base64 of exactly `bytes` bytes, as S3 takes it. */
function isDigest(value: string, bytes: number): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  return Buffer.from(value, 'base64').length === bytes;
}

/**
 * Computes the declared checksums of a body as it streams and says, at its end, whether they hold. For an aws-chunked
 * body (STREAMING-UNSIGNED-PAYLOAD-TRAILER) the checksums are of the decoded payload, and a trailer's value is read
 * from the trailer. `verify` answers the refusal S3 would give, or undefined.
 */
export class ChecksumCheck {
  private readonly hasher: Hasher;
  private readonly decoder: AwsChunkedDecoder | undefined;

  constructor(
    private readonly declared: DeclaredChecksum[],
    chunked: boolean,
  ) {
    this.hasher = ALGORITHMS[declared[0].algorithm].make();
    this.decoder = chunked ? new AwsChunkedDecoder() : undefined;
  }

  update(chunk: Buffer): void {
    if (this.decoder) this.decoder.write(chunk, (data) => this.hasher.update(data));
    else this.hasher.update(chunk);
  }

  async verify(): Promise<ChecksumRefusal | undefined> {
    const trailers = this.decoder?.end();
    if (this.decoder && !trailers) return malformedTrailer;
    const actual = Buffer.from(await this.hasher.digest()).toString('base64');
    for (const c of this.declared) {
      const value = c.from === 'trailer' ? trailers?.get(`${PREFIX}${c.algorithm}`) : c.value;
      if (value === undefined || (c.from === 'trailer' && !isDigest(value, ALGORITHMS[c.algorithm].bytes)))
        return malformedTrailer;
      if (value !== actual)
        return {
          status: 400,
          code: 'BadDigest',
          message: `The ${c.label} you specified did not match the calculated checksum.`,
        };
    }
    return undefined;
  }
}

const malformedTrailer: ChecksumRefusal = {
  status: 400,
  code: 'MalformedTrailerError',
  message: 'The request contained trailing data that was not well-formed or did not conform to our published schema.',
};

/**
 * aws-chunked as the SDK sends it unsigned: `<hex size>[;ext]\r\n<bytes>\r\n` … `0\r\n`, trailer lines
 * `name:value\r\n`, then `\r\n`. Hands on each chunk's bytes and keeps the trailers.
 */
export class AwsChunkedDecoder {
  private state: 'size' | 'data' | 'dataEnd' | 'trailer' | 'done' | 'bad' = 'size';
  private line = '';
  private remaining = 0;
  private pendingCrlf = '';
  readonly trailers = new Map<string, string>();

  write(chunk: Buffer, onData: (data: Buffer) => void): boolean {
    let i = 0;
    while (i < chunk.length && this.state !== 'bad') {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, chunk.length - i);
        onData(chunk.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'dataEnd';
        continue;
      }
      const byte = chunk[i++];
      if (this.state === 'dataEnd') {
        this.pendingCrlf += String.fromCharCode(byte);
        if (this.pendingCrlf.length === 2) {
          this.state = this.pendingCrlf === '\r\n' ? 'size' : 'bad';
          this.pendingCrlf = '';
        }
        continue;
      }
      if (this.state === 'done') {
        this.state = 'bad'; // bytes after the end
        break;
      }
      this.line += String.fromCharCode(byte);
      if (this.line.length > 8192) this.state = 'bad';
      if (!this.line.endsWith('\r\n')) continue;
      const line = this.line.slice(0, -2);
      this.line = '';
      if (this.state === 'size') {
        const size = /^([0-9a-fA-F]{1,16})(;.*)?$/.exec(line);
        if (!size) this.state = 'bad';
        else {
          this.remaining = Number.parseInt(size[1], 16);
          this.state = this.remaining === 0 ? 'trailer' : 'data';
        }
      } else if (line === '') this.state = 'done';
      else {
        const at = line.indexOf(':');
        if (at <= 0) this.state = 'bad';
        else this.trailers.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
      }
    }
    return this.state !== 'bad';
  }

  /** The trailers, if the body ended where aws-chunked ends; undefined for a truncated or malformed body. */
  end(): Map<string, string> | undefined {
    return this.state === 'done' ? this.trailers : undefined;
  }
}
