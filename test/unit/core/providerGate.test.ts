import { gateWaiting, GATE_READ_INTERVAL_MS, type GateOptions } from '../../../src/core/providerGate';
import type { GatePass } from '../../../src/core/ports';
import { manualClockGate, MemoryGateStore } from '../../support/fakes';

const TRIAL: GatePass = { allowed: true, trial: true };
/** The fleet's one trial, claimed on the shared item. */
const FLEET_TRIAL: GatePass = { allowed: true, trial: true, fleet: true };

/** Lets the store's calls (each a turn of the event loop) run their course: a few turns, no timer. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/** A gate on a manual clock (threshold 3, cool-down 1 s unless given). */
function gate(opts: Partial<GateOptions> = {}, clock = { now: 0 }) {
  const { gate: g } = manualClockGate({ threshold: 3, coolDownMs: 1_000, ...opts }, clock);
  return { clock, g };
}

// The per-instance circuit breaker the gate replaces (src/core/circuitBreaker.ts), with no store: the same behaviour.
describe('FleetGate without a store: the per-instance circuit breaker', () => {
  it('opens after `threshold` failures in a row, and a success in between starts the count again', async () => {
    const { g } = gate({ threshold: 3 });
    await g.failure();
    await g.failure();
    await g.success();
    await g.failure();
    await g.failure();
    expect(g.state()).toBe('closed');
    expect(await g.acquire()).toEqual({ allowed: true, trial: false });
    await g.failure();
    expect(g.state()).toBe('open');
    expect(await g.acquire()).toEqual({ allowed: false, reason: 'outage', reopensInMs: 1_000 });
  });

  it('forgets a failure older than the cool-down: failures spread over a long time do not open it', async () => {
    const { g, clock } = gate({ threshold: 3, coolDownMs: 1_000 });
    await g.failure();
    await g.failure();
    clock.now += 1_001;
    await g.failure();
    expect(g.state()).toBe('closed');
  });

  it('permanent answers and calls cut short say nothing: release and answered neither open nor close it', async () => {
    const { g } = gate({ threshold: 2 });
    await g.failure();
    await g.release();
    await g.answered();
    await g.failure();
    expect(g.state()).toBe('open');
  });

  it('after the cool-down lets one trial call through; the others wait for it; its success closes the circuit', async () => {
    const { g, clock } = gate({ threshold: 1, coolDownMs: 1_000 });
    await g.failure();
    clock.now += 999;
    expect((await g.acquire()).allowed).toBe(false);
    clock.now += 1;
    expect(g.state()).toBe('half-open');
    const trial = await g.acquire();
    expect(trial).toEqual(TRIAL);
    let second: GatePass | undefined;
    const waiting = g.acquire().then((v) => (second = v));
    await settle();
    expect(second).toBeUndefined();
    await g.success(trial);
    await waiting;
    expect(second).toEqual({ allowed: true, trial: false });
    expect(g.state()).toBe('closed');
  });

  it('a failed trial opens it again for a whole cool-down, and the waiting callers are refused', async () => {
    const { g, clock } = gate({ threshold: 1, coolDownMs: 1_000 });
    await g.failure();
    clock.now += 1_000;
    const trial = await g.acquire();
    expect(trial).toEqual(TRIAL);
    const waiting = g.acquire();
    expect(await g.failure(trial)).toBe(1_000);
    expect(await waiting).toEqual({ allowed: false, reason: 'outage', reopensInMs: 1_000 });
    expect(g.state()).toBe('open');
    clock.now += 999;
    expect((await g.acquire()).allowed).toBe(false);
  });
});

