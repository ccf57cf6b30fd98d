import { CircuitBreaker } from '../../../src/core/circuitBreaker';

function breaker(threshold = 3, coolDownMs = 1_000) {
  const clock = { now: 0 };
  return { clock, b: new CircuitBreaker({ threshold, coolDownMs, now: () => clock.now }) };
}

describe('CircuitBreaker', () => {
  it('opens after `threshold` failures in a row, and a success in between starts the count again', async () => {
    const { b } = breaker(3);
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state()).toBe('closed');
    expect(await b.acquire()).toBe(true);
    b.failure();
    expect(b.state()).toBe('open');
    expect(await b.acquire()).toBe(false);
  });

  it('forgets a failure older than the cool-down: failures spread over a long time do not open it', () => {
    const { b, clock } = breaker(3, 1_000);
    b.failure();
    b.failure();
    clock.now += 1_001;
    b.failure();
    expect(b.state()).toBe('closed');
  });

  it('permanent answers and calls cut short say nothing: release neither opens nor closes it', async () => {
    const { b } = breaker(2);
    b.failure();
    b.release();
    b.failure();
    expect(b.state()).toBe('open');
  });

  it('after the cool-down lets one trial call through; the others wait for it; its success closes the circuit', async () => {
    const { b, clock } = breaker(1, 1_000);
    b.failure();
    clock.now += 999;
    expect(await b.acquire()).toBe(false);
    clock.now += 1;
    expect(b.state()).toBe('half-open');
    expect(await b.acquire()).toBe(true); // the trial
    let second: boolean | undefined;
    const waiting = b.acquire().then((v) => (second = v));
    await Promise.resolve();
    expect(second).toBeUndefined();
    b.success();
    await waiting;
    expect(second).toBe(true);
    expect(b.state()).toBe('closed');
  });

  it('a failed trial opens it again for a whole cool-down, and the waiting callers are refused', async () => {
    const { b, clock } = breaker(1, 1_000);
    b.failure();
    clock.now += 1_000;
    expect(await b.acquire()).toBe(true);
    const waiting = b.acquire();
    b.failure();
    expect(await waiting).toBe(false);
    expect(b.state()).toBe('open');
    clock.now += 999;
    expect(await b.acquire()).toBe(false);
  });
});
