import { grantBound, planLimiter, TokenBucket, type LimiterPlan } from '../../../src/core/rateLimiter';
import { holdDecision, MAX_BATCH_HOLDS, MAX_OWN_HOLDS, OUTAGE_MAX_DELAY_SECONDS } from '../../../src/core/processBatch';
import type { BucketCounter, TokenBucketStore } from '../../../src/core/ports';

/** The store's two conditional writes on a Map, atomic as DynamoDB's single-item updates are; counts the writes. */
function memoryStore() {
  const items = new Map<number, Partial<Record<BucketCounter, number>>>();
  const calls = { add: 0, raise: 0 };
  const store: TokenBucketStore = {
    async add(shard, amounts, max) {
      calls.add += 1;
      const item = items.get(shard) ?? {};
      const entries = Object.entries(amounts) as [BucketCounter, number][];
      if (entries.some(([c, n]) => (item[c] ?? 0) + n > (max[c] ?? Infinity))) return undefined;
      for (const [c, n] of entries) item[c] = (item[c] ?? 0) + n;
      items.set(shard, item);
      return Object.fromEntries(entries.map(([c]) => [c, item[c]]));
    },
    async raise(shard, counters) {
      calls.raise += 1;
      const item = items.get(shard) ?? {};
      const entries = Object.entries(counters) as [BucketCounter, { below: number; to: number }][];
      if (entries.some(([c, { below }]) => item[c] !== undefined && item[c]! >= below)) return false;
      for (const [c, { to }] of entries) item[c] = to;
      items.set(shard, item);
      return true;
    },
  };
  return { store, items, calls };
}

