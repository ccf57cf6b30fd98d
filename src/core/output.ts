import type { Contact, EnrichField, EnrichmentStatus, OutputRow } from '../schemas/contact';

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

/** The input contact with only the requested fields added. */
export function enrichedRow(contact: Contact, fields: readonly EnrichField[], result: FoundResult): OutputRow {
  const row: Record<string, unknown> = { ...contact };
  for (const field of fields) row[field] = result.enrichment_status === 'enriched' ? (result[field] ?? null) : null;
  row.enrichment_status = result.enrichment_status;
  return row as OutputRow;
}

export function failedRow(contact: Contact, fields: readonly EnrichField[], reason: string): OutputRow {
  const row: Record<string, unknown> = { ...contact };
  for (const field of fields) row[field] = null;
  row.enrichment_status = 'failed';
  row.failure_reason = reason;
  return row as OutputRow;
}

export interface OutputCounts {
  enriched: number;
  not_found: number;
  failed: number;
}

export function emptyCounts(): OutputCounts {
  return { enriched: 0, not_found: 0, failed: 0 };
}

export function countRow(counts: OutputCounts, status: EnrichmentStatus): void {
  counts[status] += 1;
}

/** The stored result of one batch: its rows in input order. */
export interface BatchResult {
  requestId: string;
  batchIndex: number;
  rows: OutputRow[];
}

export const placeholderOutput = (requestId: string) => ({ requestId, status: 'processing', enriched_contacts: [] as OutputRow[] });

/**
 * Yields output.json as text, pulling one batch at a time so memory stays flat:
 * `{"requestId":…,"enriched_contacts":[…],"summary":{…}}`. Counts are filled in as rows pass.
 */
export async function* renderOutput(
  requestId: string,
  batches: AsyncIterable<BatchResult>,
  counts: OutputCounts,
): AsyncGenerator<string> {
  yield `{"requestId":${JSON.stringify(requestId)},"enriched_contacts":[`;
  let first = true;
  for await (const batch of batches) {
    const parts: string[] = [];
    for (const row of batch.rows) {
      countRow(counts, row.enrichment_status);
      parts.push(JSON.stringify(row));
    }
    if (parts.length === 0) continue;
    yield (first ? '\n' : ',\n') + parts.join(',\n');
    first = false;
  }
  const total = counts.enriched + counts.not_found + counts.failed;
  yield `\n],"summary":${JSON.stringify({ total, ...counts })}}\n`;
}
