import type { Contact, EnrichField, EnrichmentStatus, OutputRow } from '../schemas/contact';
import type { CallUsage } from './usage';

/** What the enrichment API answers for a contact it could look up. */
export interface FoundResult {
  enrichment_status: 'enriched' | 'not_found';
  professional_email?: string | null;
  personal_phone?: string | null;
  job_title?: string | null;
  linkedin_url?: string | null;
}

/** A per-contact error inside a successful answer: the API will never enrich this contact (permanent). */
export interface ContactErrorResult {
  enrichment_status: 'error';
  error: string;
}

/** What the enrichment API answers for one contact. */
export type EnrichmentResult = FoundResult | ContactErrorResult;

/**
 * The input contact with only the requested fields added, and where the result came from: `provider` (this
 * request's own call), or `cache` with `cachedAt`, the time the cached result was obtained (src/core/resultCache.ts).
 */
export function enrichedRow(
  contact: Contact,
  fields: readonly EnrichField[],
  result: FoundResult,
  cachedAt?: string,
): OutputRow {
  // Object.assign, not a spread: V8 sizes a spread's copy to the contact, and the fields added after it took a slow
  // path (the rows of a 50k job: ~300 ms against ~10 ms; the same keys in the same order). So in the builders below.
  const row: Record<string, unknown> = Object.assign({}, contact);
  for (const field of fields) row[field] = result.enrichment_status === 'enriched' ? (result[field] ?? null) : null;
  row.enrichment_status = result.enrichment_status;
  if (cachedAt === undefined) row.source = 'provider';
  else {
    row.source = 'cache';
    row.cachedAt = cachedAt;
  }
  return row as OutputRow;
}

/** A failed contact: never from the cache (failures are not kept), so its source is `provider`. */
export function failedRow(contact: Contact, fields: readonly EnrichField[], reason: string): OutputRow {
  const row: Record<string, unknown> = Object.assign({}, contact);
  for (const field of fields) row[field] = null;
  row.enrichment_status = 'failed';
  row.failure_reason = reason;
  row.source = 'provider';
  return row as OutputRow;
}

/** `cancelled` counts rows a cancel left unsettled: present once there is one (always on a cancelled request's). */
export interface OutputCounts {
  enriched: number;
  not_found: number;
  failed: number;
  cancelled?: number;
}

/** A contact a cancel left unsettled (POST /enrichment/{id}/cancel): no provider call was made for it. */
export function cancelledRow(contact: Contact, fields: readonly EnrichField[]): OutputRow {
  const row: Record<string, unknown> = Object.assign({}, contact);
  for (const field of fields) row[field] = null;
  row.enrichment_status = 'cancelled';
  return row as OutputRow;
}

export function emptyCounts(): OutputCounts {
  return { enriched: 0, not_found: 0, failed: 0 };
}

export function countRow(counts: OutputCounts, status: EnrichmentStatus): void {
  counts[status] = (counts[status] ?? 0) + 1;
}

/**
 * The stored result of one batch: its rows in input order, and what its provider calls cost across its deliveries
 * (src/core/usage.ts; absent in results stored before usage existed: zero).
 */
export interface BatchResult {
  requestId: string;
  batchIndex: number;
  rows: OutputRow[];
  usage?: CallUsage;
}

/**
 * Several batches' results in one object (keys.batchGroup): one PUT and one GET for an invocation's batches of a
 * shard.
 */
export interface BatchGroupResult {
  requestId: string;
  groupId: string;
  batches: BatchResult[];
}

export const placeholderOutput = (requestId: string) => ({
  requestId,
  status: 'processing',
  enriched_contacts: [] as OutputRow[],
});

/** The formats the output is stored and downloaded in; json first: it is the default and has the placeholder. */
export const OUTPUT_FORMATS = ['json', 'ndjson', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const OUTPUT_CONTENT_TYPES: Record<OutputFormat, string> = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
};

/**
 * Turns the rows into one output format, a batch at a time (the assembly calls `rows` once per batch,
 * in order, then `end` once). Renderers do not count rows: the assembly counts each row once for all
 * formats, and stringifies each row once for JSON and NDJSON (`json[i]` is `JSON.stringify(rows[i])`).
 */
export interface OutputRenderer {
  start(): string;
  rows(rows: readonly OutputRow[], json: readonly string[]): string;
  end(counts: OutputCounts): string;
}

export const rowsAsJson = (rows: readonly OutputRow[]): string[] => rows.map((row) => JSON.stringify(row));

/** output.json: `{"requestId":…,"enriched_contacts":[…],"summary":{…}}`. */
function jsonRenderer(requestId: string): OutputRenderer {
  let first = true;
  return {
    start: () => `{"requestId":${JSON.stringify(requestId)},"enriched_contacts":[`,
    rows(rows, json) {
      if (rows.length === 0) return '';
      const text = (first ? '\n' : ',\n') + json.join(',\n');
      first = false;
      return text;
    },
    end(counts) {
      const total = counts.enriched + counts.not_found + counts.failed + (counts.cancelled ?? 0);
      return `\n],"summary":${JSON.stringify({ total, ...counts })}}\n`;
    },
  };
}

/** output.ndjson: one row object per line, rows only (the summary is on the status and in output.json). */
export function ndjsonRenderer(): OutputRenderer {
  return {
    start: () => '',
    rows: (rows, json) => (rows.length ? `${json.join('\n')}\n` : ''),
    end: () => '',
  };
}

