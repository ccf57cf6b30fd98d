import { stringify } from 'csv-stringify/sync';
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
  const row: Record<string, unknown> = { ...contact };
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
  const row: Record<string, unknown> = { ...contact };
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
  const row: Record<string, unknown> = { ...contact };
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
 * output.csv (RFC 4180: CRLF line ends, fields quoted when they hold a comma, a quote or a line break).
 * Columns: first_name, last_name, company_domain, the requested fields in request order,
 * enrichment_status, failure_reason, source, cachedAt, then the first row's other properties in that row's order, and
 * last `other_fields`: a JSON object of any property of a row that has no column of its own (so a row
 * with properties the first row lacked loses nothing). The header is fixed when the first row is seen:
 * the columns cannot depend on rows not read yet in a single pass.
 * Cells: null and absent are empty; strings as they are; numbers and booleans as text; objects and
 * arrays as JSON. A cell that starts with = + - @ tab or CR (or their full-width forms) gets a leading
 * `'` so that a spreadsheet shows it as text instead of running it as a formula (OWASP "CSV Injection").
 */
export function csvRenderer(fields: readonly EnrichField[]): OutputRenderer {
  const fixed: string[] = [...CONTACT_COLUMNS, ...fields, ...STATUS_COLUMNS];
  let columns: string[] | undefined;
  let columnSet = new Set<string>();
  let overflow = 'other_fields';
  const options = {
    record_delimiter: 'windows',
    // Given a record_delimiter, the library stops quoting values with a bare \n or \r unless told to.
    quote_record_delimiter: true,
    escape_formulas: true,
    cast: {
      boolean: (v: boolean) => String(v),
      object: (v: object) => JSON.stringify(v),
      number: (v: number) => String(v),
    },
  } as const;
  const header = (first: OutputRow | undefined): string => {
    const known = new Set(fixed);
    const extra = first ? Object.keys(first).filter((k) => !known.has(k)) : [];
    columns = [...fixed, ...extra];
    columnSet = new Set(columns);
    while (columns.includes(overflow)) overflow = `_${overflow}`;
    return stringify([[...columns, overflow]], options);
  };
  const cells = (row: OutputRow): unknown[] => {
    const r = row as Record<string, unknown>;
    const out: unknown[] = columns!.map((c) => r[c] ?? null);
    let others: Record<string, unknown> | undefined;
    for (const key of Object.keys(r)) if (!columnSet.has(key)) (others ??= {})[key] = r[key];
    out.push(others ? JSON.stringify(others) : null);
    return out;
  };
  return {
    start: () => '',
    rows(rows) {
      if (rows.length === 0) return '';
      const text = columns ? '' : header(rows[0]);
      return text + stringify(rows.map(cells), options);
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
