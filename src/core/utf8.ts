import { isUtf8 } from 'node:buffer';

/** The first byte that is not UTF-8: its value and its offset from the start of the bytes (a BOM counts). */
export interface NotUtf8 {
  byte: number;
  offset: number;
}

const EMPTY = Buffer.alloc(0);

/** `byte 0xE9 at byte offset 1234`. */
export const describeNotUtf8 = (bad: NotUtf8): string =>
  `byte 0x${bad.byte.toString(16).toUpperCase().padStart(2, '0')} at byte offset ${bad.offset}`;

/**
 * The index of the first byte of `bytes` (up to `end`) that starts no valid UTF-8 sequence (RFC 3629: no overlong
 * forms, no UTF-16 surrogates, nothing above U+10FFFF), a sequence cut short by `end` included; -1 if there is none.
 * A plain loop: it runs only once the fast check (isUtf8) has said there is such a byte.
 */
export function firstNotUtf8(bytes: Uint8Array, end = bytes.length): number {
  let i = 0;
  while (i < end) {
    const c = bytes[i];
    if (c < 0x80) {
      i += 1;
      continue;
    }
    const more = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (more === 0 || i + more >= end) return i;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (bytes[i + 1] < lo || bytes[i + 1] > hi) return i;
    for (let k = 2; k <= more; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return -1;
}

/** How many bytes at the end of `bytes` begin a multi-byte sequence that the next chunk may complete. */
function cutSequenceAtEnd(bytes: Uint8Array): number {
  for (let j = bytes.length - 1; j >= Math.max(0, bytes.length - 3); j--) {
    const c = bytes[j];
    if (c < 0x80) return 0;
    if (c >= 0xc0) {
      const length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      return bytes.length - j < length ? bytes.length - j : 0;
    }
  }
  return 0;
}

/**
 * A strict UTF-8 check of a byte stream, chunk by chunk. write() gives back the bytes that are whole characters
 * (a character cut by the chunk's end is held until the next chunk), so they can be decoded on their own, or, at
 * the first byte that is not UTF-8, the bytes before it and that byte. Native speed (Buffer's isUtf8, simdutf) on
 * the usual path: a small fraction of a JSON.parse of the same bytes.
 */
export class Utf8Check {
  private held: Buffer = EMPTY;
  /** The offset of the first byte not given back yet. */
  private offset = 0;

  write(chunk: Buffer): { bytes: Buffer; bad?: NotUtf8 } {
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const end = data.length - cutSequenceAtEnd(data);
    const whole = data.subarray(0, end);
    if (isUtf8(whole)) {
      this.held = end === data.length ? EMPTY : Buffer.from(data.subarray(end));
      this.offset += end;
      return { bytes: whole };
    }
    const i = Math.max(0, firstNotUtf8(data, end));
    return { bytes: data.subarray(0, i), bad: { byte: data[i], offset: this.offset + i } };
  }

  /** At the end of the stream: a character still cut short is not UTF-8. */
  end(): NotUtf8 | undefined {
    return this.held.length ? { byte: this.held[0], offset: this.offset } : undefined;
  }
}

/** `bytes` as text if they are all UTF-8 (a BOM is kept), else the first byte that is not. */
export function decodeUtf8(bytes: Buffer): { text: string } | { bad: NotUtf8 } {
  if (isUtf8(bytes)) return { text: bytes.toString('utf8') };
  const i = Math.max(0, firstNotUtf8(bytes));
  return { bad: { byte: bytes[i], offset: i } };
}
