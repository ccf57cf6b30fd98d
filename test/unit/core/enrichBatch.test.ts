import {
  advanceEnrichment,
  describeFailure,
  enrichWithBisection,
  freshProgress,
  type EnrichProgress,
  type EnrichStats,
} from '../../../src/core/enrichBatch';
import { enrichedRow } from '../../../src/core/output';
import { mockEnrichContact } from '../../../src/handlers/mockData';
import { CreditsExhaustedError, HttpError, TimeoutError, type RetryPolicy } from '../../../src/core/retry';
import { FleetGate, type GateOptions } from '../../../src/core/providerGate';
import type { Contact, EnrichField } from '../../../src/schemas/contact';
import { FakeEnrichmentApi, HangingEnrichmentApi, manualClockGate, VirtualClock } from '../../support/fakes';
import { makeContacts } from '../../support/factories';

const FIELDS: EnrichField[] = ['professional_email', 'personal_phone'];
const once: RetryPolicy = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const twice: RetryPolicy = { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 };

function poisonAt(contacts: Contact[], indexes: number[]) {
  const poison = new Set(indexes.map((i) => contacts[i]));
  return (c: Contact) => poison.has(c);
}

const newStats = (): EnrichStats => ({ calls: 0, retries: 0, bisections: 0 });

describe('enrichWithBisection', () => {
  it('enriches a healthy batch in one call, in order', async () => {
    const contacts = makeContacts(100);
    const api = new FakeEnrichmentApi();
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, twice, stats);
    expect(api.calls).toHaveLength(1);
    expect(stats).toEqual({ calls: 1, retries: 0, bisections: 0 });
    expect(rows).toEqual(contacts.map((c) => enrichedRow(c, FIELDS, mockEnrichContact(c, FIELDS))));
  });

  it('fails only the poison contacts, keeping order and counting calls and bisections', async () => {
    const contacts = makeContacts(8);
    const api = new FakeEnrichmentApi(poisonAt(contacts, [2, 5]));
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, once, stats);

    expect(rows.map((r) => r.first_name)).toEqual(contacts.map((c) => c.first_name));
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([
      false,
      false,
      true,
      false,
      false,
      true,
      false,
      false,
    ]);
    expect(rows[2]).toMatchObject({
      professional_email: null,
      personal_phone: null,
      failure_reason: 'enrichment API answered 500',
    });
    for (const i of [0, 1, 3, 4, 6, 7])
      expect(rows[i]).toEqual(enrichedRow(contacts[i], FIELDS, mockEnrichContact(contacts[i], FIELDS)));
    // [0-7] → [0-3] [4-7] → [0,1] [2,3] [4,5] [6,7] → [2] [3] [4] [5]
    expect(stats).toEqual({ calls: 11, retries: 0, bisections: 5 });
    expect(api.calls).toHaveLength(11);
  });

  it('retries each failing call before splitting it, and never retries a successful one', async () => {
    const contacts = makeContacts(8);
    const isPoison = poisonAt(contacts, [2, 5]);
    const api = new FakeEnrichmentApi(isPoison);
    const stats = newStats();
    await enrichWithBisection(contacts, FIELDS, api, twice, stats);
    const failing = api.calls.filter((call) => call.some(isPoison)).length;
    const succeeding = api.calls.length - failing;
    expect(failing).toBe(2 * 7); // 7 failing groups, 2 attempts each
    expect(succeeding).toBe(4); // [0,1] [3] [4] [6,7]
    expect(stats).toEqual({ calls: 18, retries: 7, bisections: 5 });
  });

  it('does not retry a 400 but still isolates the contact that causes it', async () => {
    const contacts = makeContacts(4);
    const api = new FakeEnrichmentApi(poisonAt(contacts, [3]), () => new HttpError(400, 'bad'));
    const stats = newStats();
    const rows = await enrichWithBisection(
      contacts,
      FIELDS,
      api,
      { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0 },
      stats,
    );
    expect(stats.retries).toBe(0);
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([false, false, false, true]);
    expect(rows[3].failure_reason).toBe('enrichment API answered 400');
  });

  it('marks every contact failed when every call fails, in order', async () => {
    const contacts = makeContacts(5);
    const api = new FakeEnrichmentApi(
      () => true,
      () => new TimeoutError('slow'),
    );
    const rows = await enrichWithBisection(contacts, FIELDS, api, once);
    expect(rows).toHaveLength(5);
    expect(rows.map((r) => r.last_name)).toEqual(contacts.map((c) => c.last_name));
    expect(rows.every((r) => r.enrichment_status === 'failed' && r.failure_reason === 'enrichment API timed out')).toBe(
      true,
    );
  });

  it('gives a contact left on its own singleContactMaxAttempts tries', async () => {
    const contacts = makeContacts(2);
    const isPoison = poisonAt(contacts, [1]);
    const api = new FakeEnrichmentApi(isPoison);
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, { ...once, singleContactMaxAttempts: 3 }, stats);
    expect(api.calls.map((c) => c.length)).toEqual([2, 1, 1, 1, 1]); // the pair once, [0] once, [1] three times
    expect(stats).toEqual({ calls: 5, retries: 2, bisections: 1 });
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([false, true]);
  });

  it('gives the whole batch the full retry budget but splits a failing part after subBatchMaxAttempts', async () => {
    const contacts = makeContacts(4);
    const api = new FakeEnrichmentApi(poisonAt(contacts, [3]));
    const policy: RetryPolicy = {
      maxAttempts: 3,
      baseDelayMs: 0,
      maxDelayMs: 0,
      subBatchMaxAttempts: 1,
      singleContactMaxAttempts: 2,
    };
    const rows = await enrichWithBisection(contacts, FIELDS, api, policy);
    // [0..3] three times; [0,1] once (fine); [2,3] once, then split; [2] once (fine); [3] twice.
    expect(api.calls.map((c) => c.length)).toEqual([4, 4, 4, 2, 2, 1, 1, 1]);
    expect(rows.map((r) => r.enrichment_status === 'failed')).toEqual([false, false, false, true]);
  });

  it('rescues a single contact from transient errors with its extra attempts', async () => {
    const contacts = makeContacts(1);
    let n = 0;
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        if (++n < 3) throw new HttpError(503, 'busy');
        return cs.map((c) => mockEnrichContact(c, fields));
      },
    };
    const rows = await enrichWithBisection(contacts, FIELDS, api, { ...twice, singleContactMaxAttempts: 3 });
    expect(n).toBe(3);
    expect(rows[0].enrichment_status).not.toBe('failed');
  });

  it('treats a wrong number of results as a failure and splits the batch', async () => {
    const contacts = makeContacts(4);
    const calls: number[] = [];
    // One result short for any call of more than one contact; right for single contacts.
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        calls.push(cs.length);
        const results = cs.map((c) => mockEnrichContact(c, fields));
        return cs.length > 1 ? results.slice(1) : results;
      },
    };
    const stats = newStats();
    const rows = await enrichWithBisection(contacts, FIELDS, api, once, stats);
    expect(rows.map((r) => r.enrichment_status)).not.toContain('failed');
    expect(rows).toEqual(contacts.map((c) => enrichedRow(c, FIELDS, mockEnrichContact(c, FIELDS))));
    expect(calls).toEqual([4, 2, 2, 1, 1, 1, 1]);
    expect(stats.bisections).toBe(3);
  });

  it('does not accept extra results either', async () => {
    const contacts = makeContacts(3);
    const calls: number[] = [];
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        calls.push(cs.length);
        const results = cs.map((c) => mockEnrichContact(c, fields));
        return cs.length > 1 ? [...results, { enrichment_status: 'not_found' as const }] : results;
      },
    };
    const rows = await enrichWithBisection(contacts, FIELDS, api, once);
    expect(calls).toEqual([3, 2, 1, 1, 1]);
    expect(rows).toEqual(contacts.map((c) => enrichedRow(c, FIELDS, mockEnrichContact(c, FIELDS))));
  });

  it('fails a contact whose call keeps returning the wrong number of results', async () => {
    const contacts = makeContacts(2);
    const api = { enrich: async () => [] };
    const rows = await enrichWithBisection(contacts, FIELDS, api, once);
    expect(rows.map((r) => [r.first_name, r.enrichment_status, r.failure_reason])).toEqual([
      ['First0', 'failed', 'enrichment API call failed'],
      ['First1', 'failed', 'enrichment API call failed'],
    ]);
  });
});