describe('FleetGate on a shared store: the fleet-wide gate', () => {
  it('makes no write on the healthy path, and reads at most once per interval however many calls', async () => {
    const store = new MemoryGateStore();
    const clock = { now: 0 };
    const instances = [gate({ store }, clock).g, gate({ store }, clock).g];
    // 10 s of calls, 20 per 100 ms on each of two instances, all at once within each tick.
    for (let tick = 0; tick < 100; tick++) {
      await Promise.all(
        instances.flatMap((g) =>
          Array.from({ length: 20 }, async () => {
            const pass = await g.acquire();
            expect(pass).toEqual({ allowed: true, trial: false });
            await g.success(pass);
          }),
        ),
      );
      clock.now += 100;
    }
    expect(store.writes).toBe(0);
    // Each instance reads at its first call and then once per interval: 10 s / 2 s, and the first.
    expect(store.calls.read).toBeLessThanOrEqual(2 * (10_000 / GATE_READ_INTERVAL_MS + 1));
  });

  it("one instance's failures (of two batches or more) open it for every instance, which then make no read while the pause runs", async () => {
    const store = new MemoryGateStore();
    const clock = { now: 0 };
    const a = gate({ store, threshold: 3, coolDownMs: 30_000 }, clock).g;
    const b = gate({ store, threshold: 3, coolDownMs: 30_000 }, clock).g;
    expect((await b.acquire()).allowed).toBe(true); // b has read the gate closed
    for (const key of ['r#0', 'r#1', 'r#0']) await a.failure(await a.acquire(0, key));
    expect(store.item).toMatchObject({ openUntil: 30_000, reason: 'outage', since: 0 });
    expect(store.calls.open).toBe(1);
    // b goes on what it read for the interval, then reads the pause, and after that makes no read until it ends.
    clock.now += GATE_READ_INTERVAL_MS;
    expect(await b.acquire()).toEqual({ allowed: false, reason: 'outage', reopensInMs: 28_000 });
    const reads = store.calls.read;
    for (let i = 0; i < 50; i++) {
      clock.now += 500;
      expect((await b.acquire()).allowed).toBe(false);
    }
    expect(store.calls.read).toBe(reads);
  });

  it('half open, exactly one trial for the whole fleet: many instances, many callers each, one call', async () => {
    const store = new MemoryGateStore();
    const clock = { now: 0 };
    const fleet = Array.from({ length: 5 }, () => gate({ store, leaseMs: 15_000 }, clock).g);
    await store.open('outage', 1_000, 0);
    clock.now = 1_000;
    const passes: (GatePass | undefined)[] = Array.from({ length: 50 }, () => undefined);
    const asked = fleet.flatMap((g, i) =>
      Array.from({ length: 10 }, (_, j) =>
        g.acquire().then((pass) => {
          passes[i * 10 + j] = pass;
          return pass;
        }),
      ),
    );
    // Every instance but the trial's answers at once: refused, the lease left as the hint.
    await settle();
    const trials = passes.filter((p) => p?.allowed);
    expect(trials).toEqual([FLEET_TRIAL]);
    const refused = passes.filter((p) => p && !p.allowed);
    expect(refused).toHaveLength(40);
    expect(new Set(refused.map((p) => JSON.stringify(p)))).toEqual(
      new Set([JSON.stringify({ allowed: false, reason: 'outage', reopensInMs: 15_000 })]),
    );
    expect(store.calls.claimTrial).toBeLessThanOrEqual(5); // one claim per instance at most
    // The trial's own instance waits for it: its success closes the gate and lets its nine other callers through.
    const winner = Math.floor(passes.findIndex((p) => p?.allowed) / 10);
    expect(passes.slice(winner * 10, winner * 10 + 10).filter((p) => p === undefined)).toHaveLength(9);
    await fleet[winner].success(trials[0]);
    const all = await Promise.all(asked);
    expect(all.slice(winner * 10, winner * 10 + 10).filter((p) => p.allowed)).toHaveLength(10);
    expect(store.item.openUntil).toBeUndefined();
    expect(store.item.reason).toBeUndefined();
    // The others see it closed at their next read.
    clock.now += GATE_READ_INTERVAL_MS;
    for (const g of fleet) expect(await g.acquire()).toEqual({ allowed: true, trial: false });
  });

  it("one batch's failures alone pause only this instance: no write; that batch is told it is its own doing", async () => {
    const store = new MemoryGateStore();
    const clock = { now: 0 };
    const a = gate({ store, threshold: 3, coolDownMs: 30_000 }, clock).g;
    const b = gate({ store, threshold: 3, coolDownMs: 30_000 }, clock).g;
    for (let i = 0; i < 3; i++) await a.failure(await a.acquire(0, 'poison#0'));
    expect(store.writes).toBe(0);
    expect(a.state()).toBe('open');
    expect(await a.acquire(0, 'poison#0')).toEqual({
      allowed: false,
      reason: 'outage',
      reopensInMs: 30_000,
      own: true,
    });
    expect(await a.acquire(0, 'healthy#3')).toEqual({ allowed: false, reason: 'outage', reopensInMs: 30_000 });
    expect(await b.acquire(0, 'healthy#4')).toMatchObject({ allowed: true });
    // Its pause over, this instance makes its own trial (no claim on the item); a failure of another batch in the
    // same run of failures makes it an outage: then the fleet's gate opens.
    clock.now += 30_000;
    const trial = await a.acquire(0, 'healthy#3');
    expect(trial).toEqual({ allowed: true, trial: true, key: 'healthy#3' });
    expect(store.calls.claimTrial).toBe(0);
    expect(await a.failure(trial)).toBe(30_000);
    expect(store.item).toMatchObject({ reason: 'outage', openUntil: 60_000 });
    clock.now += GATE_READ_INTERVAL_MS;
    expect(await b.acquire(0, 'healthy#4')).toMatchObject({ allowed: false, reason: 'outage' });
  });

  it('a trial that never reports ends with its lease: another instance may claim the next one', async () => {
    const store = new MemoryGateStore();
    const clock = { now: 0 };
    const a = gate({ store, leaseMs: 15_000 }, clock).g;
    const b = gate({ store, leaseMs: 15_000 }, clock).g;
    await store.open('outage', 1_000, 0);
    clock.now = 1_000;
    expect(await a.acquire()).toEqual(FLEET_TRIAL); // a's instance then dies
    clock.now += 14_999;
    expect((await b.acquire()).allowed).toBe(false);
    clock.now += 1;
    expect(await b.acquire()).toEqual(FLEET_TRIAL);
  });

  it('opens only forward: an earlier or equal end changes nothing, and an extended pause keeps its start', async () => {
    const store = new MemoryGateStore();
    expect(await store.open('credits', 300_000, 0)).toBe(true);
    expect(await store.open('rate_limit', 60_000, 1_000)).toBe(false);
    expect(await store.open('outage', 300_000, 2_000)).toBe(false);
    expect(store.item).toMatchObject({ openUntil: 300_000, reason: 'credits', since: 0 });
    expect(await store.open('outage', 400_000, 3_000)).toBe(true);
    expect(store.item).toMatchObject({ openUntil: 400_000, reason: 'outage', since: 0 });

    // Through the gate: a 429 asking for less than the credit pause left neither shortens it nor changes its reason.
    const clock = { now: 10_000 };
    const g = gate({ store, creditRetryMs: 300_000 }, clock).g;
    expect((await g.acquire()).allowed).toBe(false);
    expect(await g.rateLimited(10_000)).toBe(390_000);
    expect(store.item).toMatchObject({ openUntil: 400_000, reason: 'outage', since: 0 });
  });

  it('a 402 opens it for the credit retry interval, for the credits; a trial 402 reopens it, a trial success closes it', async () => {
    const store = new MemoryGateStore();
    const clock = { now: 5_000 };
    const opts = { store, coolDownMs: 1_000, creditRetryMs: 300_000, leaseMs: 15_000 };
    const a = gate(opts, clock).g;
    const b = gate(opts, clock).g;
    expect(await a.outOfCredits()).toBe(300_000);
    expect(store.item).toMatchObject({ openUntil: 305_000, reason: 'credits', since: 5_000 });
    expect(await b.acquire()).toEqual({ allowed: false, reason: 'credits', reopensInMs: 300_000 });
    expect(gateWaiting(store.item, clock.now)).toEqual({
      waitingFor: 'provider_credits',
      waitingSince: new Date(5_000).toISOString(),
    });
    // Once the interval is over: one trial; its 402 reopens for another interval, the pause's start kept.
    clock.now = 305_000;
    const trial = await b.acquire();
    expect(trial).toEqual(FLEET_TRIAL);
    expect((await a.acquire()).allowed).toBe(false);
    expect(await b.outOfCredits(trial)).toBe(300_000);
    expect(store.item).toMatchObject({ openUntil: 605_000, reason: 'credits', since: 5_000 });
    expect(store.item.trialUntil).toBeUndefined();
    // Topped up: the next trial succeeds and closes the gate for everyone.
    clock.now = 605_000;
    const next = await a.acquire();
    expect(next).toEqual(FLEET_TRIAL);
    await a.success(next);
    expect(store.item).toEqual({ updatedAt: 605_000 });
    expect(gateWaiting(store.item, clock.now)).toBeUndefined();
    clock.now += GATE_READ_INTERVAL_MS;
    expect(await b.acquire()).toEqual({ allowed: true, trial: false });
  });

  it('a trial that fails transiently reopens it for the cool-down; a permanent answer closes it', async () => {
    const store = new MemoryGateStore();
    const clock = { now: 0 };
    const g = gate({ store, coolDownMs: 30_000 }, clock).g;
    await store.open('outage', 1_000, 0);
    clock.now = 1_000;
    const trial = await g.acquire();
    expect(await g.failure(trial)).toBe(30_000);
    expect(store.item).toMatchObject({ openUntil: 31_000, reason: 'outage', since: 0 });
    clock.now = 31_000;
    const next = await g.acquire();
    expect(next).toEqual(FLEET_TRIAL);
    await g.answered(next);
    expect(store.item.openUntil).toBeUndefined();
  });

  it('a 429 pause: waited out when it ends within the wait allowed, refused when not; over, it is closed with no trial', async () => {
    const store = new MemoryGateStore();
    const clock = { now: 0 };
    const a = gate({ store }, clock).g;
    const b = gate({ store }, clock).g;
    expect(await a.rateLimited(3_000)).toBe(3_000);
    expect(store.item).toMatchObject({ openUntil: 3_000, reason: 'rate_limit' });
    expect(await b.acquire(1_000)).toEqual({ allowed: false, reason: 'rate_limit', reopensInMs: 3_000 });
    expect(await b.acquire(5_000)).toEqual({ allowed: true, trial: false, pausedMs: 3_000 }); // the pause it waited out
    expect(clock.now).toBe(3_000);
    expect(store.calls.claimTrial).toBe(0);
    // A 429 with no Retry-After (or 0) still pauses a second, so a provider that keeps answering 429 is not hammered.
    expect(await a.rateLimited(0)).toBe(1_000);
    expect(gateWaiting(store.item, clock.now)).toMatchObject({ waitingFor: 'provider_rate_limit' });
    clock.now += 1_000;
    expect(gateWaiting(store.item, clock.now)).toBeUndefined();
    // A later pause starts a new episode: its own start.
    await a.rateLimited(2_000);
    expect(store.item).toMatchObject({ since: clock.now });
  });

  it('a store that fails loses nothing: the instance falls back to its own breaker, and says so in the log', async () => {
    const store = new MemoryGateStore();
    const warnings: string[] = [];
    const log = {
      debug: () => undefined,
      info: () => undefined,
      warn: (msg: string) => warnings.push(msg),
      error: () => undefined,
      child: () => log,
    };
    const clock = { now: 0 };
    const g = gate({ store, threshold: 2, coolDownMs: 1_000, log }, clock).g;
    store.failing = true;
    // Unknown state: calls go on (as the breaker, closed); its own failures still open it, for itself.
    expect(await g.acquire()).toEqual({ allowed: true, trial: false });
    await g.failure(await g.acquire(0, 'r#0'));
    await g.failure(await g.acquire(0, 'r#1'));
    expect(await g.acquire()).toEqual({ allowed: false, reason: 'outage', reopensInMs: 1_000 });
    // Half open with the store still down: this instance makes its own trial, which closes it.
    clock.now = 1_000 + GATE_READ_INTERVAL_MS;
    const trial = await g.acquire();
    expect(trial).toEqual(TRIAL);
    await g.success(trial);
    expect(g.state()).toBe('closed');
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/reading the gate failed/),
        expect.stringMatching(/opening the gate failed/),
        expect.stringMatching(/trial claim failed/),
        expect.stringMatching(/closing the gate failed/),
      ]),
    );
  });
});
