import type { GatePass, GateState, Logger, PauseReason, ProviderGate, ProviderGateStore } from './ports';

/**
 * The provider gate (docs/failure-handling.md: The provider gate): the fleet-wide circuit breaker, the provider's 429
 * pause and the credit pause, on one shared item (ProviderGateStore, `provider#gate` in the status table).
 *
 * - Healthy: no write at all. Each instance reads the item at most once per `readIntervalMs` (eventually consistent),
 *   and not at all while the pause it last saw is still running (a pause only ever moves forward, and only a trial
 *   after its end can close it).
 * - Opening: this instance's own count of transient failures in a row (each within the cool-down of the one before)
 *   reaching `threshold`, a 429 (until its Retry-After) or a 402 (for `creditRetryMs`) opens the gate for everyone
 *   with one conditional write that only moves `openUntil` forward. A count made of one batch's calls alone opens it
 *   for this instance only (as the per-instance breaker did): a batch of contacts the provider always rejects looks
 *   like an outage from inside, but must neither pause the fleet nor escape the dead-letter queue, so a batch refused
 *   by a pause its own calls caused is told so (`own`) and handed back rather than held. An outage fails the calls of
 *   every batch, so the count soon spans two.
 * - Half open (`openUntil` passed, for an outage or the credits): one caller in the whole fleet claims the trial with a
 *   conditional write of its lease (`leaseMs`: a call's timeout and a margin); the others are refused (the lease left
 *   is their hint); callers in the claimer's own instance wait for its end instead. The trial's success or a
 *   permanent answer closes the gate; its failure, 429 or 402 opens it again. A rate-limit pause needs no trial.
 * - The store failing (a read or a write) loses nothing: the instance goes on from what it last saw and its own
 *   writes, which is the per-instance breaker the service had before (its own count opens it for itself, half open it
 *   makes its own trial). The failure is logged.
 *
 * Without a store the gate is exactly that per-instance breaker.
 */
export interface GateOptions {
  /** Transient whole-call failures in a row (ENRICHMENT_BREAKER_THRESHOLD) that open the gate. */
  threshold: number;
  /** How long an outage keeps it open before a trial (ENRICHMENT_BREAKER_COOLDOWN_MS). */
  coolDownMs: number;
  /** How long a 402 keeps it open before a trial (PROVIDER_CREDIT_RETRY_SECONDS); the cool-down when unset. */
  creditRetryMs?: number;
  /** How long a trial's claim keeps others from another trial; the call timeout and a margin. 30 s when unset. */
  leaseMs?: number;
  /** The shared item; none: this instance alone. */
  store?: ProviderGateStore;
  /** The longest a healthy instance goes on what it last read. */
  readIntervalMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: Logger;
}

/** A healthy instance reads the gate item at most this often. */
export const GATE_READ_INTERVAL_MS = 2_000;
/** A trial's lease beyond its call's timeout: time for the claim's and the close's writes and the limiter's take. */
export const TRIAL_LEASE_MARGIN_MS = 5_000;
/** The shortest pause a 429 sets (a Retry-After of 0, or none): one second, so a provider that keeps answering 429 is
 * never called in a tight loop. */
export const MIN_RATE_LIMIT_PAUSE_MS = 1_000;

const CLOSED: GateState = {};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether the state lets calls through (no pause, or a rate-limit pause that has run out). */
export function isClosed(state: GateState, now: number): boolean {
  return state.openUntil === undefined || (state.reason === 'rate_limit' && state.openUntil <= now);
}

export type WaitingFor = 'provider_credits' | 'provider_outage' | 'provider_rate_limit';

const WAITING_FOR: Record<PauseReason, WaitingFor> = {
  credits: 'provider_credits',
  outage: 'provider_outage',
  rate_limit: 'provider_rate_limit',
};

/** What a request in processing is waiting for while the gate is not closed (the status's `waitingFor`). */
export function gateWaiting(
  state: GateState | undefined,
  now: number,
): { waitingFor: WaitingFor; waitingSince: string } | undefined {
  if (!state || isClosed(state, now)) return undefined;
  const since = state.since ?? state.updatedAt;
  return {
    waitingFor: WAITING_FOR[state.reason ?? 'outage'],
    waitingSince: new Date(since ?? now).toISOString(),
  };
}

/**
 * What a processing request waits for, read from the gate's item (one eventually consistent GetItem). A read that
 * fails shows nothing (it is logged): the status answers anyway.
 */
export async function readWaiting(
  store: ProviderGateStore | undefined,
  now: number,
  log?: Logger,
): Promise<ReturnType<typeof gateWaiting>> {
  if (!store) return undefined;
  try {
    return gateWaiting(await store.read(), now);
  } catch (err) {
    log?.warn('provider gate: reading it for the status failed', { err });
    return undefined;
  }
}

