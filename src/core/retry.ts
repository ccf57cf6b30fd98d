/** An error from an HTTP dependency, with what the retry policy needs to know. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After we are willing to wait for. */
  maxRetryAfterMs?: number;
  /** Attempts for a call with a single contact, the bisection's last word on it; maxAttempts when unset. */
  singleContactMaxAttempts?: number;
  /** Attempts for a part of a bisected batch before it is split again; maxAttempts when unset. */
  subBatchMaxAttempts?: number;
}

/** Timeouts, network errors, 429 and 5xx are worth another try; other 4xx are not. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof HttpError) return err.status === 429 || err.status >= 500;
  return true;
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.maxAttempts || !isRetryable(err)) throw err;
      const delay = backoffDelay(attempt, policy, err);
      onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