const CONTACT_COLUMNS = ['first_name', 'last_name', 'company_domain'] as const;
const STATUS_COLUMNS = ['enrichment_status', 'failure_reason', 'source', 'cachedAt'] as const;

/**
 * One CSV cell, as csv-stringify 6 wrote it with the options this service used (`record_delimiter: 'windows'`,
 * `quote_record_delimiter`, `escape_formulas`, booleans and numbers as text, objects as JSON), byte for byte (test:
 * test/unit/core/outputGolden.test.ts and the comparison in outputFormats.test.ts), without the library's per-cell
 * option objects and tuples: the 1M assembly spent more time there than in writing the rows as JSON.
 * Null, undefined and '' are empty. A cell that starts with = + - @ tab or CR (or the full-width = + - @) gets a
 * leading `'`, but a negative number does not. A cell holding a comma, a quote, a CR or a LF is quoted, its
 * quotes doubled.
 */
export function csvCell(value: unknown): string {
  let text: string;
  switch (typeof value) {
    case 'string':
      text = value;
      break;
    case 'number':
    case 'bigint':
      // Never a quote, comma or line break; a leading - is the sign, not a formula.
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return '';
      text = JSON.stringify(value) ?? '';
      break;
    case 'undefined':
      return '';
    default:
      // Rows are parsed JSON: no functions or symbols.
      text = String(value);
  }
  if (text === '') return '';
  switch (text.charCodeAt(0)) {
    case 0x3d: // =
    case 0x2b: // +
    case 0x2d: // -
    case 0x40: // @
    case 0x09: // tab
    case 0x0d: // CR
    case 0xff1d: // full-width =
    case 0xff0b: // full-width +
    case 0xff0d: // full-width -
    case 0xff20: // full-width @
      text = `'${text}`;
  }
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
const NEEDS_QUOTES = /[",\r\n]/;

/** One CSV record: its cells, comma-separated, and its CRLF. */
const csvRecord = (cells: readonly unknown[]): string => {
  let line = csvCell(cells[0]);
  for (let i = 1; i < cells.length; i++) line += `,${csvCell(cells[i])}`;
  return `${line}\r\n`;
};

/**
 * output.csv (RFC 4180: CRLF line ends, fields quoted when they hold a comma, a quote or a line break).
 * Columns: first_name, last_name, company_domain, the requested fields in request order,
 * enrichment_status, failure_reason, source, cachedAt, then the first row's other properties in that row's order, and
 * last `other_fields`: a JSON object of any property of a row that has no column of its own (so a row
 * with properties the first row lacked loses nothing). The header is fixed when the first row is seen:
 * the columns cannot depend on rows not read yet in a single pass.
 * Cells (csvCell): null and absent are empty; strings as they are; numbers and booleans as text; objects and
 * arrays as JSON. A cell that starts with = + - @ tab or CR (or their full-width forms) gets a leading
 * `'` so that a spreadsheet shows it as text instead of running it as a formula (OWASP "CSV Injection").
 */
export function csvRenderer(fields: readonly EnrichField[]): OutputRenderer {
  const fixed: string[] = [...CONTACT_COLUMNS, ...fields, ...STATUS_COLUMNS];
  let columns: string[] | undefined;
  let columnSet = new Set<string>();
  let overflow = 'other_fields';
  const header = (first: OutputRow | undefined): string => {
    const known = new Set(fixed);
    const extra = first ? Object.keys(first).filter((k) => !known.has(k)) : [];
    columns = [...fixed, ...extra];
    columnSet = new Set(columns);
    while (columns.includes(overflow)) overflow = `_${overflow}`;
    return csvRecord([...columns, overflow]);
  };
  const record = (row: OutputRow): string => {
    const r = row as Record<string, unknown>;
    const cols = columns!;
    let line = csvCell(r[cols[0]]);
    for (let i = 1; i < cols.length; i++) line += `,${csvCell(r[cols[i]])}`;
    let others: Record<string, unknown> | undefined;
    for (const key of Object.keys(r)) if (!columnSet.has(key)) (others ??= {})[key] = r[key];
    return others ? `${line},${csvCell(JSON.stringify(others))}\r\n` : `${line},\r\n`;
  };
  return {
    start: () => '',
    rows(rows) {
      if (rows.length === 0) return '';
      let text = columns ? '' : header(rows[0]);
      for (const row of rows) text += record(row);
      return text;
    },
    end: () => (columns ? '' : header(undefined)),
  };
}

export function rendererFor(format: OutputFormat, requestId: string, fields: readonly EnrichField[]): OutputRenderer {
  if (format === 'json') return jsonRenderer(requestId);
  if (format === 'ndjson') return ndjsonRenderer();
  return csvRenderer(fields);
}

/** Yields output.json as text, pulling one batch at a time so memory stays flat. Counts are filled in as rows pass. */
export async function* renderOutput(
  requestId: string,
  batches: AsyncIterable<BatchResult>,
  counts: OutputCounts,
): AsyncGenerator<string> {
  const json = jsonRenderer(requestId);
  yield json.start();
  for await (const batch of batches) {
    for (const row of batch.rows) countRow(counts, row.enrichment_status);
    const text = json.rows(batch.rows, rowsAsJson(batch.rows));
    if (text) yield text;
  }
  yield json.end(counts);
}