/** A fake clock whose sleeps advance it. */
function fakeTime(start = 1_700_000_000_000) {
  let t = start;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('planLimiter: the bucket for the provider limits', () => {
  it('is off when neither limit is set', () => {
    expect(planLimiter({ maxContactsPerCall: 100 })).toBeUndefined();
    expect(planLimiter({ callsPerMinute: 0, contactsPerMinute: 0, maxContactsPerCall: 100 })).toBeUndefined();
  });

  it('runs at (limit - one take) over 60 s + burst, so no 60 s window grants more than the limit', () => {
    for (const [settings, counter, limit] of [
      [{ callsPerMinute: 600, maxContactsPerCall: 100 }, 'calls', 600],
      [{ contactsPerMinute: 6_000, maxContactsPerCall: 100 }, 'contacts', 6_000],
      [{ contactsPerMinute: 1_000, maxContactsPerCall: 100 }, 'contacts', 1_000],
      [{ callsPerMinute: 120_000, maxContactsPerCall: 100 }, 'calls', 120_000],
    ] as const) {
      const plan = planLimiter(settings)!;
      expect(grantBound(plan, counter, 60_000)).toBeLessThanOrEqual(limit);
      // ...and not far below it: at least 90% of the limit is usable.
      expect(grantBound(plan, counter, 60_000)).toBeGreaterThan(0.9 * limit);
      // Smooth pacing: the burst is a few seconds' worth of tokens, not a window's.
      expect(plan.burstMs).toBeLessThanOrEqual(3_000);
    }
  });

  it('shards the bucket only past 500 takes a second per item (30,000 calls a minute)', () => {
    expect(planLimiter({ callsPerMinute: 600, maxContactsPerCall: 100 })!.shards).toBe(1);
    expect(planLimiter({ callsPerMinute: 30_000, maxContactsPerCall: 100 })!.shards).toBe(1);
    expect(planLimiter({ callsPerMinute: 30_001, maxContactsPerCall: 100 })!.shards).toBe(2);
    expect(planLimiter({ callsPerMinute: 120_000, maxContactsPerCall: 100 })!.shards).toBe(4);
  });

  it('refuses a limit below one take', () => {
    expect(() => planLimiter({ contactsPerMinute: 100, maxContactsPerCall: 100 })).toThrow(/contacts limit of 100/);
  });
});

describe('TokenBucket: one conditional write per take, waits computed, never polled', () => {
  const plan600 = (): LimiterPlan => planLimiter({ callsPerMinute: 600, maxContactsPerCall: 100 })!;

  it('many takers over 10 s of fake time get at most the bound, and wait (sleep) instead of being refused', async () => {
    const time = fakeTime();
    const { store, calls } = memoryStore();
    const plan = plan600();
    let granted = 0;
    const start = time.now();
    // Each taker takes, sleeps as told (the fake clock advances), and stops once its budget would end past 10 s.
    const taker = async () => {
      const bucket = new TokenBucket(plan, store, { now: time.now, sleep: async () => undefined });
      // A guard: a limiter that never refuses would loop forever; it fails the bound instead.
      while (granted < 10_000 && (await bucket.take(1, start + 10_000 - time.now()))) granted += 1;
    };
    await Promise.all(Array.from({ length: 8 }, taker));
    expect(granted).toBeLessThanOrEqual(grantBound(plan, 'calls', 10_000));
    expect(granted).toBeGreaterThanOrEqual(Math.floor(10_000 / plan.counters[0].intervalMs));
    // Every granted take is 1 write, each taker's final refusal 1; the cold start (an absent schedule, all 8 at once)
    // costs each taker at most a discarded add and a lost raise more.
    expect(calls.add + calls.raise).toBeLessThanOrEqual(granted + 8 + 2 * 8);
  });

  it('starts full: a fresh bucket hands out its burst at once, then one token per interval', async () => {
    const time = fakeTime();
    const { store } = memoryStore();
    const plan = plan600();
    const bucket = new TokenBucket(plan, store, { now: time.now, sleep: time.sleep });
    let granted = 0;
    while (granted < 100_000 && (await bucket.take(1, 0))) granted += 1; // no waiting: only tokens already there
    // The burst's tokens (the one at exactly now - burst is not handed out), and no more.
    const burstTokens = Math.floor(plan.burstMs / plan.counters[0].intervalMs);
    expect(granted).toBeGreaterThanOrEqual(burstTokens - 1);
    expect(granted).toBeLessThanOrEqual(burstTokens + 1);
  });

  it('a fleet that falls behind its schedule by less than the burst (a CPU-starved spell) loses no token', async () => {
    const time = fakeTime();
    const { store } = memoryStore();
    const plan = plan600();
    const interval = plan.counters[0].intervalMs;
    const bucket = new TokenBucket(plan, store, { now: time.now, sleep: time.sleep });
    // Busy: takes and waits for 10 s, so the schedule is at now.
    const end = time.now() + 10_000;
    while (await bucket.take(1, end - time.now()));
    // Stalled for half a second less than the burst (no take), then every token of the stall is still there, at once.
    const stall = plan.burstMs - 500;
    time.advance(stall);
    let granted = 0;
    while (granted < 100_000 && (await bucket.take(1, 0))) granted += 1;
    expect(granted).toBeGreaterThanOrEqual(Math.floor(stall / interval));
  });

  it('slow round trips (a CPU-starved stack) do not make concurrent takers raise past each other or refuse', async () => {
    const time = fakeTime();
    const { store, calls } = memoryStore();
    // Every write lands 100 ms after it was sent: 16 takers at once read clocks up to 1.6 s apart.
    const slow: TokenBucketStore = {
      add: async (...args) => {
        await Promise.resolve();
        time.advance(100);
        return store.add(...args);
      },
      raise: async (...args) => {
        await Promise.resolve();
        time.advance(100);
        return store.raise(...args);
      },
    };
    const plan = plan600();
    let granted = 0;
    let refused = 0;
    // An idle bucket (a take an hour ago), then 16 workers at once, each taking 5 tokens with a minute to wait.
    await new TokenBucket(plan, store, { now: time.now, sleep: time.sleep }).take(1, 0);
    time.advance(3_600_000);
    const before = calls.add + calls.raise;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        const bucket = new TokenBucket(plan, slow, { now: time.now, sleep: async () => undefined });
        for (let i = 0; i < 5; i++) {
          if (await bucket.take(1, 60_000)) granted += 1;
          else refused += 1;
        }
      }),
    );
    expect(refused).toBe(0);
    expect(granted).toBe(80);
    // One write a token; the idle start (16 takers on a stale counter at once) costs each at most a discarded add
    // and a lost raise more.
    expect(calls.add + calls.raise - before).toBeLessThanOrEqual(80 + 2 * 16);
  });

  it('an idle spell is not handed out as a burst: a take far behind now is raised to now - burst', async () => {
    const time = fakeTime();
    const { store, items } = memoryStore();
    const plan = plan600();
    const bucket = new TokenBucket(plan, store, { now: time.now, sleep: time.sleep });
    expect(await bucket.take(1, 0)).toBe(true);
    time.advance(3_600_000); // an hour idle
    let granted = 0;
    while (granted < 100_000 && (await bucket.take(1, 0))) granted += 1; // no waiting: only tokens already there
    expect(granted).toBeLessThanOrEqual(Math.ceil(plan.burstMs / plan.counters[0].intervalMs) + 1);
    expect(items.get(0)!.calls! * plan.counters[0].intervalMs).toBeLessThanOrEqual(time.now());
  });

  it('sleeps exactly until its token is there (no poll), within maxWaitMs; refuses at once past it', async () => {
    const time = fakeTime();
    const { store, calls } = memoryStore();
    const sleeps: number[] = [];
    const plan = plan600();
    const bucket = new TokenBucket(plan, store, {
      now: time.now,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    // Fill what is there now, then the next take must wait about one interval.
    for (let i = 0; i < 10_000 && (await bucket.take(1, 0)); i++);
    const before = calls.add + calls.raise;
    expect(await bucket.take(1, 1_000)).toBe(true);
    expect(sleeps.at(-1)).toBeGreaterThan(0);
    expect(sleeps.at(-1)).toBeLessThanOrEqual(plan.counters[0].intervalMs + 1);
    expect(calls.add + calls.raise - before).toBe(1);
  });

  it('takes calls and contacts in the same write; a call of N contacts takes N contact tokens', async () => {
    const time = fakeTime();
    const { store, items, calls } = memoryStore();
    const plan = planLimiter({ callsPerMinute: 600, contactsPerMinute: 6_000, maxContactsPerCall: 100 })!;
    const bucket = new TokenBucket(plan, store, { now: time.now, sleep: time.sleep });
    await bucket.take(40, 60_000);
    const after = { ...items.get(0) };
    await bucket.take(40, 60_000);
    expect(items.get(0)!.calls! - after.calls!).toBe(1);
    expect(items.get(0)!.contacts! - after.contacts!).toBe(40);
    expect(calls.add).toBe(2 + 0 /* the idle first take raised */);
  });

  it('a pause moves every counter forward, never back: the next take (by another worker) waits until it', async () => {
    const time = fakeTime();
    const { store } = memoryStore();
    const plan = plan600();
    const a = new TokenBucket(plan, store, { now: time.now, sleep: time.sleep });
    const b = new TokenBucket(plan, store, { now: time.now, sleep: time.sleep });
    await a.take(1, 0);
    const until = time.now() + 30_000;
    await a.pause(until);
    await a.pause(until - 20_000); // an earlier pause does not shorten it
    expect(await b.take(1, 10_000)).toBe(false); // not within its budget
    expect(await b.take(1, 40_000)).toBe(true);
    expect(time.now()).toBeGreaterThanOrEqual(until);
  });
});

