import { parse } from 'csv-parse/sync';
import type { OutputRow } from '../../src/schemas/contact';

/** output.ndjson read back: one row per non-empty line (the last line ends with \n too). */
export function parseNdjson(text: string): OutputRow[] {
  expect(text.endsWith('\n') || text === '').toBe(true);
  return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));
}

/** output.csv read back with an independent RFC 4180 parser: the header and the records as arrays. */
export function parseCsv(text: string): { header: string[]; records: string[][] } {
  const [header, ...records] = parse(text, { record_delimiter: '\r\n', relax_column_count: false }) as string[][];
  return { header, records };
}

const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/** What a CSV cell should hold for a row value, as README "Download formats" describes it. */
export function expectedCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return typeof value !== 'number' && FORMULA_START.test(text) ? `'${text}` : text;
}

/**
 * Checks that output.csv holds exactly `rows` (output.json's), in order: every column's cell is the row's
 * value (neutralised), and the last column, other_fields, holds the row's properties that have no column.
 */
export function expectCsvMatches(text: string, rows: OutputRow[], fixedColumns: string[]): void {
  const { header, records } = parseCsv(text);
  expect(header.slice(0, fixedColumns.length)).toEqual(fixedColumns);
  expect(records).toHaveLength(rows.length);
  const columns = header.slice(0, -1);
  const mismatches: string[] = [];
  rows.forEach((row, i) => {
    const record = records[i];
    const r = row as Record<string, unknown>;
    columns.forEach((c, j) => {
      if (record[j] !== expectedCell(r[c])) mismatches.push(`row ${i} ${c}: ${JSON.stringify(record[j])} != ${JSON.stringify(r[c])}`);
    });
    const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !columns.includes(k)));
    const other = record[columns.length];
    if (Object.keys(rest).length === 0 ? other !== '' : JSON.stringify(JSON.parse(other)) !== JSON.stringify(rest)) {
      mismatches.push(`row ${i} other_fields: ${other}`);
    }
  });
  expect(mismatches.slice(0, 10)).toEqual([]);
}
