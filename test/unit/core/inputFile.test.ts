import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CsvError, type CsvErrorCode } from 'csv-parse';
import {
  CSV_ERROR_CODES,
  csvParseError,
  formatOf,
  inputOf,
  InputParseError,
  readInputBatches,
  renderInput,
  streamContacts,
  streamContactRunsOf,
  streamContactsOf,
  streamJsonContacts,
  type InputFormat,
} from '../../../src/core/inputFile';
import { keys } from '../../../src/core/status';
import type { Contact, EnrichField } from '../../../src/schemas/contact';
import { MemoryObjectStore } from '../../support/fakes';
import { makeContacts } from '../../support/factories';

async function text(gen: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const part of gen) out += part;
  return out;
}

async function collect(source: Readable): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of streamContacts(source)) out.push(item);
  return out;
}

/** Splits text into small, uneven chunks so tokens straddle chunk borders. */
function chunked(s: string, sizes = [1, 7, 3, 64, 13]): Readable {
  const parts: Buffer[] = [];
  const buf = Buffer.from(s);
  for (let i = 0, k = 0; i < buf.length; k++) {
    const n = sizes[k % sizes.length];
    parts.push(buf.subarray(i, i + n));
    i += n;
  }
  return Readable.from(parts);
}

const FIELDS: EnrichField[] = ['professional_email', 'job_title'];

describe('renderInput', () => {
  it.each([0, 1, 999, 1_000, 2_500])('renders %i contacts as JSON that parses back', async (n) => {
    const contacts = makeContacts(n, { extra: (i) => (i % 3 === 0 ? { crm_id: `crm-${i}`, tags: ['a', i] } : {}) });
    const doc = JSON.parse(await text(renderInput(contacts, FIELDS)));
    expect(doc).toEqual({ fields_to_enrich: FIELDS, contacts });
  });
});

describe('streamContacts', () => {
  it('yields the contacts of {"contacts": [...]} in order, however the bytes are chunked', async () => {
    const contacts = makeContacts(250, { extra: (i) => ({ note: `ünïcödé ${i} "quoted"` }) });
    const json = JSON.stringify({ other: { contacts: ['not these'] }, contacts, after: 1 });
    expect(await collect(chunked(json))).toEqual(contacts);
  });

  it('reads what renderInput writes', async () => {
    const contacts = makeContacts(1_234);
    const rendered = await text(renderInput(contacts, FIELDS));
    expect(await collect(chunked(rendered, [4096, 17]))).toEqual(contacts);
  });

  it('yields nothing for an empty list and fails on broken JSON', async () => {
    expect(await collect(Readable.from(['{"contacts": []}']))).toEqual([]);
    await expect(collect(Readable.from(['{"contacts": [{"first_name": 1']))).rejects.toThrow();
  });
});

describe('readInputBatches', () => {
  const requestId = 'req-1';
  async function storeWith(contacts: Contact[]) {
    const store = new MemoryObjectStore();
    await store.upload(keys.input(requestId), renderInput(contacts, FIELDS));
    return store;
  }

  it('returns the contacts of the wanted batches only', async () => {
    const contacts = makeContacts(250);
    const store = await storeWith(contacts);
    const batches = await readInputBatches(store, inputOf({ requestId }), 100, new Set([0, 2]));
    expect([...batches.keys()].sort()).toEqual([0, 2]);
    expect(batches.get(0)).toEqual(contacts.slice(0, 100));
    expect(batches.get(2)).toEqual(contacts.slice(200, 250));
  });

  it('uses the given batch size and ignores indexes beyond the input', async () => {
    const contacts = makeContacts(10);
    const store = await storeWith(contacts);
    const batches = await readInputBatches(store, inputOf({ requestId }), 3, new Set([1, 3, 9]));
    expect(batches.get(1)).toEqual(contacts.slice(3, 6));
    expect(batches.get(3)).toEqual(contacts.slice(9, 10));
    expect(batches.has(9)).toBe(false);
  });

  it('fails clearly when input.json is missing', async () => {
    await expect(readInputBatches(new MemoryObjectStore(), inputOf({ requestId }), 100, new Set([0]))).rejects.toThrow(
      /input req-1\/input\.json is missing/,
    );
  });
});

