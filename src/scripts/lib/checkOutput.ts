import { createReadStream } from 'node:fs';
import { streamJsonContacts } from '../../core/inputFile';

const STATUSES = ['enriched', 'not_found', 'failed'] as const;
type RowStatus = (typeof STATUSES)[number];

export interface OutputCheck {
  rows: number;
  expected: number;
  counts: Record<RowStatus, number>;
  /** Problems found: a row-count mismatch first, then at most `maxProblems` row problems. */
  problems: string[];
  /** All problems, also those not listed. */
  problemCount: number;
  ok: boolean;
}

/**
 * Streams the rows of output.json's `enriched_contacts` array, one at a time, with the intake's JSON scanner
 * (about 8x faster than stream-json's token stream: a 1M-row output is read in seconds).
 */
async function* streamOutputRows(file: string): AsyncGenerator<Record<string, unknown>> {
  for await (const row of streamJsonContacts(createReadStream(file), 'enriched_contacts'))
    yield row as Record<string, unknown>;
}

const text = (v: unknown) => (typeof v === 'string' ? v.trim() : v);

/**
 * Checks a downloaded output.json against the input, both streamed side by side: one row per input
 * contact, in input order (first_name, last_name, company_domain match at every index), every requested
 * field present, and a valid enrichment_status on every row.
 */
export async function checkOutput(
  outputFile: string,
  input: Iterable<unknown> | AsyncIterable<unknown>,
  fields: readonly string[],
  maxProblems = 10,
): Promise<OutputCheck> {
  const expected = (
    Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : (input as Iterable<unknown>)[Symbol.iterator]()
  ) as AsyncIterator<unknown> | Iterator<unknown>;
  const counts: Record<RowStatus, number> = { enriched: 0, not_found: 0, failed: 0 };
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (msg: string) => {
    problemCount += 1;
    if (problems.length < maxProblems) problems.push(msg);
  };

  let rows = 0;
  let inputCount = 0;
  let inputDone = false;
  for await (const row of streamOutputRows(outputFile)) {
    const index = rows;
    rows += 1;
    const status = row.enrichment_status as RowStatus;
    if (STATUSES.includes(status)) counts[status] += 1;
    else problem(`row ${index}: enrichment_status is ${JSON.stringify(row.enrichment_status)}`);
    const missing = fields.filter((f) => !(f in row));
    if (missing.length) problem(`row ${index}: missing field(s) ${missing.join(', ')}`);
    if (inputDone) continue;
    const next = await expected.next();
    if (next.done) {
      inputDone = true;
      continue;
    }
    inputCount += 1;
    const contact = next.value as Record<string, unknown>;
    for (const key of ['first_name', 'last_name', 'company_domain']) {
      if (text(row[key]) !== text(contact[key])) {
        problem(
          `row ${index}: ${key} is ${JSON.stringify(row[key])}, input has ${JSON.stringify(contact[key])} (order or content differs)`,
        );
        break;
      }
    }
  }
  if (!inputDone) while (!(await expected.next()).done) inputCount += 1;
  if (inputCount !== rows) {
    // The headline problem: listed first, whatever the cap.
    problemCount += 1;
    problems.unshift(`output has ${rows} rows, input has ${inputCount} contacts`);
  }
  return { rows, expected: inputCount, counts, problems, problemCount, ok: problemCount === 0 };
}
