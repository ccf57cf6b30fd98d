export interface BreakerOptions {
  /** Consecutive transient whole-call failures that open the circuit. */
  threshold: number;
  /** How long an open circuit refuses calls before it lets one trial call through. */
  coolDownMs: number;
  now?: () => number;
}

/**
 * A circuit breaker for one worker instance (module state: on AWS, one per execution environment).
 * Closed: calls go through; `threshold` transient failures in a row, with no success in between and
 * none older than the cool-down before the next, open it. Open: no call for `coolDownMs`. Then half
 * open: one trial call at a time; its success closes the circuit, its failure opens it again.
 */
export class CircuitBreaker {
  private failures = 0;
  private lastFailureAt = -Infinity;
  private openedAt: number | undefined;
  private trialInFlight = false;
  private trialEnded: Promise<void> = Promise.resolve();
  private endTrial: () => void = () => undefined;
  private readonly now: () => number;

  constructor(private readonly opts: BreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  state(): 'closed' | 'open' | 'half-open' {
    if (this.openedAt === undefined) return 'closed';
    return this.now() - this.openedAt < this.opts.coolDownMs ? 'open' : 'half-open';
  }

  /**
   * Whether a call may start: true when closed, false when open; half open, the first caller makes
   * the trial call and the others wait for its end. A caller that gets true must report how its call
   * ended (success, failure or release).
   */
  async acquire(): Promise<boolean> {
    for (;;) {
      const state = this.state();
      if (state === 'closed') return true;
      if (state === 'open') return false;
      if (!this.trialInFlight) {
        this.trialInFlight = true;
        this.trialEnded = new Promise((resolve) => (this.endTrial = resolve));
        return true;
      }
      await this.trialEnded;
    }
  }

  /** How long until an open circuit lets a trial call through (0 when it is not open). */
  reopensInMs(): number {
    if (this.openedAt === undefined) return 0;
    return Math.max(0, this.openedAt + this.opts.coolDownMs - this.now());
  }

  success(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.settleTrial();
  }

  /** A transient whole-call failure (timeout, network error, 408, 429, 5xx). */
  failure(): void {
    const now = this.now();
    if (now - this.lastFailureAt > this.opts.coolDownMs) this.failures = 0;
    this.lastFailureAt = now;
    this.failures += 1;
    if (this.openedAt !== undefined || this.failures >= this.opts.threshold) this.openedAt = now;
    this.settleTrial();
  }

  /** A call that says nothing about the API's health (a permanent answer, or cut short by the deadline). */
  release(): void {
    this.settleTrial();
  }

  private settleTrial(): void {
    if (!this.trialInFlight) return;
    this.trialInFlight = false;
    this.endTrial();
  }
}