async function all(source: Readable, format: InputFormat): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of streamContactsOf(source, format)) out.push(item);
  return out;
}
const parseError = async (source: Readable, format: InputFormat): Promise<InputParseError> => {
  try {
    await all(source, format);
  } catch (err) {
    if (err instanceof InputParseError) return err;
    throw err;
  }
  throw new Error('expected a parse error');
};

describe('formatOf: the content type, else the extension', () => {
  it.each([
    ['uploads/o/a.bin', 'application/json', 'json'],
    ['uploads/o/a.json', 'text/csv; charset=utf-8', 'csv'],
    ['uploads/o/a', 'application/x-ndjson', 'ndjson'],
    ['uploads/o/a.json', 'application/octet-stream', 'json'],
    ['uploads/o/a.NDJSON', undefined, 'ndjson'],
    ['uploads/o/a.jsonl', 'binary/octet-stream', 'ndjson'],
    ['uploads/o/a.csv', '', 'csv'],
    ['uploads/o/a.txt', 'text/plain', undefined],
  ])('%s (%s) → %s', (key, type, format) => expect(formatOf(key, type)).toBe(format));
});

describe('streamContactsOf: JSON', () => {
  it('yields the elements in order across chunk borders, with a BOM, nested values and escapes', async () => {
    const contacts = makeContacts(120, {
      extra: (i) => ({ tags: [i, { deep: ['a]', '}', '\\"x'] }], note: `l1\nl2, "q" ${i}` }),
    });
    const json = `\ufeff${JSON.stringify({ meta: { contacts: [1] }, contacts, z: [1, 2] }, null, 2)}`;
    for (const sizes of [[1], [2, 5], [4096]]) expect(await all(chunked(json, sizes), 'json')).toEqual(contacts);
  });

  it('passes over long strings, backslashes and escaped quotes at any chunk border, counting the lines in them', async () => {
    const text = (n: number) => `${'x'.repeat(n)}\\"${'y'.repeat(n)}\\\\`;
    const contacts = [1, 40, 300, 5000].map((n, i) => ({ first_name: text(n), last_name: `"${i}"`, note: '\\' }));
    const json = JSON.stringify({ contacts }, null, 1);
    for (const source of chunkings(Buffer.from(json))) expect(await all(source(), 'json')).toEqual(contacts);
    // A raw line feed inside a string is not JSON: the element is refused on the line where it ends.
    const bad = '{"contacts":[\n{"a":"x\\"y"},\n{"a":"b\nc\nd"},\n{"a":1}]}';
    for (const source of chunkings(Buffer.from(bad))) {
      const err = await parseError(source(), 'json');
      expect([err.message, err.position]).toEqual([
        expect.stringMatching(/contacts\[1\] is not valid JSON/),
        'line 5, contacts[1]',
      ]);
    }
  });

  it('streamContactRunsOf: the same contacts in non-empty runs, one chunk at a time', async () => {
    const contacts = makeContacts(300);
    for (const [format, body] of [
      ['json', JSON.stringify({ contacts })],
      ['ndjson', contacts.map((c) => JSON.stringify(c)).join('\n')],
    ] as const) {
      const runs: unknown[][] = [];
      for await (const run of streamContactRunsOf(chunked(body, [4096]), format)) runs.push(run);
      expect(runs.flat()).toEqual(contacts);
      expect(runs.length).toBeGreaterThan(1);
      expect(runs.length).toBeLessThan(contacts.length / 10);
      expect(runs.every((r) => r.length > 0)).toBe(true);
    }
  });

  it.each([
    ['{"contacts":[{"a":1},{"a":2} {"a":3}]}', /contacts\[1\] is not valid JSON/, 'line 1, contacts[1]'],
    ['{"contacts":[{"a":1} 5]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    ['{"contacts":[{"a":1},,{"a":2}]}', /unexpected ","/, 'contacts[1]'],
    ['{"contacts":[{"a":1},]}', /before the end/, 'contacts[1]'],
    ['{"contacts":[{"a":1},\n{"a":tru}]}', /contacts\[1\] is not valid JSON/, 'line 2, contacts[1]'],
    ['{"contacts":[{"a":1}]', /ends too early/, 'end of file'],
    ['{"contacts":[{"a":1}], "x": }', /not valid JSON/, 'outside the contacts array'],
    ['{"contacts":{"a":1}}', /must be an array/, 'line 1'],
    ['{"other":[]}', /no "contacts" array/, 'top level'],
    ['{"contacts":[{"a":1}],"contacts":[{"a":2}]}', /given twice/, 'line 1'],
    ['[{"contacts":[]}]', /must be a JSON object/, 'line 1'],
  ])('refuses %s naming the position', async (text, message, position) => {
    const err = await parseError(Readable.from([text]), 'json');
    expect(err.message).toMatch(message);
    expect(err.position).toContain(position);
  });
});

describe("streamJsonContacts with another key (the scripts read output.json's enriched_contacts with it)", () => {
  it('yields that array and names it in errors', async () => {
    const rows = makeContacts(3);
    const doc = JSON.stringify({ requestId: 'r', enriched_contacts: rows, summary: { total: 3, contacts: [9] } });
    const seen: unknown[] = [];
    for await (const row of streamJsonContacts(chunked(doc, [7]), 'enriched_contacts')) seen.push(row);
    expect(seen).toEqual(rows);
    const broken = streamJsonContacts(Readable.from(['{"enriched_contacts":[{"a":1} 5]}']), 'enriched_contacts');
    await expect(
      (async () => {
        for await (const _ of broken) void _;
      })(),
    ).rejects.toMatchObject({ message: expect.stringMatching(/enriched_contacts\[0\] is not valid JSON/) });
  });
});

describe('streamContactsOf: NDJSON', () => {
  it('one contact per line; blank lines, CRLF and a BOM are fine', async () => {
    const contacts = makeContacts(50);
    const text = `\ufeff${contacts.map((c) => JSON.stringify(c)).join('\r\n\r\n   \r\n')}\n\n`;
    expect(await all(chunked(text), 'ndjson')).toEqual(contacts);
  });

  it('lines end at LF, CRLF or a lone CR (as readline split them), wherever the chunks end', async () => {
    const text = '{"a":1}\r{"a":2}\r\n{"a":3}\n\r{"a":4}\r';
    for (const source of chunkings(Buffer.from(text)))
      expect(await all(source(), 'ndjson')).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }]);
    const err = await parseError(Readable.from(['{"a":1}\r{"a":2}\r\n\r{"a":\r']), 'ndjson');
    expect(err.position).toBe('line 4, contacts[2]');
  });

  it('names the line and the contact of a line that is not JSON', async () => {
    const err = await parseError(Readable.from(['{"a":1}\n\n{"a":2}\n{"a":\n']), 'ndjson');
    expect(err.position).toBe('line 4, contacts[2]');
  });
});