export class FleetGate implements ProviderGate {
  private failures = 0;
  private lastFailureAt = -Infinity;
  /** The batches the failures in a row came from (a call without a key counts as a batch of its own). */
  private streak = new Set<string | undefined>();
  /** A pause of this instance alone, and the batch whose failures caused it. */
  private local: { openUntil: number; openedBy: Set<string | undefined> } | undefined;
  /** The shared state as this instance last saw (or wrote) it, and when it was read. */
  private view: { state: GateState; readAt: number } | undefined;
  private reading: Promise<void> | undefined;
  /** The trial this instance holds (or is claiming): the lease's end, and its end for callers that wait on it. */
  private trial: { until: number; ended: Promise<void>; end: () => void; local: boolean } | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly leaseMs: number;
  private readonly readIntervalMs: number;

  constructor(private readonly opts: GateOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? sleep;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.readIntervalMs = opts.readIntervalMs ?? GATE_READ_INTERVAL_MS;
  }

  /** The state this instance goes on (no read): for logs and tests. */
  state(): 'closed' | 'open' | 'half-open' {
    const s = this.view?.state ?? CLOSED;
    const now = this.now();
    if (isClosed(s, now)) {
      if (!this.local) return 'closed';
      return this.local.openUntil > now ? 'open' : 'half-open';
    }
    return s.openUntil! > now ? 'open' : 'half-open';
  }

  async acquire(maxWaitMs = 0, key?: string): Promise<GatePass> {
    const waitUntil = this.now() + Math.max(0, maxWaitMs);
    let pausedMs = 0;
    const paused = () => (pausedMs > 0 ? { pausedMs } : {});
    for (;;) {
      // A trial of this instance's own is under way: wait for its end, then look again (no call, no read meanwhile).
      if (this.trial) {
        await this.trial.ended;
        continue;
      }
      const state = await this.current();
      if (this.trial) continue;
      const now = this.now();
      if (isClosed(state, now)) {
        const local = this.local;
        if (!local) return { allowed: true, trial: false, key, ...paused() };
        if (local.openUntil > now) {
          const own = key !== undefined && local.openedBy.has(key);
          return { allowed: false, reason: 'outage', reopensInMs: local.openUntil - now, ...(own ? { own } : {}) };
        }
        // This instance's own pause is over: one trial, here only.
        this.beginTrial(now + this.leaseMs, true);
        return { allowed: true, trial: true, key, ...paused() };
      }
      const reason = state.reason ?? 'outage';
      const openUntil = state.openUntil!;
      if (openUntil > now) {
        if (reason === 'rate_limit' && openUntil <= waitUntil) {
          await this.sleep(openUntil - now);
          pausedMs += openUntil - now;
          continue;
        }
        return { allowed: false, reason, reopensInMs: openUntil - now };
      }
      if (state.trialUntil !== undefined && state.trialUntil > now)
        return { allowed: false, reason, reopensInMs: state.trialUntil - now };
      // Half open and no live lease: this caller claims the fleet's one trial.
      const trial = this.beginTrial(now + this.leaseMs);
      let won = true;
      let fleet = false;
      if (this.opts.store) {
        try {
          won = await this.opts.store.claimTrial(now, trial.until);
          fleet = won;
        } catch (err) {
          // Unknown: this instance makes its own trial, as its own breaker would.
          this.warn('provider gate: the trial claim failed; this instance makes its own trial', err);
        }
      }
      if (!won) {
        // Another instance has the trial (or the gate moved): refused; the next caller reads the item again.
        this.view = { state, readAt: -Infinity };
        this.endTrial();
        return { allowed: false, reason, reopensInMs: this.leaseMs };
      }
      this.view = { state: { ...state, trialUntil: trial.until }, readAt: this.view?.readAt ?? now };
      return { allowed: true, trial: true, key, ...(fleet ? { fleet } : {}), ...paused() };
    }
  }

  async success(pass?: GatePass): Promise<void> {
    this.failures = 0;
    this.streak.clear();
    if (isTrial(pass)) await this.closeTrial();
  }

  async answered(pass?: GatePass): Promise<void> {
    if (isTrial(pass)) await this.closeTrial();
  }

