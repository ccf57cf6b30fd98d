import { checkExact, counterDelta, firstDifference, markdownRow, usageVersusMock } from '../../../bench/providerChecks';

const contact = (i: number) => ({ first_name: `F${i}`, last_name: `L${i}`, company_domain: `c${i}.example.com` });
const row = (i: number, status = 'enriched', extra: Record<string, unknown> = {}) => ({
  ...contact(i),
  enrichment_status: status,
  source: 'provider',
  ...extra,
});
const input = [0, 1, 2].map(contact);
const zero = { calls: 0, contacts: 0, matches: 0, throttled: 0, creditErrors: 0, serverErrors: 0 };
const usage = (providerCalls: number, contactsSent: number, matches: number) => ({
  providerCalls,
  contactsSent,
  cacheHits: 0,
  matches,
  notFound: 0,
  failed: 0,
  rateLimitWaitMs: 0,
  estimatedCost: 0,
});

describe('checkExact (the provider bench: every contact once, in order, the counts add up)', () => {
  it('passes one row per contact in input order whose counts match the summary', () => {
    const rows = [row(0), row(1, 'not_found'), row(2)];
    const check = checkExact(rows, input, { summary: { enriched: 2, not_found: 1, failed: 0 } });
    expect(check).toEqual({ exact: true, counts: { enriched: 2, not_found: 1, failed: 0 }, problems: [] });
  });

  it('finds a missing row, a repeated row and rows out of order', () => {
    expect(checkExact([row(0), row(1)], input).problems[0]).toBe('output has 2 rows, input has 3 contacts');
    expect(checkExact([row(0), row(1), row(1)], input).exact).toBe(false);
    expect(checkExact([row(0), row(2), row(1)], input).problems).toEqual([
      'row 1 is F2|L2|c2.example.com, input has F1|L1|c1.example.com (order or content differs)',
      'row 2 is F1|L1|c1.example.com, input has F2|L2|c2.example.com (order or content differs)',
    ]);
  });

  it('fails a failed row unless the contact may fail, and a contact that should have failed but did not', () => {
    const rows = [row(0), row(1, 'failed', { failure_reason: 'x' }), row(2)];
    expect(checkExact(rows, input).problems).toEqual(['row 1 failed (x)']);
    expect(checkExact(rows, input, { mayFail: (c) => c.first_name === 'F1' }).exact).toBe(true);
    expect(checkExact(rows, input, { mayFail: (c) => c.first_name !== 'F0' }).problems).toEqual([
      'row 2 was expected to fail: enriched',
    ]);
  });

  it('fails when the status summary disagrees with the rows', () => {
    const check = checkExact([row(0), row(1), row(2)], input, { summary: { enriched: 2, not_found: 1 } });
    expect(check.problems).toEqual(['status says 2 enriched, the rows 3', 'status says 1 not_found, the rows 0']);
  });

  it("counts a cancelled request's cancelled rows only when told, and compares them with the summary", () => {
    const rows = [row(0), row(1, 'cancelled'), row(2, 'cancelled')];
    expect(checkExact(rows, input).problems).toEqual([
      'row 1: enrichment_status "cancelled"',
      'row 2: enrichment_status "cancelled"',
      'the counts add up to 1, not 3',
    ]);
    const summary = { enriched: 1, not_found: 0, failed: 0, cancelled: 2 };
    expect(checkExact(rows, input, { summary, cancelled: true })).toEqual({
      exact: true,
      counts: { enriched: 1, not_found: 0, failed: 0, cancelled: 2 },
      problems: [],
    });
    expect(checkExact(rows, input, { summary: { ...summary, cancelled: 1 }, cancelled: true }).problems).toEqual([
      'status says 1 cancelled, the rows 2',
    ]);
  });
});

describe('usageVersusMock', () => {
  const delta = { ...zero, calls: 12, contacts: 1000, matches: 950, throttled: 2 };

  it('is n/a while a request has no usage', () => {
    expect(usageVersusMock([undefined], delta).verdict).toBe('n/a');
    expect(usageVersusMock([usage(12, 1000, 950), undefined], delta).verdict).toBe('n/a');
  });

  it("sums the requests' usage and compares calls, contacts and matches with the mock's counters", () => {
    expect(usageVersusMock([usage(5, 400, 380), usage(7, 600, 570)], delta)).toEqual({
      verdict: 'yes',
      text: 'yes (providerCalls 12, contactsSent 1000, matches 950)',
    });
    expect(usageVersusMock([usage(10, 1000, 951)], delta)).toEqual({
      verdict: 'no',
      text: 'no: providerCalls 10 vs mock 12, matches 951 vs mock 950',
    });
  });
});

describe('the rest', () => {
  it('counterDelta subtracts every counter', () => {
    expect(counterDelta({ ...zero, calls: 3, serverErrors: 1 }, { ...zero, calls: 10, serverErrors: 4 })).toEqual({
      ...zero,
      calls: 7,
      serverErrors: 3,
    });
  });

  it('firstDifference ignores source and cachedAt only', () => {
    const a = [row(0), row(1)];
    expect(firstDifference(a, [row(0, 'enriched', { source: 'cache', cachedAt: 't' }), row(1)])).toBeUndefined();
    expect(firstDifference(a, [row(0), row(1, 'not_found')])).toMatch(/^row 1: /);
    expect(firstDifference(a, [row(0)])).toBe('2 rows vs 1');
  });

  it('markdownRow escapes pipes in a cell', () => {
    expect(markdownRow(['a|b', 1])).toBe('| a\\|b | 1 |');
  });
});
