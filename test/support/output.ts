import { isDeepStrictEqual } from 'node:util';
import { parse } from 'csv-parse/sync';
import { enrichedRow, failedRow } from '../../src/core/output';
import { mockEnrichContact } from '../../src/handlers/mockData';
import type { Contact, EnrichField, OutputRow } from '../../src/schemas/contact';

/** The tests' one home for reading and checking a request's output: output.json, .ndjson and .csv. */

/** output.json as the assembler writes it. */
export interface OutputDoc {
  requestId: string;
  enriched_contacts: OutputRow[];
  summary: { total: number; enriched: number; not_found: number; failed: number; cancelled?: number };
}

/** The summary output.json must carry for these rows (`cancelled` only when some row is). */
export function summaryOf(rows: readonly OutputRow[]) {
  const s: OutputDoc['summary'] = { total: rows.length, enriched: 0, not_found: 0, failed: 0 };
  for (const r of rows) s[r.enrichment_status] = (s[r.enrichment_status] ?? 0) + 1;
  return s;
}

/**
 * Stands for the `cachedAt` of a row expected from the result cache: the time the cached result was obtained,
 * which a test knows only to within the run of the request that obtained it. expectOutput checks that the row's
 * value is an ISO time inside `cachedWithin`, and everything else about the row exactly.
 */
export const CACHED_AT = '<cachedAt within the expected window>';

/**
 * The exact output.json rows a request must end with: the mock API's deterministic answer for
 * every contact (`source: provider`), except the listed indexes, which must be failed with the given reason,
 * and the `cached` ones, which must be the same answer from the result cache (`source: cache`, `cachedAt`).
 */
export function expectedRows(
  contacts: readonly Contact[],
  fields: readonly EnrichField[],
  failed: ReadonlyMap<number, string> = new Map(),
  cached: ReadonlySet<number> = new Set(),
): OutputRow[] {
  return contacts.map((c, i) => {
    const reason = failed.get(i);
    if (reason !== undefined) return failedRow(c, fields, reason);
    return enrichedRow(c, fields, mockEnrichContact(c, fields), cached.has(i) ? CACHED_AT : undefined);
  });
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The expected row with its CACHED_AT placeholder replaced by the row's cachedAt, if that lies in the window. */
function resolveCachedAt(got: OutputRow | undefined, want: OutputRow | undefined, within?: readonly [Date, Date]) {
  if (want?.cachedAt !== CACHED_AT) return want;
  const at = got?.cachedAt;
  if (!within || typeof at !== 'string' || !ISO_TIME.test(at)) return want;
  const t = Date.parse(at);
  return t >= within[0].getTime() && t <= within[1].getTime() ? { ...want, cachedAt: at } : want;
}

/** Failure map for contacts at `indexes`, all with one reason. */
export const failures = (indexes: Iterable<number>, reason: string) =>
  new Map([...indexes].map((i) => [i, reason] as [number, string]));

/**
 * The one check of output.json. Always: a summary that counts its rows. Given the exact `rows` it must hold
 * (expectedRows): exactly those, row by row in order, and a summary of them. Given only the input `contacts`
 * and the requested `fields` (when each contact's outcome is not known in advance): every contact exactly
 * once, in input order, with all its properties unchanged and every requested field, and a summary whose
 * total is the number of contacts.
 */
export function expectOutput(
  doc: OutputDoc | undefined,
  expected: readonly OutputRow[] | { contacts: readonly Contact[]; fields: readonly string[] },
  /** For rows expected from the cache (CACHED_AT): the window their cachedAt must lie in (both ends included). */
  opts: { cachedWithin?: readonly [Date, Date] } = {},
): void {
  expect(doc).toBeDefined();
  const rows = doc!.enriched_contacts;
  expect(doc!.summary).toEqual(summaryOf(rows));
  if (Array.isArray(expected)) {
    const want = expected as readonly OutputRow[];
    const wrong: Array<{ index: number; got: unknown; want: unknown }> = [];
    for (let i = 0; i < Math.max(rows.length, want.length) && wrong.length < 5; i++) {
      const wanted = resolveCachedAt(rows[i], want[i], opts.cachedWithin);
      if (JSON.stringify(rows[i]) !== JSON.stringify(wanted)) wrong.push({ index: i, got: rows[i], want: wanted });
    }
    expect(wrong).toEqual([]);
    expect(rows).toHaveLength(want.length);
    expect(doc!.summary).toEqual(summaryOf(want));
    return;
  }
  const { contacts, fields } = expected as { contacts: readonly Contact[]; fields: readonly string[] };
  expect(rows).toHaveLength(contacts.length);
  const wrong = rows.flatMap((row, i) => {
    const c = contacts[i] as Record<string, unknown> | undefined;
    const r = row as Record<string, unknown>;
    const same = c !== undefined && Object.keys(c).every((k) => isDeepStrictEqual(r[k], c[k]));
    return same && fields.every((f) => f in r) ? [] : [i];
  });
  expect(wrong.slice(0, 10)).toEqual([]);
  // Every row says where it came from: its own provider call, or the cache with the time the result was obtained.
  const unsourced = rows.flatMap((row, i) =>
    (row.source === 'provider' && row.cachedAt === undefined) ||
    (row.source === 'cache' && typeof row.cachedAt === 'string' && ISO_TIME.test(row.cachedAt))
      ? []
      : [i],
  );
  expect(unsourced.slice(0, 10)).toEqual([]);
  expect(doc!.summary.total).toBe(contacts.length);
}

/** output.ndjson read back: one row per non-empty line (the last line ends with \n too). */
export function parseNdjson(text: string): OutputRow[] {
  expect(text.endsWith('\n') || text === '').toBe(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
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
/** The columns of output.csv, in order: the contact's, the fields asked for, then the outcome and where it came from. */
export const csvColumns = (fields: readonly string[]): string[] => [
  'first_name',
  'last_name',
  'company_domain',
  ...fields,
  'enrichment_status',
  'failure_reason',
  'source',
  'cachedAt',
];

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
      if (record[j] !== expectedCell(r[c]))
        mismatches.push(`row ${i} ${c}: ${JSON.stringify(record[j])} != ${JSON.stringify(r[c])}`);
    });
    const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !columns.includes(k)));
    const other = record[columns.length];
    if (Object.keys(rest).length === 0 ? other !== '' : JSON.stringify(JSON.parse(other)) !== JSON.stringify(rest)) {
      mismatches.push(`row ${i} other_fields: ${other}`);
    }
  });
  expect(mismatches.slice(0, 10)).toEqual([]);
}
