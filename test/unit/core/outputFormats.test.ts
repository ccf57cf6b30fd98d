import { stringify } from 'csv-stringify/sync';
import { csvCell, csvRenderer, ndjsonRenderer, rowsAsJson, type OutputRenderer } from '../../../src/core/output';
import type { OutputRow } from '../../../src/schemas/contact';
import { expectCsvMatches, parseCsv, parseNdjson } from '../../support/output';

const FIXED = [
  'first_name',
  'last_name',
  'company_domain',
  'personal_phone',
  'job_title',
  'enrichment_status',
  'failure_reason',
  'source',
  'cachedAt',
];
const row = (over: Record<string, unknown>): OutputRow =>
  ({
    first_name: 'Ada',
    last_name: 'Lovelace',
    company_domain: 'example.com',
    personal_phone: null,
    job_title: null,
    enrichment_status: 'enriched',
    ...over,
  }) as OutputRow;

function render(renderer: OutputRenderer, batches: OutputRow[][]): string {
  return (
    renderer.start() +
    batches.map((rows) => renderer.rows(rows, rowsAsJson(rows))).join('') +
    renderer.end({ enriched: 0, not_found: 0, failed: 0 })
  );
}

describe('ndjsonRenderer', () => {
  it('writes one row object per line, in order, rows only, across batches', () => {
    const rows = [row({ first_name: 'A' }), row({ first_name: 'Line\nbreak "q"' }), row({ first_name: 'Zoë 🙂' })];
    const text = render(ndjsonRenderer(), [rows.slice(0, 2), [], rows.slice(2)]);
    expect(text.split('\n')).toHaveLength(4); // three lines and the final newline
    expect(parseNdjson(text)).toEqual(rows);
  });

  it('is empty without rows', () => {
    expect(render(ndjsonRenderer(), [])).toBe('');
  });
});

