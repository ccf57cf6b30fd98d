import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OUTPUT_FORMATS, rendererFor, rowsAsJson, type OutputCounts } from '../../../src/core/output';
import type { OutputRow } from '../../../src/schemas/contact';

/**
 * The three outputs of one tricky request, byte for byte, against files kept in test/fixtures/outputFormats (written
 * once by the encoders as they were before any speed work, with csv-stringify): a faster encoder must not change one
 * byte. The rows are what a worker stores (src/core/output.ts enrichedRow, failedRow, cancelledRow), with the caller's
 * extra properties, in three batches (one empty) as the assembly passes them.
 */
const FIXTURES = path.join(__dirname, '../../fixtures/outputFormats');
const FIELDS = ['personal_phone', 'job_title', 'professional_email'] as const;
const row = (over: Record<string, unknown>): OutputRow =>
  ({
    first_name: 'Ada',
    last_name: 'Lovelace',
    company_domain: 'example.com',
    personal_phone: null,
    job_title: null,
    professional_email: null,
    enrichment_status: 'enriched',
    source: 'provider',
    ...over,
  }) as OutputRow;

const BATCHES: OutputRow[][] = [
  [
    // The first row fixes the CSV columns: its extras crm_id, score, "a,b" and "=col" get columns of their own.
    row({ crm_id: 'c-1', score: 7, 'a,b': 'x', '=col': 'y', professional_email: 'ada@example.com' }),
    row({ first_name: 'O"Neil, Jr', last_name: 'two\nlines', company_domain: 'cr\rhere.io', crm_id: 'crlf\r\nend' }),
    row({ first_name: '=HYPERLINK("http://x")', last_name: '+1 555 0100', company_domain: '-2+3', crm_id: '@SUM(A1)' }),
    row({ first_name: '\tx', last_name: '\rlead', company_domain: '＝1+1', crm_id: '＋1', score: -3 }),
    row({ first_name: '－1', last_name: '＠x', company_domain: 'safe=1', crm_id: "'quoted", score: -0.5 }),
    row({
      first_name: 'Zoë',
      last_name: '李 🙂',
      company_domain: 'bücher.example',
      personal_phone: '+44 20 7946 0000',
    }),
    row({ first_name: '', last_name: ' spaced ', company_domain: 'a;b|c', job_title: 'Engineer, "Staff"' }),
  ],
  [],
  [
    row({ score: 0, crm_id: null, enrichment_status: 'not_found' }),
    row({ score: 1e21, crm_id: true, vip: false, tags: ['a', 'b,c', '"q"'], nested: { a: [1, null], b: 'x\ny' } }),
    row({ source: 'cache', cachedAt: '2025-01-02T03:04:05.000Z', crm_id: { deep: '=1' } }),
    row({
      enrichment_status: 'failed',
      failure_reason: 'enrichment API answered 500, "bad"',
      other_fields: 'mine',
      '-neg': -1,
      'back\\slash': 'c:\\dir',
    }),
    row({
      enrichment_status: 'cancelled',
      source: undefined,
      score: undefined,
      'ctl\u0001': '\u0000\u001f\u2028\ud800',
    }),
    row({ first_name: '-', last_name: '=', company_domain: '"', crm_id: ',', score: Number.MAX_SAFE_INTEGER }),
  ],
];
const COUNTS: OutputCounts = { enriched: 10, not_found: 1, failed: 1, cancelled: 1 };

/** As the assembly does it: start, each batch with its rows stringified once, end with the counts. */
function render(format: (typeof OUTPUT_FORMATS)[number]): string {
  const renderer = rendererFor(format, '00000000-0000-4000-8000-000000000019', FIELDS);
  return (
    renderer.start() + BATCHES.map((rows) => renderer.rows(rows, rowsAsJson(rows))).join('') + renderer.end(COUNTS)
  );
}

describe('the three output formats of a tricky request', () => {
  it.each(OUTPUT_FORMATS)('output.%s is byte-identical to its fixture', (format) => {
    const expected = readFileSync(path.join(FIXTURES, `output.${format}`));
    expect(Buffer.from(render(format), 'utf8').equals(expected)).toBe(true);
    expect(render(format)).toBe(expected.toString('utf8')); // the difference, when there is one
  });
});