describe('advanceEnrichment under a time budget (virtual clock)', () => {
  const HANG = 37;
  const policy: RetryPolicy = {
    maxAttempts: 4,
    subBatchMaxAttempts: 2,
    singleContactMaxAttempts: 8,
    baseDelayMs: 0,
    maxDelayMs: 0,
    callTimeoutMs: 500,
  };
  const setup = () => {
    const contacts = makeContacts(100);
    const clock = new VirtualClock();
    const api = new HangingEnrichmentApi(clock, (c) => c === contacts[HANG]);
    return { contacts, clock, api };
  };
  const budgetOf = (clock: VirtualClock, ms: number) => {
    const b = clock.budget(ms);
    return { deadline: b.deadline, budget: { availableMs: b.remainingMs } };
  };
  const settledAt = (p: EnrichProgress) => new Set(p.rows.flatMap((r, i) => (r ? [i] : [])));

  it('stops at the deadline: the good contacts settle, the hanging one stays pending (not failed), no call may run past it', async () => {
    const { contacts, clock, api } = setup();
    const { deadline, budget } = budgetOf(clock, 5_000);
    const progress = await advanceEnrichment(contacts, FIELDS, api, policy, freshProgress(100), { budget });

    for (const call of api.calls) expect(call.startedAt + (call.timeoutMs ?? Infinity)).toBeLessThanOrEqual(deadline);
    expect(progress.rows[HANG]).toBeNull();
    expect(progress.rows.filter((r) => r?.enrichment_status === 'failed')).toEqual([]);
    const pendingAt = progress.pending.flatMap((p) => p.at);
    expect(pendingAt).toContain(HANG);
    // Every contact is either settled or pending, exactly once.
    expect([...settledAt(progress), ...pendingAt].sort((a, b) => a - b)).toEqual(contacts.map((_, i) => i));
    expect(settledAt(progress).size).toBeGreaterThanOrEqual(75); // the halves without the hanging contact
  });

  it('goes on where the last invocation stopped, never re-calls a settled contact, and fails the hanging one after exactly its attempts', async () => {
    const { contacts, clock, api } = setup();
    let progress = freshProgress(100);
    let invocations = 0;
    while (progress.pending.length && invocations < 20) {
      const settledBefore = settledAt(progress);
      const callsBefore = api.calls.length;
      const { deadline, budget } = budgetOf(clock, 3_000);
      progress = await advanceEnrichment(contacts, FIELDS, api, policy, progress, { budget });
      invocations += 1;
      for (const call of api.calls.slice(callsBefore)) {
        expect(call.startedAt + call.timeoutMs!).toBeLessThanOrEqual(deadline);
        expect(call.contacts.filter((c) => settledBefore.has(contacts.indexOf(c)))).toEqual([]);
      }
    }
    // The whole bisection needs 4 + 6 × 2 + 8 = 24 full calls of 500 ms: more than one invocation's 3 s.
    expect(invocations).toBeGreaterThan(4);
    expect(progress.pending).toEqual([]);
    expect(progress.rows[HANG]).toMatchObject({
      enrichment_status: 'failed',
      failure_reason: 'enrichment API timed out',
    });
    expect(progress.rows.filter((r) => r!.enrichment_status === 'failed')).toHaveLength(1);
    // Calls on the hanging contact alone that ran their full timeout: its 8 attempts, whatever the deadline cut.
    const alone = api.calls.filter((c) => c.contacts.length === 1 && c.contacts[0] === contacts[HANG]);
    expect(alone.filter((c) => c.timeoutMs === 500)).toHaveLength(8);
  });

  it('starts nothing when the budget is already spent, and loses nothing', async () => {
    const { contacts, clock, api } = setup();
    const { budget } = budgetOf(clock, 0);
    const start = freshProgress(100);
    const { stoppedBy, ...progress } = await advanceEnrichment(contacts, FIELDS, api, policy, start, { budget });
    expect(api.calls).toEqual([]);
    expect(progress).toEqual(start);
    expect(stoppedBy).toBe('time');
  });
});

