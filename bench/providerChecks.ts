/**
 * The provider bench's verdicts (bench/provider.ts), kept apart from the stacks it starts so that they can be unit
 * tested: is an output exact, does a request's `usage` add up to the mock's counters, are two outputs the same rows.
 */
import type { MockStats } from '../src/handlers/mockState';
import type { Contact } from '../src/schemas/contact';

/** GET /mock/stats's counters, or their change over a run. */
export type MockCounters = Pick<
  MockStats,
  'calls' | 'contacts' | 'matches' | 'throttled' | 'creditErrors' | 'serverErrors'
>;

export const COUNTERS: readonly (keyof MockCounters)[] = [
  'calls',
  'contacts',
  'matches',
  'throttled',
  'creditErrors',
  'serverErrors',
];

export function counterDelta(before: MockCounters, after: MockCounters): MockCounters {
  return Object.fromEntries(COUNTERS.map((k) => [k, Number(after[k] ?? 0) - Number(before[k] ?? 0)])) as never;
}

/** The status's `usage` (issue 17 item 3): what a request cost. Absent until the status carries it. */
export interface Usage {
  providerCalls: number;
  contactsSent: number;
  cacheHits: number;
  matches: number;
  notFound: number;
  failed: number;
  rateLimitWaitMs: number;
  estimatedCost: number;
}

/**
 * The requests' `usage`, summed, against the mock's counters over the same requests: `n/a` while any of them has no
 * `usage` (the status does not carry it yet); else `yes`, or `no` with what differs. providerCalls is every call the
 * mock saw (429s, 402s and 5xx included), contactsSent the contacts of those calls (the mock counts every call it received and its contacts), matches its matches.
 */
export function usageVersusMock(
  usages: ReadonlyArray<Usage | undefined>,
  delta: MockCounters,
): { verdict: 'n/a' | 'yes' | 'no'; text: string } {
  if (usages.length === 0 || usages.some((u) => u === undefined)) return { verdict: 'n/a', text: 'n/a (no usage)' };
  const sum = (k: keyof Usage) => usages.reduce((a, u) => a + Number(u?.[k] ?? 0), 0);
  const pairs: Array<[string, number, number]> = [
    ['providerCalls', sum('providerCalls'), delta.calls],
    ['contactsSent', sum('contactsSent'), delta.contacts],
    ['matches', sum('matches'), delta.matches],
  ];
  const off = pairs.filter(([, ours, mock]) => ours !== mock);
  return off.length
    ? { verdict: 'no', text: `no: ${off.map(([k, ours, mock]) => `${k} ${ours} vs mock ${mock}`).join(', ')}` }
    : { verdict: 'yes', text: `yes (${pairs.map(([k, ours]) => `${k} ${ours}`).join(', ')})` };
}

export type OutputRow = Record<string, unknown>;
type RowStatus = 'enriched' | 'not_found' | 'failed';

export interface ExactnessCheck {
  exact: boolean;
  /** `cancelled` only when the check allows cancelled rows. */
  counts: Record<RowStatus, number> & { cancelled?: number };
  /** The first problems found (at most 10), the row-count mismatch first. */
  problems: string[];
}

const identity = (c: { first_name?: unknown; last_name?: unknown; company_domain?: unknown }) =>
  [c.first_name, c.last_name, c.company_domain].map((v) => (typeof v === 'string' ? v.trim() : v)).join('|');

/**
 * Every input contact exactly once in the output, in input order (its identity at the same index), a known status on
 * every row, `failed` exactly where `mayFail` allows it (no contact may fail otherwise), and the status's `summary`
 * equal to the rows' counts and adding up to the contacts. With `cancelled` (a cancelled request), `cancelled` rows
 * are a known status too, counted and compared like the others.
 */
export function checkExact(
  rows: readonly OutputRow[],
  input: readonly Contact[],
  opts: {
    summary?: Partial<Record<RowStatus | 'cancelled', number>>;
    mayFail?: (contact: Contact) => boolean;
    cancelled?: boolean;
  } = {},
): ExactnessCheck {
  const problems: string[] = [];
  const problem = (p: string) => problems.length < 10 && problems.push(p);
  if (rows.length !== input.length) problem(`output has ${rows.length} rows, input has ${input.length} contacts`);
  const counts: ExactnessCheck['counts'] = {
    enriched: 0,
    not_found: 0,
    failed: 0,
    ...(opts.cancelled ? { cancelled: 0 } : {}),
  };
  rows.forEach((row, i) => {
    const status = row.enrichment_status as RowStatus;
    if (status in counts) counts[status] = (counts[status] ?? 0) + 1;
    else problem(`row ${i}: enrichment_status ${JSON.stringify(row.enrichment_status)}`);
    const contact = input[i];
    if (contact && identity(row) !== identity(contact))
      problem(`row ${i} is ${identity(row)}, input has ${identity(contact)} (order or content differs)`);
    if (contact && status === 'failed' && !opts.mayFail?.(contact))
      problem(`row ${i} failed (${String(row.failure_reason)})`);
    if (contact && status !== 'failed' && opts.mayFail?.(contact)) problem(`row ${i} was expected to fail: ${status}`);
  });
  if (opts.summary) {
    for (const k of Object.keys(counts) as Array<keyof typeof counts>)
      if ((opts.summary[k] ?? 0) !== counts[k])
        problem(`status says ${opts.summary[k] ?? 0} ${k}, the rows ${counts[k]}`);
  }
  const total = counts.enriched + counts.not_found + counts.failed + (counts.cancelled ?? 0);
  if (total !== input.length) problem(`the counts add up to ${total}, not ${input.length}`);
  return { exact: problems.length === 0, counts, problems };
}

/** Rows equal apart from where they came from (`source`, `cachedAt`): the first difference, or undefined. */
export function firstDifference(a: readonly OutputRow[], b: readonly OutputRow[]): string | undefined {
  if (a.length !== b.length) return `${a.length} rows vs ${b.length}`;
  const strip = ({ source: _s, cachedAt: _c, ...rest }: OutputRow) => JSON.stringify(rest);
  const i = a.findIndex((row, j) => strip(row) !== strip(b[j]));
  return i < 0 ? undefined : `row ${i}: ${strip(a[i])} vs ${strip(b[i])}`;
}

/** One markdown table row; `|` inside a cell escaped. */
export function markdownRow(cells: ReadonlyArray<string | number>): string {
  return `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
}