describe('streamContactsOf: CSV', () => {
  it('a header row, quoting (commas, quotes, line breaks), extra columns as strings, empty cells left out, BOM and CRLF', async () => {
    const text =
      '\ufefffirst_name,last_name,company_domain,crm_id,note\r\n' +
      'Ada,Lovelace,example.com,42,"Hello, ""world"""\r\n' +
      '"Grace","Hop\r\nper",navy.mil,,\r\n' +
      '\r\n' +
      'Alan,Turing,bletchley.uk,7,plain\r\n';
    expect(await all(chunked(text), 'csv')).toEqual([
      { first_name: 'Ada', last_name: 'Lovelace', company_domain: 'example.com', crm_id: '42', note: 'Hello, "world"' },
      { first_name: 'Grace', last_name: 'Hop\r\nper', company_domain: 'navy.mil' },
      { first_name: 'Alan', last_name: 'Turing', company_domain: 'bletchley.uk', crm_id: '7', note: 'plain' },
    ]);
  });

  it('names the line and the contact of a row with the wrong number of cells', async () => {
    const err = await parseError(Readable.from(['first_name,last_name,company_domain\na,b,c.com\nd,e\n']), 'csv');
    expect(err.message).toMatch(/not valid CSV/);
    expect(err.position).toBe('line 3, contacts[1]');
  });
});