describe('describeFailure', () => {
  it('names the HTTP status, a timeout, or a generic failure, and nothing else', () => {
    expect(describeFailure(new HttpError(503, 'x'))).toBe('enrichment API answered 503');
    expect(describeFailure(new TimeoutError('x'))).toBe('enrichment API timed out');
    expect(describeFailure(new Error('secret detail'))).toBe('enrichment API call failed');
    expect(describeFailure('weird')).toBe('enrichment API call failed');
  });
});

describe("advanceEnrichment with the provider gate: 402, 429 and a failed trial are pauses, not the contacts' doing", () => {
  /** An API that throws `errors` in turn (one per call), then answers with mock data. */
  function scripted(errors: Error[]) {
    const calls: number[] = [];
    return {
      calls,
      api: {
        enrich: async (group: Contact[], fields: EnrichField[]) => {
          calls.push(group.length);
          await Promise.resolve();
          const err = errors.shift();
          if (err) throw err;
          return group.map((c) => mockEnrichContact(c, fields));
        },
      },
    };
  }
  const clocked = (opts: Partial<GateOptions> = {}) =>
    manualClockGate({ threshold: 5, coolDownMs: 30_000, creditRetryMs: 300_000, ...opts });

  it('a 402 pauses for the credits: one call, no contact failed or tried again, no own failure, no budget spent', async () => {
    const contacts = makeContacts(4);
    const { api, calls } = scripted([new CreditsExhaustedError()]);
    const { gate } = clocked();
    let own = 0;
    const out = await advanceEnrichment(contacts, FIELDS, api, twice, freshProgress(4), {
      gate,
      callBudget: 22,
      onTransientFailure: () => (own += 1),
    });
    expect(calls).toEqual([4]);
    expect(out).toMatchObject({ stoppedBy: 'credits', reopensInMs: 300_000, callsSpent: 0, permanentFailures: 0 });
    expect(out.rows).toEqual([null, null, null, null]);
    // The part is left whole, with no attempt counted: the 402 says nothing about these contacts.
    expect(out.pending).toEqual([{ at: [0, 1, 2, 3], depth: 0, attempts: 0 }]);
    expect(own).toBe(0);
    // Every other call meets the pause: refused before calling.
    const other = await advanceEnrichment(contacts, FIELDS, api, twice, freshProgress(4), { gate });
    expect(calls).toEqual([4]);
    expect(other.stoppedBy).toBe('credits');
  });

  it("a 402 that PDL puts on a record (an HttpError 402, not the adapter's class) pauses the same way", async () => {
    const { api } = scripted([new HttpError(402, 'People Data Labs record answered 402')]);
    const out = await advanceEnrichment(makeContacts(2), FIELDS, api, twice, freshProgress(2), {
      gate: clocked().gate,
    });
    expect(out.stoppedBy).toBe('credits');
  });

  it('without a gate a 402 is still retried as a transient failure and never fails a contact for good', async () => {
    const { api, calls } = scripted([new CreditsExhaustedError(), new CreditsExhaustedError()]);
    const out = await advanceEnrichment(makeContacts(4), FIELDS, api, twice, freshProgress(4));
    expect(calls).toEqual([4, 4, 2, 2]);
    expect(out.permanentFailures).toBe(0);
    expect(out.rows.every((r) => r?.enrichment_status !== 'failed')).toBe(true);
  });

  it('a 429 is waited out through the gate within the budget and called again: not an attempt, not an own failure', async () => {
    const contacts = makeContacts(3);
    const { api, calls } = scripted([
      new HttpError(429, 'slow down', 2_000),
      new HttpError(429, 'slow down', 2_000),
      new HttpError(429, 'slow down', 2_000),
    ]);
    const { gate, clock } = clocked();
    const paused: number[] = [];
    const limiter = { take: async () => true, pause: async (until: number) => void paused.push(until) };
    let own = 0;
    const out = await advanceEnrichment(contacts, FIELDS, api, once, freshProgress(3), {
      gate,
      limiter,
      callBudget: 1,
      onTransientFailure: () => (own += 1),
      now: () => clock.now, // the takes are timed on the gate's clock too, never the host's
    });
    // One attempt allowed and a budget of one call: the three 429s spent neither.
    expect(calls).toEqual([3, 3, 3, 3]);
    expect(out.rows.every((r) => r?.enrichment_status === 'enriched' || r?.enrichment_status === 'not_found')).toBe(
      true,
    );
    expect(out).toMatchObject({ callsSpent: 1, permanentFailures: 0, pending: [] });
    expect(own).toBe(0);
    expect(clock.now).toBe(6_000); // three pauses of the provider's 2 s, waited on the gate's clock
    expect(paused).toHaveLength(3); // and the shared bucket paused each time
    // The pauses waited out are the request's rate-limit wait; the calls, 429s included, its provider calls.
    expect(out.usage).toEqual({ providerCalls: 4, contactsSent: 12, rateLimitWaitMs: 6_000 });
  });

  it('a 429 whose pause runs past the time budget stops the part: held as a rate limit, nothing failed', async () => {
    const contacts = makeContacts(3);
    const { api, calls } = scripted([new HttpError(429, 'slow down', 60_000)]);
    const { gate, clock } = clocked();
    const budget = { availableMs: () => 20_000 - clock.now };
    const out = await advanceEnrichment(contacts, FIELDS, api, { ...twice, callTimeoutMs: 5_000 }, freshProgress(3), {
      gate,
      budget,
    });
    expect(calls).toEqual([3]);
    expect(out).toMatchObject({ stoppedBy: 'rate_limit', reopensInMs: 60_000, callsSpent: 0 });
    expect(out.pending).toEqual([{ at: [0, 1, 2], depth: 0, attempts: 0 }]);
  });

  it("a failed trial reopens the gate and stops the part: the batch's own failure, but not an attempt", async () => {
    const contacts = makeContacts(2);
    const { api, calls } = scripted([new HttpError(503, 'down')]);
    const { gate, clock } = clocked({ threshold: 1, coolDownMs: 1_000 });
    await gate.failure(); // opened by an earlier call
    clock.now = 1_000;
    let own = 0;
    const out = await advanceEnrichment(contacts, FIELDS, api, twice, freshProgress(2), {
      gate,
      onTransientFailure: () => (own += 1),
    });
    expect(calls).toEqual([2]); // the trial, then the gate is open again
    expect(out).toMatchObject({ stoppedBy: 'breaker', reopensInMs: 1_000 });
    expect(out.pending).toEqual([{ at: [0, 1], depth: 0, attempts: 0 }]);
    expect(own).toBe(1);
  });

  it('when parts stop for different reasons, the credit pause wins (the batch is held for it)', async () => {
    const contacts = makeContacts(4);
    // The whole batch fails and is split; the first half fails again, which opens the gate for an outage (its
    // quarters stop on it first); the second half's slower answer is a 402.
    const calls: number[] = [];
    const api = {
      enrich: async (group: Contact[]) => {
        calls.push(group.length);
        if (group.length === 2 && group[0] === contacts[2]) {
          for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
          throw new CreditsExhaustedError();
        }
        throw new HttpError(500, 'x');
      },
    };
    const out = await advanceEnrichment(contacts, FIELDS, api, once, freshProgress(4), {
      gate: clocked({ threshold: 2 }).gate,
    });
    expect(calls).toEqual([4, 2, 2]);
    expect(out.stoppedBy).toBe('credits');
    expect(out.rows).toEqual([null, null, null, null]);
  });
});