  async failure(pass?: GatePass): Promise<number | undefined> {
    const now = this.now();
    if (now - this.lastFailureAt > this.opts.coolDownMs) {
      this.failures = 0;
      this.streak.clear();
    }
    this.lastFailureAt = now;
    this.failures += 1;
    this.streak.add(pass?.allowed ? pass.key : undefined);
    const trial = isTrial(pass);
    const fleetTrial = trial && !this.trial?.local;
    let reopensInMs: number | undefined;
    if (trial || this.failures >= this.opts.threshold) {
      // The fleet's pause goes on after its own trial fails; failures of two batches or more open it for everyone;
      // one batch's failures alone pause this instance only.
      if (this.opts.store && (fleetTrial || this.streak.size >= 2)) {
        this.local = undefined;
        reopensInMs = await this.open('outage', now + this.opts.coolDownMs);
      } else {
        const until = now + this.opts.coolDownMs;
        if (!this.local || until > this.local.openUntil)
          this.local = { openUntil: until, openedBy: new Set(this.streak) };
        reopensInMs = this.local.openUntil - now;
      }
    }
    if (trial) this.endTrial();
    return reopensInMs;
  }

  async rateLimited(pauseMs: number, pass?: GatePass): Promise<number> {
    const reopensInMs = await this.open('rate_limit', this.now() + Math.max(pauseMs, MIN_RATE_LIMIT_PAUSE_MS));
    if (isTrial(pass)) this.endTrial();
    return reopensInMs;
  }

  async outOfCredits(pass?: GatePass): Promise<number> {
    const reopensInMs = await this.open('credits', this.now() + (this.opts.creditRetryMs ?? this.opts.coolDownMs));
    if (isTrial(pass)) this.endTrial();
    return reopensInMs;
  }

  async release(pass?: GatePass): Promise<void> {
    const trial = this.trial;
    if (!isTrial(pass) || !trial) return;
    if (trial.local) return this.endTrial();
    // The lease goes first, so that the callers waiting on this trial may claim the next one at once.
    await this.opts.store?.endTrial(trial.until).catch((err) => this.warn('provider gate: ending a trial failed', err));
    if (this.view) this.view = { ...this.view, state: { ...this.view.state, trialUntil: undefined } };
    this.endTrial();
  }

  /** The shared state: what this instance last saw while it is fresh or its pause still runs, else read again. */
  private async current(): Promise<GateState> {
    const now = this.now();
    const v = this.view;
    const fresh = v && (now - v.readAt < this.readIntervalMs || (v.state.openUntil ?? -Infinity) > now);
    if (!this.opts.store || fresh) return v?.state ?? CLOSED;
    // One read at a time per instance: the callers that arrive meanwhile share it.
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    await this.reading;
    return this.view?.state ?? CLOSED;
  }

  private async read(): Promise<void> {
    const at = this.now();
    try {
      this.view = { state: await this.opts.store!.read(), readAt: at };
    } catch (err) {
      // Unknown: go on with what this instance last saw (its own breaker), and try again after the interval.
      this.warn('provider gate: reading the gate failed; this instance goes on with what it last saw', err);
      this.view = { state: this.view?.state ?? CLOSED, readAt: at };
    }
  }

  /** Opens the gate until `until` (forward only): at once for this instance, then for the fleet. The time left. */
  private async open(reason: PauseReason, until: number): Promise<number> {
    const now = this.now();
    const seen = this.view?.state ?? CLOSED;
    if (seen.openUntil === undefined || until > seen.openUntil) {
      const since = isClosed(seen, now) ? now : (seen.since ?? now);
      this.view = { state: { openUntil: until, reason, since, updatedAt: now }, readAt: now };
      try {
        await this.opts.store?.open(reason, until, now);
      } catch (err) {
        this.warn('provider gate: opening the gate failed; this instance pauses on its own', err, { reason });
      }
    }
    return Math.max(0, this.view!.state.openUntil! - now);
  }

  private async closeTrial(): Promise<void> {
    const trial = this.trial;
    if (!trial) return;
    if (trial.local) {
      this.local = undefined;
      return this.endTrial();
    }
    const now = this.now();
    let closed = true;
    try {
      if (this.opts.store) closed = await this.opts.store.close(trial.until, now);
    } catch (err) {
      this.warn('provider gate: closing the gate failed; this instance goes on as closed', err);
    }
    // Not closed: someone opened it again since the claim; the next caller reads what they wrote.
    this.view = closed ? { state: CLOSED, readAt: now } : { state: this.view?.state ?? CLOSED, readAt: -Infinity };
    this.endTrial();
  }

  private beginTrial(until: number, local = false) {
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (end = resolve));
    this.trial = { until, ended, end, local };
    return this.trial;
  }

  private endTrial(): void {
    const trial = this.trial;
    this.trial = undefined;
    trial?.end();
  }

  private warn(msg: string, err: unknown, fields: Record<string, unknown> = {}): void {
    this.opts.log?.warn(msg, { ...fields, err });
  }
}

const isTrial = (pass: GatePass | undefined): boolean => !!pass && pass.allowed && pass.trial;
