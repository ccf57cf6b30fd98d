import type { OutputRow } from '../schemas/contact';
import type { Usage, UsageCounts } from '../schemas/status';

/**
 * Usage per request (docs/api.md: Usage). What the provider calls cost is counted where they are made
 * (src/core/enrichBatch.ts), per batch, and carried with the batch's kept progress across its deliveries into its
 * stored result; what the rows are (cache, match, not found, failed) is read off the rows. The assembly sums both over
 * every batch result once, so a batch delivered twice counts once.
 */

/** The part of the usage the calls make: counted per batch across its deliveries, kept with its progress and result. */
export interface CallUsage {
  providerCalls: number;
  contactsSent: number;
  rateLimitWaitMs: number;
}

export const noCallUsage = (): CallUsage => ({ providerCalls: 0, contactsSent: 0, rateLimitWaitMs: 0 });

export const noUsage = (): UsageCounts => ({
  providerCalls: 0,
  contactsSent: 0,
  cacheHits: 0,
  matches: 0,
  notFound: 0,
  failed: 0,
  rateLimitWaitMs: 0,
});

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.round(v) : 0);

/** A stored call usage as read back: one written before usage existed (absent), or a bad field, counts zero. */
export function callUsageOf(stored: unknown): CallUsage {
  const u = (stored ?? {}) as Partial<Record<keyof CallUsage, unknown>>;
  return {
    providerCalls: count(u.providerCalls),
    contactsSent: count(u.contactsSent),
    rateLimitWaitMs: count(u.rateLimitWaitMs),
  };
}

/** The rows' part: cache hits, the provider's matches (billable) and not-found rows, failed rows, cancelled rows. */
export function rowUsage(
  rows: readonly OutputRow[],
): Pick<UsageCounts, 'cacheHits' | 'matches' | 'notFound' | 'failed' | 'cancelled'> {
  const out: Pick<UsageCounts, 'cacheHits' | 'matches' | 'notFound' | 'failed' | 'cancelled'> = {
    cacheHits: 0,
    matches: 0,
    notFound: 0,
    failed: 0,
  };
  for (const row of rows) {
    if (row.enrichment_status === 'cancelled') out.cancelled = (out.cancelled ?? 0) + 1;
    else if (row.enrichment_status === 'failed') out.failed += 1;
    else if (row.source === 'cache') out.cacheHits += 1;
    else if (row.enrichment_status === 'enriched') out.matches += 1;
    else out.notFound += 1;
  }
  return out;
}

/** One batch's usage: its calls (zero for a result stored without usage) and its rows. */
export function batchUsage(result: { rows: readonly OutputRow[]; usage?: unknown }): UsageCounts {
  return { ...callUsageOf(result.usage), ...rowUsage(result.rows) };
}

export function addUsage<T extends Partial<UsageCounts>>(into: T, more: T): T {
  const out = { ...into };
  for (const key of Object.keys(more) as (keyof T)[])
    (out[key] as number) = ((into[key] as number | undefined) ?? 0) + ((more[key] as number | undefined) ?? 0);
  return out;
}

/** matches × the price per match, rid of binary noise (0.1 × 3 is 0.3, not 0.30000000000000004). */
export function estimatedCost(matches: number, pricePerMatch: number): number {
  return Number((matches * pricePerMatch).toPrecision(12));
}

export function priced(counts: UsageCounts, pricePerMatch: number): Usage {
  return { ...counts, estimatedCost: estimatedCost(counts.matches, pricePerMatch) };
}