describe('usage: the calls made to the provider, as the provider counts them', () => {
  const sentIn = (calls: Contact[][]) => calls.reduce((n, call) => n + call.length, 0);

  it('counts every call and its contacts, the retries and the bisection included', async () => {
    const contacts = makeContacts(8);
    const api = new FakeEnrichmentApi(poisonAt(contacts, [2, 5]));
    const out = await advanceEnrichment(contacts, FIELDS, api, twice, freshProgress(8));
    // Failing groups twice each: [0-7] [0-3] [4-7] [2,3] [4,5] [2] [5] = 2 × 22 contacts; then [0,1] [3] [4] [6,7].
    expect(out.usage).toEqual({ providerCalls: 18, contactsSent: 50, rateLimitWaitMs: 0 });
    expect(out.usage!.providerCalls).toBe(api.calls.length);
    expect(out.usage!.contactsSent).toBe(sentIn(api.calls));
  });

  it('counts the calls answered 429, 402 and 5xx: the provider counted them too', async () => {
    const contacts = makeContacts(10);
    const answers = [new HttpError(429, 'slow down', 0), new HttpError(503, 'busy')];
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        const err = answers.shift();
        if (err) throw err;
        return cs.map((c) => mockEnrichContact(c, fields));
      },
    };
    const out = await advanceEnrichment(contacts, FIELDS, api, { ...twice, maxAttempts: 3 }, freshProgress(10));
    expect(out.rows.every((r) => r?.enrichment_status !== 'failed')).toBe(true);
    expect(out.usage).toEqual({ providerCalls: 3, contactsSent: 30, rateLimitWaitMs: 0 });

    // 402s (credits spent), however the batch then waits: each call that went out is counted with its contacts.
    const sent: Contact[][] = [];
    const broke = {
      enrich: async (cs: Contact[]) => {
        sent.push(cs);
        throw new CreditsExhaustedError();
      },
    };
    const gate = new FleetGate({ threshold: 3, coolDownMs: 60_000, creditRetryMs: 300_000 });
    const unpaid = await advanceEnrichment(contacts, FIELDS, broke, twice, freshProgress(10), { gate });
    // The 402 pauses the gate at once: one call went out, and it counts.
    expect(sent).toHaveLength(1);
    expect(unpaid.usage).toEqual({ providerCalls: sent.length, contactsSent: sentIn(sent), rateLimitWaitMs: 0 });
  });

  it('adds to the usage of earlier deliveries (kept progress); progress kept before usage existed counts zero', async () => {
    const contacts = makeContacts(4);
    const earlier = { ...freshProgress(4), usage: { providerCalls: 5, contactsSent: 500, rateLimitWaitMs: 70 } };
    const out = await advanceEnrichment(contacts, FIELDS, new FakeEnrichmentApi(), once, earlier);
    expect(out.usage).toEqual({ providerCalls: 6, contactsSent: 504, rateLimitWaitMs: 70 });

    const { usage: _none, ...older } = freshProgress(4);
    const fromOlder = await advanceEnrichment(contacts, FIELDS, new FakeEnrichmentApi(), once, older);
    expect(fromOlder.usage).toEqual({ providerCalls: 1, contactsSent: 4, rateLimitWaitMs: 0 });
  });

  it('times the takes of rate-limiter tokens; a refused take makes no call and counts none', async () => {
    const contacts = makeContacts(10);
    let t = 1_000;
    const waits = [250, 40];
    const limiter = {
      take: async () => {
        t += waits.shift() ?? 0;
        return true;
      },
      pause: async () => undefined,
    };
    let first = true;
    const api = {
      async enrich(cs: Contact[], fields: EnrichField[]) {
        if (first) {
          first = false;
          throw new HttpError(429, 'slow down', 0);
        }
        return cs.map((c) => mockEnrichContact(c, fields));
      },
    };
    const out = await advanceEnrichment(contacts, FIELDS, api, twice, freshProgress(10), { limiter, now: () => t });
    expect(out.usage).toEqual({ providerCalls: 2, contactsSent: 20, rateLimitWaitMs: 290 });

    const refusing = { take: async () => false, pause: async () => undefined };
    const calls = new FakeEnrichmentApi();
    const held = await advanceEnrichment(contacts, FIELDS, calls, twice, freshProgress(10), {
      limiter: refusing,
      now: () => t,
    });
    expect(held.stoppedBy).toBe('limit');
    expect(calls.calls).toEqual([]);
    expect(held.usage).toEqual({ providerCalls: 0, contactsSent: 0, rateLimitWaitMs: 0 });
  });

  it('a delivery stopped by its time budget returns the calls it made, for the kept progress to carry', async () => {
    const contacts = makeContacts(100);
    contacts[37] = { ...contacts[37], company_domain: 'x37.hang' };
    const clock = new VirtualClock();
    const api = new HangingEnrichmentApi(clock, (c) => c === contacts[37]);
    const b = clock.budget(5_000);
    const out = await advanceEnrichment(
      contacts,
      FIELDS,
      api,
      { maxAttempts: 4, baseDelayMs: 0, maxDelayMs: 0, callTimeoutMs: 500 },
      freshProgress(100),
      { budget: { availableMs: b.remainingMs } },
    );
    expect(out.stoppedBy).toBe('time');
    expect(api.calls.length).toBeGreaterThan(1);
    expect(out.usage).toEqual({
      providerCalls: api.calls.length,
      contactsSent: sentIn(api.calls.map((c) => c.contacts)),
      rateLimitWaitMs: 0,
    });
  });
});
