import type { Contact, EnrichField, OutputRow } from '../schemas/contact';
import { enrichedRow, failedRow, type EnrichmentResult } from './output';
import { withRetry, HttpError, OutOfTimeError, type RetryBudget, type RetryPolicy } from './retry';

export interface EnrichmentApi {
  /** `timeoutMs`, when given, caps this call's own timeout (the time budget left). */
  enrich(contacts: Contact[], fields: EnrichField[], opts?: { timeoutMs?: number }): Promise<EnrichmentResult[]>;
}

export interface EnrichStats {
  calls: number;
  retries: number;
  bisections: number;
}

export function describeFailure(err: unknown): string {
  if (err instanceof HttpError) return `enrichment API answered ${err.status}`;
  if (err instanceof Error && err.name === 'TimeoutError') return 'enrichment API timed out';
  return 'enrichment API call failed';
}

/**
 * The whole batch gets the full retry budget (a transient outage should not split it). Inside the
 * bisection a part that fails is split again at once rather than retried at length, which keeps
 * the path down to a bad contact short; only a single contact, the last word on it, gets the
 * extra attempts that keep a good contact from failing on bad luck.
 */
function attemptsFor(size: number, depth: number, policy: RetryPolicy): number {
  if (size === 1) return policy.singleContactMaxAttempts ?? policy.maxAttempts;
  if (depth === 0) return policy.maxAttempts;
  return Math.min(policy.maxAttempts, policy.subBatchMaxAttempts ?? policy.maxAttempts);
}

/** A part of the batch still to try: positions in the batch, its bisection depth and the attempts spent on it. */
export interface PendingPart {
  at: number[];
  depth: number;
  attempts: number;
}

/**
 * How far the enrichment of a batch got: a row for every settled contact (enriched, not_found, or
 * failed after all its attempts), null for the others, and the parts of the bisection still to try.
 */
export interface EnrichProgress {
  rows: (OutputRow | null)[];
  pending: PendingPart[];
}

/** Nothing tried yet: the whole batch is one part. */
export function freshProgress(size: number): EnrichProgress {
  return { rows: Array.from({ length: size }, () => null), pending: [{ at: Array.from({ length: size }, (_, i) => i), depth: 0, attempts: 0 }] };
}

/** A stored progress fits a batch when it has one row per contact and its parts point inside it. */
export function fitsBatch(progress: EnrichProgress | undefined, size: number): progress is EnrichProgress {
  return (
    !!progress &&
    Array.isArray(progress.rows) &&
    progress.rows.length === size &&
    Array.isArray(progress.pending) &&
    progress.pending.every((p) => p.at.length > 0 && p.at.every((i) => Number.isInteger(i) && i >= 0 && i < size && progress.rows[i] === null))
  );
}

/**
 * Takes the enrichment of a batch as far as the budget allows. Each pending part is called as a
 * whole, retrying transient errors; a part that keeps failing is split in halves, each tried on its
 * own, down to single contacts, so only the contacts that really fail are marked failed. A part the
 * budget stops (before its call, inside a backoff, or by cutting its call short) stays pending with
 * the attempts it really spent, so a later invocation goes on where this one stopped.
 */
export async function advanceEnrichment(
  contacts: Contact[],
  fields: EnrichField[],
  api: EnrichmentApi,
  policy: RetryPolicy,
  progress: EnrichProgress,
  opts: { budget?: RetryBudget; stats?: EnrichStats } = {},
): Promise<EnrichProgress> {
  const stats = opts.stats ?? { calls: 0, retries: 0, bisections: 0 };
  const rows = [...progress.rows];
  const pending: PendingPart[] = [];

  async function run(part: PendingPart): Promise<void> {
    const group = part.at.map((i) => contacts[i]);
    const callPolicy = { ...policy, maxAttempts: attemptsFor(group.length, part.depth, policy) };
    try {
      const results = await withRetry(
        (_attempt, timeoutMs) => {
          stats.calls += 1;
          return api.enrich(group, fields, { timeoutMs });
        },
        callPolicy,
        () => {
          stats.retries += 1;
        },
        { budget: opts.budget, attemptsSpent: part.attempts },
      );
      if (results.length !== group.length) {
        throw new Error(`enrichment API returned ${results.length} results for ${group.length} contacts`);
      }
      part.at.forEach((position, k) => {
        rows[position] = enrichedRow(group[k], fields, results[k]);
      });
    } catch (err) {
      if (err instanceof OutOfTimeError) {
        pending.push({ ...part, attempts: err.attempts });
        return;
      }
      if (group.length === 1) {
        rows[part.at[0]] = failedRow(group[0], fields, describeFailure(err));
        return;
      }
      stats.bisections += 1;
      const mid = Math.ceil(group.length / 2);
      await Promise.all([
        run({ at: part.at.slice(0, mid), depth: part.depth + 1, attempts: 0 }),
        run({ at: part.at.slice(mid), depth: part.depth + 1, attempts: 0 }),
      ]);
    }
  }

  await Promise.all(progress.pending.map(run));
  pending.sort((a, b) => a.at[0] - b.at[0]);
  return { rows, pending };
}

/** The whole bisection with no time limit: one row per contact, in order. */
export async function enrichWithBisection(
  contacts: Contact[],
  fields: EnrichField[],
  api: EnrichmentApi,
  policy: RetryPolicy,
  stats: EnrichStats = { calls: 0, retries: 0, bisections: 0 },
): Promise<OutputRow[]> {
  const { rows } = await advanceEnrichment(contacts, fields, api, policy, freshProgress(contacts.length), { stats });
  return rows as OutputRow[];
}