describe('streamContactsOf: CSV, every error csv-parse can raise with the options used is a rejection naming the line', () => {
  const HEADER = 'first_name,last_name,company_domain\n';
  const ok = 'Ada,Lovelace,a.com\n';
  it.each([
    [
      'INVALID_OPENING_QUOTE: a quote inside an unquoted cell',
      `${HEADER}${ok}TV,5" screen,b.com\n`,
      /a double quote inside a field that is not quoted \(column "last_name", after "5"\).*RFC 4180.*wrap it in double quotes and double each quote inside it/,
      'line 3, contacts[1]',
    ],
    [
      'INVALID_OPENING_QUOTE: a formula',
      `${HEADER}${ok}${ok}@HYPERLINK("x"),L,c.com\n`,
      /double quote inside a field that is not quoted \(column "first_name", after "@HYPERLINK\("\)/,
      'line 4, contacts[2]',
    ],
    [
      'CSV_INVALID_CLOSING_QUOTE: a quoted field goes on after its closing quote',
      `${HEADER}"5" screen",L,a.com\n`,
      /goes on after its closing quote.*double each quote inside it/,
      'line 2, contacts[0]',
    ],
    [
      'CSV_QUOTE_NOT_CLOSED: a quoted field never closed',
      `${HEADER}${ok}"Grace,Hopper,b.com\n${ok}${ok}`,
      /never closed/,
      'contacts[1]',
    ],
    [
      'CSV_RECORD_INCONSISTENT_COLUMNS: fewer cells than the header',
      `${HEADER}${ok}Grace,Hopper\n`,
      /2 cells where the header has 3/,
      'line 3, contacts[1]',
    ],
    [
      'CSV_RECORD_INCONSISTENT_COLUMNS: more cells than the header',
      `${HEADER}${ok}Grace,Hopper,b.com,extra\n`,
      /4 cells where the header has 3.*quote a cell that holds a comma/,
      'line 3, contacts[1]',
    ],
    [
      'CSV_MAX_RECORD_SIZE: a row over the limit',
      `${HEADER}${ok}Grace,${'x'.repeat(1024 * 1024 + 10)},b.com\n`,
      /larger than 1048576 characters/,
      'line 3, contacts[1]',
    ],
    [
      'INVALID_OPENING_QUOTE in the header',
      `first_name,last"name,company_domain\n${ok}`,
      /double quote inside a field that is not quoted/,
      'line 1 (the header)',
    ],
  ])('%s', async (_name, text, message, position) => {
    for (const source of [() => Readable.from([Buffer.from(text)]), () => chunked(text, [1, 3, 64 * 1024])]) {
      const err = await parseError(source(), 'csv');
      expect(err.message).toMatch(/not valid CSV/);
      expect(err.message).toMatch(message);
      expect(err.position).toContain(position);
    }
  });

  it("maps every CsvError code in csv-parse's source (so an upgrade that adds one is noticed) to a parse error", () => {
    const dir = path.join(path.dirname(require.resolve('csv-parse')), '..', '..', 'lib');
    const codes = new Set<string>();
    for (const file of ['index.js', 'api/index.js', 'api/normalize_options.js', 'api/normalize_columns_array.js'])
      for (const m of readFileSync(path.join(dir, file), 'utf8').matchAll(/new CsvError\(\s*"([A-Z_]+)"/g))
        codes.add(m[1]);
    expect([...codes].sort()).toEqual([...CSV_ERROR_CODES].sort());
    for (const code of codes) {
      const err = csvParseError(
        new CsvError(code as CsvErrorCode, 'csv-parse says', undefined, { lines: 7, records: 3 }),
        true,
      );
      expect(err).toBeInstanceOf(InputParseError);
      expect(err.message).toMatch(/^not valid CSV: /);
      expect(err.position).toBe('line 7, contacts[3]');
    }
  });

  it('a failure to read the file is not a parse error: it is thrown as it is (the intake retries)', async () => {
    for (const format of ['json', 'ndjson', 'csv'] as const) {
      const lines = format === 'csv' ? [HEADER, ok] : format === 'json' ? ['{"contacts":[{"a":1},'] : ['{"a":1}\n'];
      const source = new Readable({ read() {} });
      for (const line of lines) source.push(Buffer.from(line));
      setImmediate(() => source.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
      const err = await all(source, format).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(InputParseError);
      expect(err).toMatchObject({ message: 'socket hang up' });
    }
  });
});

describe('streamContactsOf: CSV header names', () => {
  it.each([
    [
      'the same name twice',
      'first_name,last_name,company_domain,first_name\nA,B,c.com,D\n',
      /the header names "first_name" twice: columns 1 and 4/,
    ],
    [
      'the same name after trimming',
      'first_name,last_name, company_domain,company_domain \nA,B,c.com,d.com\n',
      /the header names "company_domain" twice: columns 3 and 4/,
    ],
    [
      'names that differ only in case',
      'first_name,last_name,company_domain,First_Name\nA,B,c.com,D\n',
      /the header names "first_name" twice: columns 1 and 4 \("first_name" and "First_Name"; names are compared ignoring case\)/,
    ],
  ])('refuses %s, naming both columns', async (_name, text, message) => {
    const err = await parseError(Readable.from([Buffer.from(text)]), 'csv');
    expect(err.message).toMatch(message);
    expect(err.position).toBe('line 1 (the header)');
  });

  it('refuses a column with no name in the header once a row gives it a value, naming the column and the row', async () => {
    const text = 'first_name,last_name,company_domain,\nA,B,c.com,\nA,B,c.com,\nA,B,c.com,oops\n';
    const err = await parseError(chunked(text), 'csv');
    expect(err.message).toMatch(/column 4 has no name in the header but this row gives it a value/);
    expect(err.position).toBe('line 4, contacts[2]');
  });

  it('accepts columns with no name (a trailing comma on every line) while they stay empty', async () => {
    const text = 'first_name,last_name,company_domain,,\nA,B,c.com,,\n';
    expect(await all(Readable.from([text]), 'csv')).toEqual([
      { first_name: 'A', last_name: 'B', company_domain: 'c.com' },
    ]);
  });
});

/** `text` with `bytes` put in place of each `\u0000` (bytes that are not UTF-8 cannot be written in a JS string). */
const withBytes = (text: string, ...bytes: number[][]): Buffer => {
  const parts = text.split('\u0000');
  return Buffer.concat(
    parts.flatMap((part, i) => (i ? [Buffer.from(bytes[i - 1]), Buffer.from(part)] : [Buffer.from(part)])),
  );
};
/** Every chunking of `buf` the readers must agree on: whole, byte by byte, and uneven chunks. */
const chunkings = (buf: Buffer): (() => Readable)[] =>
  [[buf.length || 1], [1], [2, 5], [3, 64, 7]].map((sizes) => () => {
    const parts: Buffer[] = [];
    for (let i = 0, k = 0; i < buf.length; k++) {
      parts.push(buf.subarray(i, i + sizes[k % sizes.length]));
      i += sizes[k % sizes.length];
    }
    return Readable.from(parts);
  });

describe('every reader decodes strictly: bytes that are not UTF-8 are refused, naming the byte, its offset, the line and contact', () => {
  const LATIN1 = [0xe9]; // é in Latin-1
  const ada = '{"first_name":"Ada","last_name":"L","company_domain":"a.com"}';
  it.each([
    // [format, text with \u0000 where the bytes go, the bytes, byte (hex), offset, position]
    [
      'json',
      `{"contacts":[${ada},\n{"first_name":"Jos\u0000"}]}`,
      LATIN1,
      'E9',
      13 + ada.length + 2 + 18,
      'line 2, contacts[1]',
    ],
    [
      'json',
      `\ufeff{"contacts":[${ada}, {"first_name":"Jos\u0000"}]}`,
      LATIN1,
      'E9',
      3 + 13 + ada.length + 2 + 18,
      'line 1, contacts[1]',
    ],
    ['json', '{"source":"\u0000","contacts":[]}', LATIN1, 'E9', 11, 'line 1'],
    ['json', '{"contacts":[{"a":"\u0000"}]}', [0xc0, 0xaf], 'C0', 19, 'line 1, contacts[0]'], // an overlong "/"
    ['json', '{"contacts":[{"a":"\u0000"}]}', [0xed, 0xa0, 0x80], 'ED', 19, 'line 1, contacts[0]'], // a UTF-16 surrogate
    ['json', '{"contacts":[{"a":"\u0000"}]}', [0xf4, 0x90, 0x80, 0x80], 'F4', 19, 'line 1, contacts[0]'], // above U+10FFFF
    ['json', '{"contacts":[{"a":"\u0000"}]}', [0xff], 'FF', 19, 'line 1, contacts[0]'],
    ['json', '{"contacts":[{"a":"x"}]}\u0000', [0xc3], 'C3', 24, 'line 1'], // a sequence cut by the end of the file
    [
      'ndjson',
      `${ada}\n\n{"first_name":"Jos\u0000"}\n${ada}\n`,
      LATIN1,
      'E9',
      ada.length + 2 + 18,
      'line 3, contacts[1]',
    ],
    ['ndjson', `${ada}\r\n\u0000${ada}\n`, LATIN1, 'E9', ada.length + 2, 'line 2, contacts[1]'],
    ['ndjson', `${ada}\n{"a":"\u0000`, [0xe2, 0x82], 'E2', ada.length + 7, 'line 2, contacts[1]'],
    [
      'csv',
      'first_name,last_name,company_domain\nAda,L,a.com\nJos\u0000,L,b.com\n',
      LATIN1,
      'E9',
      36 + 12 + 3,
      'line 3, contacts[1]',
    ],
    [
      'csv',
      'first_name,last_name,company_domain\nAda,L,a.com\nJo,L,b.c\u0000\n',
      LATIN1,
      'E9',
      36 + 12 + 8,
      'line 3, contacts[1]',
    ],
    [
      'csv',
      'first_name,last_name,company_domain\r\nAda,L,a.com\r\n\u0000,L,b.com\r\n',
      LATIN1,
      'E9',
      37 + 13,
      'line 3, contacts[1]',
    ],
    [
      'csv',
      'first_name,last_name,company_domain\nAda,"L\nL\u0000",a.com\n',
      LATIN1,
      'E9',
      36 + 8,
      'line 3, contacts[0]',
    ],
    [
      'csv',
      '\ufefffirst_name,last_n\u0000me,company_domain\nAda,L,a.com\n',
      LATIN1,
      'E9',
      3 + 17,
      'line 1 (the header)',
    ],
    ['csv', '\u0000first_name,last_name,company_domain\nAda,L,a.com\n', LATIN1, 'E9', 0, 'line 1 (the header)'],
    ['csv', 'first_name,last_name,company_domain\n\u0000', LATIN1, 'E9', 36, 'line 2, contacts[0]'],
    [
      'csv',
      'first_name,last_name,company_domain\nAda,L,a.com\nAda,L,a.co\u0000',
      [0xf0, 0x9f, 0x98],
      'F0',
      58,
      'line 3, contacts[1]',
    ],
    ['ndjson', '\u0000', [0xfe], 'FE', 0, 'line 1, contacts[0]'],
  ] as const)('%s: %j with %j', async (format, text, bytes, hex, offset, position) => {
    for (const source of chunkings(withBytes(text, [...bytes]))) {
      const err = await parseError(source(), format);
      expect(err.message).toContain(`not UTF-8: byte 0x${hex} at byte offset ${offset}; save the file as UTF-8`);
      expect(err.position).toBe(position);
    }
  });

  it.each(['json', 'ndjson', 'csv'] as const)(
    '%s: UTF-8 in every script, split across chunks anywhere, with a BOM, is read',
    async (format) => {
      const names = ['José', 'Zoë 😀', '𠮷田', 'Ελένη', '\ufffd literal'];
      const contacts = names.map((first_name, i) => ({ first_name, last_name: 'L', company_domain: `d${i}.com` }));
      const text =
        format === 'json'
          ? JSON.stringify({ contacts })
          : format === 'ndjson'
            ? contacts.map((c) => JSON.stringify(c)).join('\n')
            : `first_name,last_name,company_domain\n${contacts.map((c) => `${c.first_name},${c.last_name},${c.company_domain}`).join('\n')}`;
      for (const source of chunkings(Buffer.from(`\ufeff${text}`)))
        expect(await all(source(), format)).toEqual(contacts);
    },
  );
});

describe('streamContactsOf: what JSON.parse and the scanner refuse', () => {
  it.each([
    ['a bad token', '{"contacts":[{"a":tru}]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    ['a trailing comma in an object', '{"contacts":[{"a":1,}]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    ['single quotes', '{"contacts":[{\'a\':1}]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    ['a leading zero', '{"contacts":[{"a":01}]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    ['NaN', '{"contacts":[{"a":NaN}]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    [
      'a raw line break in a string',
      '{"contacts":[{"a":"x\ny"}]}',
      /contacts\[0\] is not valid JSON/,
      'line 2, contacts[0]',
    ],
    ['a bad escape', '{"contacts":[{"a":"\\x"}]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    ['a missing colon', '{"contacts":[{"a" 1}]}', /contacts\[0\] is not valid JSON/, 'contacts[0]'],
    ['an unterminated string', '{"contacts":[{"a":"x}]}', /ends too early/, 'end of file'],
    ['a bare value after the array', '{"contacts":[] 5}', /not valid JSON/, 'outside the contacts array'],
    ['nothing at all', '', /ends too early/, 'end of file'],
    [
      'an element over the size limit',
      `{"contacts":[{"a":"${'x'.repeat(2 * 1024 * 1024)}"}]}`,
      /larger than/,
      'contacts[0]',
    ],
  ])('%s', async (_name, text, message, position) => {
    // In chunks as a file or S3 gives them: the size limit is checked where an element goes on into the next chunk.
    const err = await parseError(chunked(text, [65536]), 'json');
    expect(err.message).toMatch(message);
    expect(err.position).toContain(position);
  });
});

describe('streamContactsOf: what NDJSON refuses, per line', () => {
  const ok = '{"a":1}\n';
  it.each([
    ['a bad token', `${ok}{"a":tru}\n`],
    ['an unterminated string', `${ok}{"a":"x}\n`],
    ['a trailing comma', `${ok}{"a":1,}\n`],
    ['two values on a line', `${ok}{"a":1} {"a":2}\n`],
    ['an object cut by a line break', `${ok}{"a":\n1}\n`],
    ['single quotes', `${ok}{'a':1}\n`],
  ])('%s: not valid JSON, at its line', async (_name, text) => {
    const err = await parseError(Readable.from([Buffer.from(text)]), 'ndjson');
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.position).toBe('line 2, contacts[1]');
  });

  it('a line over the size limit, also one that never ends, without reading it whole', async () => {
    for (const end of ['\n{"a":1}\n', '']) {
      const err = await parseError(chunked(`${ok}{"a":"${'x'.repeat(1024 * 1024)}"}${end}`, [65536]), 'ndjson');
      expect(err.message).toMatch(/the line is larger than 1048576 characters/);
      expect(err.position).toBe('line 2, contacts[1]');
    }
  });
});

describe('readInputBatches of an upload in its format', () => {
  it.each(['ndjson', 'csv'] as const)('%s: the wanted batches', async (format) => {
    const contacts = makeContacts(25);
    const text =
      format === 'csv'
        ? `first_name,last_name,company_domain\n${contacts.map((c) => `${c.first_name},${c.last_name},${c.company_domain}`).join('\n')}`
        : contacts.map((c) => JSON.stringify(c)).join('\n');
    const store = new MemoryObjectStore();
    store.objects.set('uploads/o/x', text);
    const batches = await readInputBatches(store, { key: 'uploads/o/x', format }, 10, new Set([1, 2]));
    expect(batches.get(1)).toEqual(contacts.slice(10, 20));
    expect(batches.get(2)).toEqual(contacts.slice(20, 25));
    expect(batches.has(0)).toBe(false);
  });
});
