import { addUsage, batchUsage, callUsageOf, estimatedCost, rowUsage } from '../../../src/core/usage';
import { enrichedRow, failedRow } from '../../../src/core/output';
import { makeContacts } from '../../support/factories';

const [a, b, c, d, e] = makeContacts(5);
const FIELDS = ['professional_email'] as const;
const rows = [
  enrichedRow(a, FIELDS, { enrichment_status: 'enriched', professional_email: 'a@x.io' }),
  enrichedRow(b, FIELDS, { enrichment_status: 'not_found' }),
  enrichedRow(c, FIELDS, { enrichment_status: 'enriched', professional_email: 'c@x.io' }, '2024-04-01T00:00:00.000Z'),
  enrichedRow(d, FIELDS, { enrichment_status: 'not_found' }, '2024-04-01T00:00:00.000Z'),
  failedRow(e, FIELDS, 'enrichment API answered 500'),
];

describe('usage', () => {
  it('counts rows by source and status: a cache row is a hit whatever it holds, only provider rows match', () => {
    expect(rowUsage(rows)).toEqual({ cacheHits: 2, matches: 1, notFound: 1, failed: 1 });
    // A row stored before rows had a source came from the provider.
    const { source: _s, ...older } = rows[0];
    expect(rowUsage([older])).toEqual({ cacheHits: 0, matches: 1, notFound: 0, failed: 0 });
  });

  it('reads a stored call usage back: absent or malformed fields count zero', () => {
    expect(callUsageOf(undefined)).toEqual({ providerCalls: 0, contactsSent: 0, rateLimitWaitMs: 0 });
    expect(callUsageOf({ providerCalls: 3, contactsSent: '7', rateLimitWaitMs: -4 })).toEqual({
      providerCalls: 3,
      contactsSent: 0,
      rateLimitWaitMs: 0,
    });
    expect(batchUsage({ rows })).toEqual({
      providerCalls: 0,
      contactsSent: 0,
      rateLimitWaitMs: 0,
      cacheHits: 2,
      matches: 1,
      notFound: 1,
      failed: 1,
    });
  });

  it('adds usages field by field, and prices matches without binary noise', () => {
    expect(addUsage({ providerCalls: 1, contactsSent: 2 }, { providerCalls: 3, contactsSent: 4 })).toEqual({
      providerCalls: 4,
      contactsSent: 6,
    });
    expect(estimatedCost(3, 0.1)).toBe(0.3);
    expect(estimatedCost(1_000_000, 0.028)).toBe(28_000);
    expect(estimatedCost(7, 0)).toBe(0);
  });
});
