import { randomBytes } from 'node:crypto';
import { decodeUtf8, firstNotUtf8, Utf8Check } from '../../../src/core/utf8';

/**
 * Where the WHATWG decoder (TextDecoder, replacing) first put a U+FFFD for bytes that are not UTF-8, or -1: its
 * characters are walked along the bytes, and a U+FFFD that the bytes do not spell (EF BF BD) is where they fail.
 */
function reference(bytes: Buffer): number {
  let at = 0;
  for (const char of new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes)) {
    if (char === '\ufffd' && !(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) return at;
    at += Buffer.byteLength(char);
  }
  return -1;
}

describe('utf8: the strict check agrees with TextDecoder (fatal) and finds the first bad byte', () => {
  const samples = ['plain ascii', 'José Zoë 😀 𠮷田 Ελένη \ufffd \u{10ffff}', ''].map((s) => Buffer.from(s));
  const bad = [
    [0xe9],
    [0xc0, 0xaf],
    [0xc1, 0xbf],
    [0xe0, 0x80, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf0, 0x80, 0x80, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x80, 0x80, 0x80],
    [0xff],
    [0x80],
    [0xe2, 0x82],
    [0xe2, 0x41],
  ].map((b) => Buffer.from(b));

  it.each(bad.map((b) => [b.toString('hex'), b]))(
    '%s after valid text is found at its offset, in any chunking',
    (_hex, b) => {
      const bytes = Buffer.concat([samples[1], b, Buffer.from(' tail')]);
      const at = samples[1].length;
      expect(reference(bytes)).toBe(at);
      expect(firstNotUtf8(bytes)).toBe(at);
      expect(decodeUtf8(bytes)).toEqual({ bad: { byte: b[0], offset: at } });
      for (const size of [1, 2, 3, 5, 64]) {
        const check = new Utf8Check();
        let found: unknown;
        let passed = 0;
        for (let i = 0; i < bytes.length && !found; i += size) {
          const out = check.write(bytes.subarray(i, i + size));
          passed += out.bytes.length;
          found = out.bad;
        }
        found ??= check.end();
        expect(found).toEqual({ byte: b[0], offset: at });
        expect(passed).toBe(at);
      }
    },
  );

  it('random bytes: the same verdict and offset as the reference decoder', () => {
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.concat([samples[n % 2], randomBytes(1 + (n % 9))]);
      const expected = reference(bytes);
      expect(firstNotUtf8(bytes)).toBe(expected);
      const check = new Utf8Check();
      let found: { offset: number } | undefined;
      for (let i = 0; i < bytes.length && !found; i += 3) found = check.write(bytes.subarray(i, i + 3)).bad;
      found ??= check.end();
      expect(found?.offset ?? -1).toBe(expected);
    }
  });

  it('valid text cut anywhere comes back whole, characters never split', () => {
    for (const size of [1, 2, 3, 4, 7]) {
      const check = new Utf8Check();
      let text = '';
      for (let i = 0; i < samples[1].length; i += size)
        text += check.write(samples[1].subarray(i, i + size)).bytes.toString();
      expect(check.end()).toBeUndefined();
      expect(text).toBe(samples[1].toString());
    }
  });
});
