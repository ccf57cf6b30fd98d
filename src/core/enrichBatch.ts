import type { Contact, EnrichField, OutputRow } from '../schemas/contact';
import { enrichedRow, failedRow, type EnrichmentResult } from './output';
import { withRetry, type RetryPolicy, HttpError } from './retry';

export interface EnrichmentApi {
  enrich(contacts: Contact[], fields: EnrichField[]): Promise<EnrichmentResult[]>;
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

/**
 * Enriches contacts in one call, retrying transient errors. When the call keeps failing,
 * the batch is split in halves and each half tried on its own, down to single contacts,
 * so that only the contacts that really fail are marked failed.
 */
export async function enrichWithBisection(
  contacts: Contact[],
  fields: EnrichField[],
  api: EnrichmentApi,
  policy: RetryPolicy,
  stats: EnrichStats = { calls: 0, retries: 0, bisections: 0 },
  depth = 0,
): Promise<OutputRow[]> {
  const callPolicy = { ...policy, maxAttempts: attemptsFor(contacts.length, depth, policy) };
  try {
    const results = await withRetry(
      () => {
        stats.calls += 1;
        return api.enrich(contacts, fields);
      },
      callPolicy,
      () => {
        stats.retries += 1;
      },
    );
    if (results.length !== contacts.length) {
      throw new Error(`enrichment API returned ${results.length} results for ${contacts.length} contacts`);
    }
    return contacts.map((contact, i) => enrichedRow(contact, fields, results[i]));
  } catch (err) {
    if (contacts.length === 1) return [failedRow(contacts[0], fields, describeFailure(err))];
    stats.bisections += 1;
    const mid = Math.ceil(contacts.length / 2);
    const [left, right] = await Promise.all([
      enrichWithBisection(contacts.slice(0, mid), fields, api, policy, stats, depth + 1),
      enrichWithBisection(contacts.slice(mid), fields, api, policy, stats, depth + 1),
    ]);
    return [...left, ...right];
  }
}