describe('csvRenderer', () => {
  const csv = (batches: OutputRow[][]) => render(csvRenderer(['personal_phone', 'job_title']), batches);

  it('has the fixed columns (requested fields in request order), then the first row’s extras, then other_fields', () => {
    const text = csv([[row({ crm_id: 'c-1', region: 'EU' })]]);
    expect(parseCsv(text).header).toEqual([...FIXED, 'crm_id', 'region', 'other_fields']);
    expect(text.startsWith(`${[...FIXED, 'crm_id', 'region', 'other_fields'].join(',')}\r\n`)).toBe(true);
    const other = render(csvRenderer(['job_title', 'personal_phone']), [[row({})]]);
    expect(parseCsv(other).header.slice(3, 5)).toEqual(['job_title', 'personal_phone']);
  });

  it('quotes per RFC 4180 (comma, quote, CR, LF) and ends every record with CRLF', () => {
    const tricky = row({ first_name: 'O"Neil, Jr', last_name: 'two\nlines', company_domain: 'cr\rhere.io' });
    const text = csv([[tricky]]);
    expect(text).toContain('"O""Neil, Jr","two\nlines","cr\rhere.io"');
    expect(text.endsWith('\r\n')).toBe(true);
    expect(parseCsv(text).records[0].slice(0, 3)).toEqual(['O"Neil, Jr', 'two\nlines', 'cr\rhere.io']);
  });

  it('neutralises spreadsheet formulas: a cell starting with = + - @ tab CR (or full-width forms) gets a leading quote', () => {
    const hostile = ['=HYPERLINK("http://x")', '+1 555 0100', '-2+3', '@SUM(A1)', '\tx', '＝1+1', 'safe=1'];
    const text = csv([hostile.map((first_name) => row({ first_name }))]);
    expect(parseCsv(text).records.map((r) => r[0])).toEqual([
      `'=HYPERLINK("http://x")`,
      `'+1 555 0100`,
      `'-2+3`,
      `'@SUM(A1)`,
      `'\tx`,
      `'＝1+1`,
      'safe=1',
    ]);
    // An extra column's name is a cell too.
    expect(parseCsv(csv([[row({ '=cmd': 'v' })]])).header).toContain(`'=cmd`);
  });

  it('writes null and absent fields as empty cells, failure_reason for failed rows, values as text or JSON', () => {
    const failed = row({
      enrichment_status: 'failed',
      failure_reason: 'enrichment API answered 500',
      score: -3,
      vip: true,
      tags: ['a', 'b'],
    });
    const text = csv([[row({ score: 7, vip: false, tags: null, job_title: 'Engineer' }), failed]]);
    const { header, records } = parseCsv(text);
    const at = (r: string[], c: string) => r[header.indexOf(c)];
    expect(at(records[0], 'personal_phone')).toBe('');
    expect(at(records[0], 'failure_reason')).toBe('');
    expect(at(records[0], 'job_title')).toBe('Engineer');
    expect([at(records[0], 'score'), at(records[0], 'vip'), at(records[0], 'tags')]).toEqual(['7', 'false', '']);
    expect(at(records[1], 'enrichment_status')).toBe('failed');
    expect(at(records[1], 'failure_reason')).toBe('enrichment API answered 500');
    expect([at(records[1], 'score'), at(records[1], 'vip'), at(records[1], 'tags')]).toEqual([
      '-3',
      'true',
      '["a","b"]',
    ]);
  });

  it('keeps properties the first row lacked in other_fields, as JSON, and loses none', () => {
    const rows = [row({ crm_id: 'c-1' }), row({ crm_id: 'c-2', late: 'x', nested: { a: [1] } }), row({})];
    const text = csv([rows.slice(0, 1), rows.slice(1)]);
    const { records } = parseCsv(text);
    expect(records.map((r) => r[r.length - 1])).toEqual(['', '{"late":"x","nested":{"a":[1]}}', '']);
    expectCsvMatches(text, rows, FIXED);
  });

  it('renames other_fields when the first row has a property of that name', () => {
    const text = csv([[row({ other_fields: 'mine' }), row({ other_fields: 'x', more: 1 })]]);
    const { header, records } = parseCsv(text);
    expect(header.slice(-2)).toEqual(['other_fields', '_other_fields']);
    expect(records[1].slice(-2)).toEqual(['x', '{"more":1}']);
  });

  it('keeps unicode as it is (UTF-8, no escapes)', () => {
    const text = csv([[row({ first_name: 'Zoë', last_name: '李 🙂', company_domain: 'bücher.example' })]]);
    expect(parseCsv(text).records[0].slice(0, 3)).toEqual(['Zoë', '李 🙂', 'bücher.example']);
    expect(text).toContain('Zoë,李 🙂,bücher.example');
  });

  it('has a source and a cachedAt cell on every record: provider rows with cachedAt empty, cache rows with both', () => {
    const text = csv([
      [
        row({ source: 'provider' }),
        row({ source: 'cache', cachedAt: '2025-01-02T03:04:05.000Z' }),
        row({ enrichment_status: 'failed', failure_reason: 'x', source: 'provider' }),
      ],
    ]);
    const { header, records } = parseCsv(text);
    const cells = records.map((r) => [r[header.indexOf('source')], r[header.indexOf('cachedAt')]]);
    expect(cells).toEqual([
      ['provider', ''],
      ['cache', '2025-01-02T03:04:05.000Z'],
      ['provider', ''],
    ]);
    expect(records.map((r) => r[r.length - 1])).toEqual(['', '', '']);
  });

  it('writes the header alone when there are no rows', () => {
    expect(csv([[], []])).toBe(`${[...FIXED, 'other_fields'].join(',')}\r\n`);
  });
});

describe('csvCell', () => {
  // The options the CSV output was written with through csv-stringify, before its own encoder replaced it.
  const LIBRARY_OPTIONS = {
    record_delimiter: 'windows',
    quote_record_delimiter: true,
    escape_formulas: true,
    cast: {
      boolean: (v: boolean) => String(v),
      object: (v: object) => JSON.stringify(v),
      number: (v: number) => String(v),
    },
  } as const;
  const PIECES = [
    ',',
    '"',
    '\r',
    '\n',
    '\r\n',
    '=',
    '+',
    '-',
    '@',
    '\t',
    '＝',
    '＋',
    '－',
    '＠',
    "'",
    ';',
    ' ',
    'a',
    'é',
    '🙂',
    '0',
  ];

  it('writes every cell as csv-stringify did with the same options, byte for byte (2,000 seeded records)', () => {
    let seed = 19;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const text = () => Array.from({ length: next(5) }, () => PIECES[next(PIECES.length)]).join('');
    const value = (depth = 0): unknown => {
      switch (next(depth ? 6 : 9)) {
        case 0:
        case 1:
        case 2:
          return text();
        case 3:
          return [0, -0, -3, 7, -0.25, 1e21, -1e-7, Number.MAX_SAFE_INTEGER][next(8)];
        case 4:
          return next(2) === 0;
        case 5:
          return next(2) ? null : undefined;
        case 6:
          return Array.from({ length: next(3) }, () => value(depth + 1));
        default:
          return { [text()]: value(depth + 1), n: value(depth + 1) };
      }
    };
    for (let i = 0; i < 2000; i++) {
      const cells = Array.from({ length: 1 + next(4) }, () => value());
      expect(`${cells.map(csvCell).join(',')}\r\n`).toBe(stringify([cells], LIBRARY_OPTIONS));
    }
  });
});
