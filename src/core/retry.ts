import { EnrichmentError } from './errors';

/** An error from an HTTP dependency, with what the retry policy needs to know. */
export class HttpError extends EnrichmentError<'provider_http'> {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message, { kind: 'provider_http' });
    this.name = 'HttpError';
  }
}

/**
 * The provider's credits are spent (HTTP 402: People Data Labs' `payment_required`; the mock's MOCK_CREDITS). Not
 * about the contacts: with a provider gate the worker pauses every call for the credit retry interval and holds its
 * batch (src/core/enrichBatch.ts); without one it is a retryable outage (isRetryable). Either way no contact is failed
 * for it (docs/failure-handling.md: The provider gate).
 */
export class CreditsExhaustedError extends HttpError {
  readonly creditsExhausted = true;
  constructor(message = 'enrichment API credits exhausted (402)') {
    super(402, message);
    this.name = 'CreditsExhaustedError';
  }
}

export class TimeoutError extends EnrichmentError<'provider_timeout'> {
  constructor(message: string) {
    super(message, { kind: 'provider_timeout' });
    this.name = 'TimeoutError';
  }
}

export interface RetryPolicy {
  maxAttempts: number;
  /**
   * The timeout of one call when time is plenty. Under a time budget a call gets at most the time
   * left, and a call cut short that way does not count as a failed attempt. Unset: no cap of our own.
   */
  callTimeoutMs?: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After we are willing to wait for. */
  maxRetryAfterMs?: number;
  /** Attempts for a call with a single contact, the bisection's last word on it; maxAttempts when unset. */
  singleContactMaxAttempts?: number;
  /** Attempts for a part of a bisected batch before it is split again; maxAttempts when unset. */
  subBatchMaxAttempts?: number;
}

/**
 * Timeouts, network errors, 402 (credits spent: an outage of the account, not of the contacts), 408, 429 and 5xx are
 * worth another try (transient); other 4xx are not (permanent).
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof CallsStoppedError) return false;
  if (err instanceof HttpError)
    return err.status === 402 || err.status === 408 || err.status === 429 || err.status >= 500;
  return true;
}

/** A 4xx answer other than 408 and 429: the same call would get the same answer. */
export function isPermanent(err: unknown): boolean {
  return err instanceof HttpError && err.status >= 400 && err.status < 500 && !isRetryable(err);
}

/** A 402 from the provider, whichever adapter saw it (a whole call's answer, or one record's). */
export const isOutOfCredits = (err: unknown): boolean => err instanceof HttpError && err.status === 402;

/**
 * Why calls stopped: the call budget, the provider gate (open for an outage, the credits, a 429), the rate limiter,
 * the request's cancel.
 */
export type StopReason = 'budget' | 'breaker' | 'credits' | 'rate_limit' | 'limit' | 'cancelled';

const STOP_MESSAGES: Record<StopReason, string> = {
  budget: 'enrichment call budget spent',
  breaker: 'enrichment API circuit open',
  credits: "enrichment API paused: the provider's credits are spent",
  rate_limit: "enrichment API paused: the provider's rate limit",
  limit: 'no provider tokens within the time budget',
  cancelled: 'the request was cancelled',
};

/**
 * The caller stopped calling before this attempt: the batch's call budget is spent, the provider gate is open (an
 * outage, the credits, the provider's 429 pause), the shared rate limiter has no tokens within the time budget, or the
 * request was cancelled (seen before a retry or a bisection's calls).
 * `attempts` counts the attempts that really failed before it; `reopensInMs`, for a gate, how long until it may let a
 * call through.
 */
export class CallsStoppedError extends EnrichmentError<'calls_stopped'> {
  constructor(
    readonly reason: StopReason,
    readonly attempts = 0,
    readonly reopensInMs?: number,
  ) {
    super(STOP_MESSAGES[reason], { kind: 'calls_stopped' });
    this.name = 'CallsStoppedError';
  }
}

/** Capped exponential backoff with full jitter; a server's Retry-After wins when it is given. */
export function backoffDelay(attempt: number, policy: RetryPolicy, err?: unknown, random = Math.random): number {
  if (err instanceof HttpError && err.retryAfterMs !== undefined) {
    return Math.min(err.retryAfterMs, policy.maxRetryAfterMs ?? 30_000);
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * A rate limit's reset (`x-ratelimit-reset`), in milliseconds from now: People Data Labs documents it both as a UTC
 * timestamp ("2022-02-23T20:19:55Z", https://docs.peopledatalabs.com/docs/usage-limits) and, in older pages, as epoch
 * seconds (1516124358). A small number is taken as seconds from now.
 */
export function parseRateLimitReset(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, n > 1e9 ? n * 1000 - now : n * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** An HTTP answer that is not a success, as the error the retry policy reads (429's wait; 402 its own class). */
export function httpErrorFor(status: number, headers: Headers, what = 'enrichment API'): HttpError {
  if (status === 402) return new CreditsExhaustedError(`${what} answered 402: credits exhausted`);
  const retryAfterMs =
    parseRetryAfter(headers.get('retry-after')) ??
    (status === 429 ? parseRateLimitReset(headers.get('x-ratelimit-reset')) : undefined);
  return new HttpError(status, `${what} answered ${status}`, retryAfterMs);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The time left for calls and backoff sleeps (the invocation's remaining time less a reserve). */
export interface RetryBudget {
  availableMs(): number;
}

/**
 * The budget ran out before the call succeeded or used up its attempts. `attempts` counts only the
 * attempts that really failed: a call cut short by the deadline says nothing about the contacts.
 */
export class OutOfTimeError extends EnrichmentError<'out_of_time'> {
  constructor(
    readonly attempts: number,
    readonly lastError?: unknown,
  ) {
    super(`out of time after ${attempts} failed attempts`, { kind: 'out_of_time', cause: lastError });
    this.name = 'OutOfTimeError';
  }
}

export interface RetryOptions {
  /** Unbounded when unset. */
  budget?: RetryBudget;
  /** Attempts already spent on this call by an earlier invocation (its progress was kept). */
  attemptsSpent?: number;
}

/**
 * Calls `fn` until it succeeds, fails for good, or uses up `policy.maxAttempts`. `fn` gets the
 * timeout its call must keep (undefined when nothing caps it). Under a budget no call runs and no
 * backoff sleeps past the time available; then OutOfTimeError says how many attempts failed.
 */
export async function withRetry<T>(
  fn: (attempt: number, timeoutMs: number | undefined) => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
  opts: RetryOptions = {},
): Promise<T> {
  const available = () => opts.budget?.availableMs() ?? Infinity;
  const ownTimeout = policy.callTimeoutMs ?? Infinity;
  for (let attempt = (opts.attemptsSpent ?? 0) + 1; ; attempt++) {
    const left = available();
    if (left <= 0) throw new OutOfTimeError(attempt - 1);
    const timeout = Math.min(ownTimeout, left);
    try {
      return await fn(attempt, Number.isFinite(timeout) ? timeout : undefined);
    } catch (err) {
      if (err instanceof CallsStoppedError) throw new CallsStoppedError(err.reason, attempt - 1, err.reopensInMs);
      if (err instanceof TimeoutError && left < ownTimeout) throw new OutOfTimeError(attempt - 1, err);
      if (attempt >= policy.maxAttempts || !isRetryable(err)) throw err;
      const delay = backoffDelay(attempt, policy, err);
      if (delay >= available()) throw new OutOfTimeError(attempt, err);
      onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