describe('holdDecision: hold (re-send with a delay) or hand back to SQS', () => {
  const random = () => 0;
  const nowMs = Date.parse('2026-01-01T00:00:00.000Z');
  const outageSince = new Date(nowMs).toISOString();

  it('holds a batch stopped by the limiter, or by an open circuit it did not open itself', () => {
    expect(holdDecision({ stoppedBy: 'limit', ownFailures: 0, holds: 0, random })).toEqual({
      hold: true,
      holds: 1,
      delaySeconds: 5,
    });
    expect(holdDecision({ stoppedBy: 'limit', ownFailures: 3, holds: 0, random }).hold).toBe(true);
    expect(holdDecision({ stoppedBy: 'breaker', ownFailures: 0, holds: 2, nowMs, random })).toEqual({
      hold: true,
      holds: 3,
      outageSince,
      delaySeconds: 20,
    });
  });

  it('hands back a batch out of its own time, one whose own calls failed once held MAX_OWN_HOLDS times, or one held too often', () => {
    expect(holdDecision({ stoppedBy: 'time', ownFailures: 0, holds: 0 })).toEqual({ hold: false, reason: 'own-time' });
    expect(holdDecision({ stoppedBy: 'breaker', ownFailures: 1, holds: 0, ownHolds: MAX_OWN_HOLDS })).toEqual({
      hold: false,
      reason: 'own-failures',
    });
    expect(holdDecision({ stoppedBy: 'limit', ownFailures: 0, holds: MAX_BATCH_HOLDS })).toEqual({
      hold: false,
      reason: 'hold-limit',
    });
  });

  it('holds a batch whose own calls failed and paused the gate a few times (ownHolds), each at least the pause left', () => {
    // An outage this batch saw first looks, from inside, like contacts the provider always refuses: held, counted apart.
    expect(holdDecision({ stoppedBy: 'breaker', ownFailures: 20, holds: 3, hintMs: 30_000, nowMs, random })).toEqual({
      hold: true,
      holds: 3,
      ownHolds: 1,
      outageSince,
      delaySeconds: 30,
    });
    expect(holdDecision({ stoppedBy: 'breaker', ownFailures: 1, holds: 0, ownHolds: 3, nowMs, random })).toEqual({
      hold: true,
      holds: 0,
      ownHolds: 4,
      outageSince,
      delaySeconds: 40,
    });
  });

  it("caps an outage hold's backoff at OUTAGE_MAX_DELAY_SECONDS (back soon after the outage), not other holds'", () => {
    const outage = holdDecision({ stoppedBy: 'breaker', ownFailures: 0, holds: 10, nowMs, random });
    expect(outage).toMatchObject({ hold: true, holds: 11, delaySeconds: OUTAGE_MAX_DELAY_SECONDS });
    // The pause left still wins when longer.
    expect(
      holdDecision({ stoppedBy: 'breaker', ownFailures: 0, holds: 10, hintMs: 90_000, nowMs, random }),
    ).toMatchObject({ delaySeconds: 90 });
    expect(holdDecision({ stoppedBy: 'limit', ownFailures: 0, holds: 10, random })).toMatchObject({
      delaySeconds: 900,
    });
  });

  it('rides out an outage for outageHoldMs from the first outage hold, then hands the batch back (its receives, the DLQ)', () => {
    const outageHoldMs = 3_600_000;
    const since = new Date(nowMs - outageHoldMs + 1).toISOString();
    // The first outage hold stamps the time; later ones keep it, whether the fleet's pause or its own failures stopped it.
    expect(holdDecision({ stoppedBy: 'breaker', ownFailures: 0, holds: 0, outageHoldMs, nowMs, random })).toEqual({
      hold: true,
      holds: 1,
      outageSince,
      delaySeconds: 5,
    });
    for (const ownFailures of [0, 3])
      expect(
        holdDecision({ stoppedBy: 'breaker', ownFailures, holds: 7, outageSince: since, outageHoldMs, nowMs, random }),
      ).toMatchObject({ hold: true, outageSince: since });
    // Its time is up: handed back, whatever stopped its calls this time, however few its holds.
    const late = new Date(nowMs - outageHoldMs).toISOString();
    for (const ownFailures of [0, 3])
      expect(
        holdDecision({ stoppedBy: 'breaker', ownFailures, holds: 1, outageSince: late, outageHoldMs, nowMs, random }),
      ).toEqual({ hold: false, reason: 'outage-limit' });
    // Only an outage is bounded so: a credit pause or the limiter still holds a batch past it, without stamping it.
    const credits = holdDecision({
      stoppedBy: 'credits',
      ownFailures: 0,
      holds: 1,
      outageSince: late,
      outageHoldMs,
      nowMs,
    });
    expect(credits).toMatchObject({ hold: true, creditHolds: 1 });
    expect(credits).not.toHaveProperty('outageSince');
    expect(
      holdDecision({ stoppedBy: 'limit', ownFailures: 0, holds: 1, outageSince: late, outageHoldMs, nowMs }),
    ).toMatchObject({
      hold: true,
    });
  });

  it("holds a batch stopped by the provider's 429 pause as any pause, within the bound", () => {
    expect(holdDecision({ stoppedBy: 'rate_limit', ownFailures: 2, holds: 0, hintMs: 12_000, random })).toEqual({
      hold: true,
      holds: 1,
      delaySeconds: 12,
    });
    expect(holdDecision({ stoppedBy: 'rate_limit', ownFailures: 0, holds: MAX_BATCH_HOLDS })).toEqual({
      hold: false,
      reason: 'hold-limit',
    });
  });

  it('holds a batch stopped by the credit pause whatever else happened, counted apart and with no bound', () => {
    // Its own calls failed too, it was held to the bound for other pauses: still held, `holds` unchanged.
    expect(
      holdDecision({
        stoppedBy: 'credits',
        ownFailures: 3,
        holds: MAX_BATCH_HOLDS,
        creditHolds: 0,
        random,
      }),
    ).toEqual({ hold: true, holds: MAX_BATCH_HOLDS, creditHolds: 1, delaySeconds: 5 });
    // No backoff however long it has waited: a top-up must not find it held for 15 minutes more.
    expect(holdDecision({ stoppedBy: 'credits', ownFailures: 0, holds: 0, creditHolds: 10_000, random })).toEqual({
      hold: true,
      holds: 0,
      creditHolds: 10_001,
      delaySeconds: 5,
    });
    // Its delay: the pause left (the next trial call), and up to half that again as jitter; at most the maximum.
    expect(
      holdDecision({ stoppedBy: 'credits', ownFailures: 0, holds: 4, creditHolds: 6, hintMs: 9_200, random }),
    ).toMatchObject({ delaySeconds: 10 });
    expect(
      holdDecision({
        stoppedBy: 'credits',
        ownFailures: 0,
        holds: 0,
        creditHolds: 6,
        hintMs: 10_000,
        random: () => 0.99,
      }),
    ).toMatchObject({ delaySeconds: 14 });
    expect(
      holdDecision({
        stoppedBy: 'credits',
        ownFailures: 0,
        holds: 0,
        hintMs: 300_000,
        maxDelaySeconds: 150,
        random,
      }),
    ).toMatchObject({ delaySeconds: 150 });
  });

  it('delays at least the cool-down left, at most the maximum (and 900 s), with bounded jitter', () => {
    expect(holdDecision({ stoppedBy: 'breaker', ownFailures: 0, holds: 0, hintMs: 29_500, random })).toMatchObject({
      delaySeconds: 30,
    });
    expect(
      holdDecision({ stoppedBy: 'limit', ownFailures: 0, holds: 30, maxDelaySeconds: 150, random: () => 0.99 }),
    ).toMatchObject({
      delaySeconds: 150,
    });
    expect(
      holdDecision({ stoppedBy: 'limit', ownFailures: 0, holds: 30, maxDelaySeconds: 5000, random }),
    ).toMatchObject({
      delaySeconds: 900,
    });
    const jittered = holdDecision({ stoppedBy: 'limit', ownFailures: 0, holds: 1, random: () => 0.99 });
    expect(jittered).toMatchObject({ delaySeconds: 11 });
  });
});
