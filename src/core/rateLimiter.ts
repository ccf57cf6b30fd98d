import type { BucketCounter, RateLimiter, TokenBucketStore } from './ports';

/**
 * The provider's rate limits as one token bucket every worker shares (docs/failure-handling.md: Rate limits).
 *
 * Each limit (calls, contacts) is a counter on one DynamoDB item, read as a schedule: token number `k` of a counter
 * whose interval is `T` ms becomes available at time `k * T` (epoch ms). A take is ONE conditional UpdateItem,
 * `ADD calls :1, contacts :n` under `calls <= :maxCalls AND contacts <= :maxContacts` (the highest token the taker can
 * wait for within its time budget), returning the new values: the taker sleeps until its last token's time and calls.
 * No read, no read-then-write, no poll: a refusal means "not within your budget" and the batch is held.
 *
 * A counter left behind by an idle spell (the take's last token more than `burstMs` in the past) would hand out the
 * idle time as one burst: such a take is discarded and the counter raised to `now - burstMs` plus the take, in one
 * conditional UpdateItem (`SET c = :floor + :n` if `c < :floor`; the discarded tokens lie in the past, nothing is lost).
 *
 * The bound: every token granted at time g has its schedule time in [g - burstMs - n*T, g] and positions are never
 * reused, so any window of W ms grants at most rate * (W + burstMs) + maxTake tokens. The rate the counters run at
 * is therefore the limit less one take, spread over 60 s + burstMs: no 60-second window, fixed or sliding, ever
 * grants more than the provider's per-minute limit (sharded: less one take per shard).
 */

/**
 * How far behind now a counter's schedule may lag before it is raised: the limiter's burst, in time. Also what a
 * fresh (or idle) bucket hands out at once. 3 s rather than 2 s: a CPU-starved fleet that falls up to 3 s behind
 * keeps those tokens instead of losing them for good, and a short job starts with 3 s of calls; it costs 1/63 of the
 * rate (600/min runs at 570/min instead of 580/min). See docs/benchmarks-provider.md.
 */
export const BURST_MS = 3_000;
/**
 * One item takes about 1,000 writes per second; a take is one write (a refusal too). Past half of that the bucket
 * is split into shards, each with an even share of the rate.
 */
export const TAKES_PER_SECOND_PER_SHARD = 500;

export interface LimitSettings {
  /** 0 or undefined: no limit on calls. */
  callsPerMinute?: number;
  /** 0 or undefined: no limit on contacts. */
  contactsPerMinute?: number;
  /** The most contacts one call carries (BATCH_SIZE). */
  maxContactsPerCall: number;
}

export interface CounterPlan {
  name: BucketCounter;
  /** Milliseconds between two tokens of one shard. */
  intervalMs: number;
  /** The largest take: 1 call, or maxContactsPerCall contacts. */
  maxTake: number;
}

export interface LimiterPlan {
  shards: number;
  burstMs: number;
  counters: CounterPlan[];
}

/** The bucket for the limits; undefined when neither is set (no limiter). Throws when a limit is below one take per shard. */
export function planLimiter(settings: LimitSettings, burstMs = BURST_MS): LimiterPlan | undefined {
  const limits: [BucketCounter, number, number][] = [];
  if (settings.callsPerMinute) limits.push(['calls', settings.callsPerMinute, 1]);
  if (settings.contactsPerMinute) limits.push(['contacts', settings.contactsPerMinute, settings.maxContactsPerCall]);
  if (!limits.length) return undefined;
  // Takes per second at most: one per call, or (contacts only) one per contact in the worst case.
  const takesPerSecond = settings.callsPerMinute ? settings.callsPerMinute / 60 : limits[0][1] / 60;
  const shards = Math.max(1, Math.ceil(takesPerSecond / TAKES_PER_SECOND_PER_SHARD));
  const counters = limits.map(([name, perMinute, maxTake]) => {
    const usable = perMinute - shards * maxTake;
    if (usable <= 0)
      throw new RangeError(
        `a ${name} limit of ${perMinute} per minute leaves nothing once one take of ${maxTake} per shard (${shards}) is kept back`,
      );
    // tokens per ms, all shards; each shard gets 1/shards of it.
    const rate = usable / (60_000 + burstMs);
    return { name, intervalMs: shards / rate, maxTake };
  });
  return { shards, burstMs, counters };
}

