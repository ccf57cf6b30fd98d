import {
  backoffDelay,
  HttpError,
  isRetryable,
  OutOfTimeError,
  parseRetryAfter,
  TimeoutError,
  withRetry,
  type RetryBudget,
  type RetryPolicy,
} from '../../../src/core/retry';

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 };

describe('isRetryable', () => {
  it.each([429, 500, 502, 503, 504, 599])('retries HTTP %i', (status) => {
    expect(isRetryable(new HttpError(status, 'x'))).toBe(true);
  });
  it.each([400, 401, 403, 404, 409, 413, 422])('does not retry HTTP %i', (status) => {
    expect(isRetryable(new HttpError(status, 'x'))).toBe(false);
  });
  it('retries timeouts and network errors', () => {
    expect(isRetryable(new TimeoutError('slow'))).toBe(true);
    expect(isRetryable(new TypeError('fetch failed'))).toBe(true);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially from the base, with full jitter from the injected random', () => {
    expect(backoffDelay(1, policy, undefined, () => 0.5)).toBe(50);
    expect(backoffDelay(2, policy, undefined, () => 0.5)).toBe(100);
    expect(backoffDelay(3, policy, undefined, () => 0.5)).toBe(200);
    expect(backoffDelay(3, policy, undefined, () => 0)).toBe(0);
  });

  it('is capped at maxDelayMs', () => {
    expect(backoffDelay(5, policy, undefined, () => 0.5)).toBe(500); // ceiling min(1000, 1600)
    expect(backoffDelay(30, policy, undefined, () => 0.5)).toBe(500);
  });

  it('stays within [0, ceiling) for any random value', () => {
    const ceilings = [100, 200, 400, 800, 1000, 1000];
    for (const [i, ceiling] of ceilings.entries()) {
      for (const r of [0, 0.001, 0.25, 0.75, 0.999999]) {
        const d = backoffDelay(i + 1, policy, undefined, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
        expect(Number.isInteger(d)).toBe(true);
      }
    }
  });

  it('uses a server Retry-After instead of the backoff', () => {
    expect(backoffDelay(1, policy, new HttpError(429, 'slow down', 3_000), () => 0)).toBe(3_000);
    expect(backoffDelay(1, policy, new HttpError(503, 'x', 0), () => 0.9)).toBe(0);
  });

  it('caps Retry-After at maxRetryAfterMs, 30 s by default', () => {
    expect(backoffDelay(1, { ...policy, maxRetryAfterMs: 10_000 }, new HttpError(429, 'x', 60_000))).toBe(10_000);
    expect(backoffDelay(1, policy, new HttpError(429, 'x', 3_600_000))).toBe(30_000);
  });

  it('ignores Retry-After on errors that are not HTTP errors', () => {
    const err = Object.assign(new Error('x'), { retryAfterMs: 9_999 });
    expect(backoffDelay(1, policy, err, () => 0.5)).toBe(50);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  it('reads delta seconds', () => {
    expect(parseRetryAfter('5', now)).toBe(5_000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1_500);
  });
  it('reads an HTTP date relative to now', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0); // in the past
  });
  it('returns undefined for a missing or unreadable value', () => {
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
  it('never returns a negative delay', () => {
    expect(parseRetryAfter('-10', now)).toBe(0);
  });
});

describe('withRetry', () => {
  const fast: RetryPolicy = { maxAttempts: 4, baseDelayMs: 0, maxDelayMs: 0 };

  it('retries transient failures and returns the first success', async () => {
    const fn = jest.fn(async (attempt: number) => {
      if (attempt < 3) throw new HttpError(503, 'busy');
      return 'ok';
    });
    const onRetry = jest.fn();
    await expect(withRetry(fn, fast, onRetry)).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledTimes(3);
    expect(fn.mock.calls.map((c) => c[0])).toEqual([1, 2, 3]);
    expect(onRetry.mock.calls.map((c) => c[1])).toEqual([1, 2]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let n = 0;
    const fn = jest.fn(async () => {
      throw new HttpError(500, `fail ${++n}`);
    });
    await expect(withRetry(fn, fast)).rejects.toThrow('fail 4');
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it('gives up at once on a 400, without waiting', async () => {
    const fn = jest.fn(async () => {
      throw new HttpError(400, 'bad request');
    });
    const onRetry = jest.fn();
    const started = Date.now();
    await expect(
      withRetry(fn, { maxAttempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 }, onRetry),
    ).rejects.toMatchObject({ status: 400 });
    expect(fn).toHaveBeenCalledTimes(1);
    expect(onRetry).not.toHaveBeenCalled();
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('waits for the Retry-After the server asked for', async () => {
    const fn = jest.fn(async (attempt: number) => {
      if (attempt === 1) throw new HttpError(429, 'slow down', 40);
      return attempt;
    });
    const onRetry = jest.fn();
    const started = Date.now();
    await expect(withRetry(fn, fast, onRetry)).resolves.toBe(2);
    expect(onRetry).toHaveBeenCalledWith(expect.any(HttpError), 1, 40);
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });

  it('calls once when maxAttempts is 1', async () => {
    const fn = jest.fn(async () => {
      throw new TimeoutError('slow');
    });
    await expect(withRetry(fn, { ...fast, maxAttempts: 1 })).rejects.toBeInstanceOf(TimeoutError);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('withRetry under a time budget', () => {
  /** A budget on a hand-moved clock: `left` ms, less whatever the calls spend. */
  function budget(left: number) {
    const clock = { left };
    const b: RetryBudget = { availableMs: () => clock.left };
    return { clock, budget: b };
  }
  const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 0, maxDelayMs: 0, callTimeoutMs: 1_000 };

  it('starts no call when no time is left', async () => {
    const fn = jest.fn(async () => 'ok');
    const err = await withRetry(fn, policy, undefined, { budget: budget(0).budget }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutOfTimeError);
    expect(err).toMatchObject({ attempts: 0 });
    expect(fn).not.toHaveBeenCalled();
  });

  it('gives each call its own timeout while time is plenty, and only the time left near the deadline', async () => {
    const { clock, budget: b } = budget(2_500);
    const timeouts: Array<number | undefined> = [];
    const fn = jest.fn(async (_attempt: number, timeoutMs: number | undefined) => {
      timeouts.push(timeoutMs);
      clock.left -= 1_000;
      throw new HttpError(503, 'busy');
    });
    await withRetry(fn, policy, undefined, { budget: b }).catch(() => undefined);
    expect(timeouts).toEqual([1_000, 1_000, 500]);
    // Without a budget or a timeout of its own nothing caps the call.
    await expect(
      withRetry(async (_a, t) => t, { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 }),
    ).resolves.toBeUndefined();
  });

  it('does not count a call the deadline cut short, and says how many attempts really failed', async () => {
    const { clock, budget: b } = budget(2_400);
    const fn = jest.fn(async (_attempt: number, timeoutMs: number | undefined) => {
      clock.left -= timeoutMs!;
      throw new TimeoutError('slow');
    });
    const err = await withRetry(fn, policy, undefined, { budget: b }).catch((e: unknown) => e);
    expect(fn).toHaveBeenCalledTimes(3); // 1000 + 1000 + the last 400, cut short
    expect(err).toBeInstanceOf(OutOfTimeError);
    expect(err).toMatchObject({ attempts: 2 });
  });

  it("counts a timeout at the call's own limit as a failed attempt, as without a budget", async () => {
    const { clock, budget: b } = budget(10_000);
    const fn = jest.fn(async (_attempt: number, timeoutMs: number | undefined) => {
      clock.left -= timeoutMs!;
      throw new TimeoutError('slow');
    });
    await expect(withRetry(fn, policy, undefined, { budget: b })).rejects.toBeInstanceOf(TimeoutError);
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it('does not sleep a backoff that would cross the deadline', async () => {
    const fn = jest.fn(async () => {
      throw new HttpError(429, 'slow down', 20_000);
    });
    const onRetry = jest.fn();
    const started = Date.now();
    const err = await withRetry(fn, policy, onRetry, { budget: budget(5_000).budget }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutOfTimeError);
    expect(err).toMatchObject({ attempts: 1 });
    expect(onRetry).not.toHaveBeenCalled();
    expect(Date.now() - started).toBeLessThan(1_000); // it did not wait the 20 s Retry-After
  });

  it('goes on from the attempts an earlier invocation spent', async () => {
    const fn = jest.fn(async (_attempt: number) => {
      throw new HttpError(500, 'down');
    });
    await expect(withRetry(fn, policy, undefined, { attemptsSpent: 3 })).rejects.toBeInstanceOf(HttpError);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn.mock.calls[0][0]).toBe(4);
  });
});