/** The most tokens a plan lets through in any window of `windowMs` (all shards): what the tests assert against. */
export function grantBound(plan: LimiterPlan, counter: BucketCounter, windowMs: number): number {
  const c = plan.counters.find((x) => x.name === counter);
  if (!c) return Infinity;
  return plan.shards * (Math.floor((windowMs + plan.burstMs) / c.intervalMs) + c.maxTake);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Counter values last seen by this instance, per shard: a guess at whether the schedule is idle (saves a write). */
export type BucketSeen = Map<number, Partial<Record<BucketCounter, { value: number; at: number }>>>;

export interface TokenBucketOptions {
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Shared between the buckets one instance builds (module state); a fresh map when unset. */
  seen?: BucketSeen;
}

/** The shared bucket behind the RateLimiter port: the algorithm; `store` does the single-item conditional writes. */
export class TokenBucket implements RateLimiter {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly seen: BucketSeen;

  constructor(
    private readonly plan: LimiterPlan,
    private readonly store: TokenBucketStore,
    opts: TokenBucketOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? sleep;
    this.seen = opts.seen ?? new Map();
  }

  async take(contacts: number, maxWaitMs: number): Promise<boolean> {
    const amounts = this.amounts(contacts);
    for (const shard of this.shardOrder()) {
      const granted = await this.takeFrom(shard, amounts, maxWaitMs);
      if (granted === undefined) continue;
      const wait = granted - this.now();
      if (wait > 0) await this.sleep(wait);
      return true;
    }
    return false;
  }

  async pause(untilMs: number): Promise<void> {
    // Every counter of every shard moves forward to `untilMs` (never back): the next takes, anywhere, land after it.
    await Promise.all(
      this.shards().flatMap((shard) =>
        this.plan.counters.map((c) => {
          const at = Math.ceil(untilMs / c.intervalMs);
          return this.store.raise(shard, { [c.name]: { below: at, to: at } });
        }),
      ),
    );
  }

  /** The time the take's tokens are there (epoch ms), or undefined when not within maxWaitMs on this shard. */
  private async takeFrom(
    shard: number,
    amounts: Partial<Record<BucketCounter, number>>,
    maxWaitMs: number,
  ): Promise<number | undefined> {
    // One clock reading for the whole take. A raise lost to another worker's means the counter already stood at or
    // past this floor, so the next add is fresh against it; a floor read anew after a slow round trip (seconds on a
    // CPU-starved stack) would find it stale again, raise past the other worker's raise (discarding the tokens in
    // between) and, three times over, refuse a take the bucket had tokens for (the batch held for 5 s or more).
    const now = this.now();
    const floor = this.floors(now);
    for (let attempt = 0; attempt < 3; attempt++) {
      // An idle schedule (as this instance last saw it): raise it straight away, one write instead of two.
      if (attempt === 0 && this.looksIdle(shard, now)) {
        const raised = this.raiseTo(floor, amounts);
        if (await this.store.raise(shard, raised.targets)) return this.note(shard, raised.values, now);
      }
      const max: Partial<Record<BucketCounter, number>> = {};
      const horizon = now + Math.max(0, maxWaitMs);
      for (const c of this.plan.counters) max[c.name] = Math.floor(horizon / c.intervalMs);
      const values = await this.store.add(shard, amounts, max);
      if (!values) return undefined;
      const stale = this.plan.counters.filter((c) => (values[c.name] ?? 0) < floor[c.name]!);
      if (!stale.length) return this.note(shard, values, now);
      // Behind by more than the burst: those tokens are discarded, the stale counters raised with the take on top.
      const raised = this.raiseTo(floor, amounts, stale);
      if (await this.store.raise(shard, raised.targets)) return this.note(shard, { ...values, ...raised.values }, now);
      // Another worker raised it to this floor or past it meanwhile: the next add is fresh against it.
    }
    return undefined;
  }

  private raiseTo(
    floor: Partial<Record<BucketCounter, number>>,
    amounts: Partial<Record<BucketCounter, number>>,
    counters = this.plan.counters,
  ) {
    const targets: Partial<Record<BucketCounter, { below: number; to: number }>> = {};
    const values: Partial<Record<BucketCounter, number>> = {};
    for (const c of counters) {
      const to = floor[c.name]! + (amounts[c.name] ?? 0);
      targets[c.name] = { below: floor[c.name]!, to };
      values[c.name] = to;
    }
    return { targets, values };
  }

  /** The schedule position `burstMs` ago, per counter: a counter below it has idle tokens that must not pile up. */
  private floors(now: number): Partial<Record<BucketCounter, number>> {
    const floor: Partial<Record<BucketCounter, number>> = {};
    for (const c of this.plan.counters) floor[c.name] = Math.ceil((now - this.plan.burstMs) / c.intervalMs);
    return floor;
  }

  private looksIdle(shard: number, now: number): boolean {
    const seen = this.seen.get(shard);
    if (!seen) return false;
    return this.plan.counters.every((c) => {
      const s = seen[c.name];
      // Last seen more than a burst ago and its schedule was then already at most "now": surely behind the floor now.
      return s !== undefined && now - s.at > 2 * this.plan.burstMs && s.value * c.intervalMs <= s.at;
    });
  }

  /** Remembers the values and returns when the take's tokens are there: its last token's time, the latest counter. */
  private note(shard: number, values: Partial<Record<BucketCounter, number>>, now: number): number {
    const seen = this.seen.get(shard) ?? {};
    let at = now;
    for (const c of this.plan.counters) {
      const value = values[c.name] ?? 0;
      seen[c.name] = { value, at: now };
      at = Math.max(at, value * c.intervalMs);
    }
    this.seen.set(shard, seen);
    return at;
  }

  private amounts(contacts: number): Partial<Record<BucketCounter, number>> {
    const amounts: Partial<Record<BucketCounter, number>> = {};
    for (const c of this.plan.counters) amounts[c.name] = c.name === 'calls' ? 1 : contacts;
    return amounts;
  }

  private shards(): number[] {
    return Array.from({ length: this.plan.shards }, (_, i) => i);
  }

  /** A random shard first, then the others in order: a refusal on one tries the next. */
  private shardOrder(): number[] {
    const n = this.plan.shards;
    const first = Math.floor(this.random() * n);
    return Array.from({ length: n }, (_, i) => (first + i) % n);
  }
}
