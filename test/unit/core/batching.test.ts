import {
  batchCount,
  chunk,
  groupForSendBatch,
  mapLimit,
  SQS_BATCH_MAX_BYTES,
  SQS_BATCH_MAX_ENTRIES,
} from '../../../src/core/batching';

describe('chunk', () => {
  it('splits into consecutive batches of at most size, keeping order', () => {
    expect(chunk([1, 2, 3, 4, 5, 6, 7], 3)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(chunk([1, 2, 3, 4], 2)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(chunk([], 100)).toEqual([]);
  });

  it('rejects sizes that are not positive integers', () => {
    for (const size of [0, -1, 1.5, NaN]) expect(() => chunk([1], size)).toThrow(RangeError);
  });

  it('agrees with batchCount for every total up to 350', () => {
    const items = Array.from({ length: 350 }, (_, i) => i);
    for (let n = 0; n <= 350; n += 7) {
      const batches = chunk(items.slice(0, n), 100);
      expect(batches).toHaveLength(batchCount(n, 100));
      expect(batches.flat()).toEqual(items.slice(0, n));
    }
  });
});

describe('batchCount', () => {
  it('rounds up', () => {
    expect(batchCount(0, 100)).toBe(0);
    expect(batchCount(1, 100)).toBe(1);
    expect(batchCount(100, 100)).toBe(1);
    expect(batchCount(101, 100)).toBe(2);
    expect(batchCount(50_000, 100)).toBe(500);
  });
});

describe('groupForSendBatch', () => {
  const sizes = (bodies: string[], groups: number[][]) =>
    groups.map((g) => g.reduce((s, i) => s + Buffer.byteLength(bodies[i]), 0));

  it('uses the SQS limits by default', () => {
    expect(SQS_BATCH_MAX_ENTRIES).toBe(10);
    expect(SQS_BATCH_MAX_BYTES).toBe(256 * 1024);
  });

  it('makes groups of at most 10 entries, in order', () => {
    const bodies = Array.from({ length: 25 }, (_, i) => `m${i}`);
    const groups = groupForSendBatch(bodies);
    expect(groups.map((g) => g.length)).toEqual([10, 10, 5]);
    expect(groups.flat()).toEqual(bodies.map((_, i) => i));
  });

  it('starts a new group before the byte limit would be passed', () => {
    const bodies = Array.from({ length: 10 }, () => 'x'.repeat(30_000)); // 300,000 bytes in all
    const groups = groupForSendBatch(bodies);
    expect(groups.map((g) => g.length)).toEqual([8, 2]);
    for (const total of sizes(bodies, groups)) expect(total).toBeLessThanOrEqual(SQS_BATCH_MAX_BYTES);
  });

  it('counts the room kept per entry for message attributes', () => {
    expect(groupForSendBatch(['a'.repeat(100), 'b'.repeat(100), 'c'], 10, 250, 25)).toEqual([[0, 1], [2]]);
    expect(groupForSendBatch(['a'.repeat(100), 'b'.repeat(100)], 10, 250, 26)).toEqual([[0], [1]]);
    expect(() => groupForSendBatch(['a'.repeat(240)], 10, 250, 11)).toThrow(RangeError);
  });

  it('fills a group up to exactly the byte limit', () => {
    expect(groupForSendBatch(['a'.repeat(125), 'b'.repeat(125), 'c'], 10, 250)).toEqual([[0, 1], [2]]);
  });

  it('counts bytes, not characters', () => {
    const body = 'é'.repeat(100); // 200 bytes
    expect(groupForSendBatch([body, body, body], 10, 300)).toEqual([[0], [1], [2]]);
  });

  it('rejects a single body over the limit', () => {
    expect(() => groupForSendBatch(['ok', 'x'.repeat(101)], 10, 100)).toThrow(/message 1 is 101 bytes/);
  });

  it('never emits an empty group and covers every index once, for mixed sizes', () => {
    const bodies = Array.from({ length: 57 }, (_, i) => 'y'.repeat(((i * 7919) % 90_000) + 1));
    const groups = groupForSendBatch(bodies);
    expect(groups.every((g) => g.length >= 1 && g.length <= 10)).toBe(true);
    expect(groups.flat()).toEqual(bodies.map((_, i) => i));
    for (const total of sizes(bodies, groups)) expect(total).toBeLessThanOrEqual(SQS_BATCH_MAX_BYTES);
  });
});

describe('mapLimit', () => {
  const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('keeps input order when later items finish first', async () => {
    const items = [30, 20, 10, 0];
    const done: number[] = [];
    const out = await mapLimit(items, 4, async (ms, i) => {
      await delay(ms);
      done.push(i);
      return `r${i}`;
    });
    expect(done).toEqual([3, 2, 1, 0]);
    expect(out).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('never has more than limit calls in flight, and uses the limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const calls: number[] = [];
    await mapLimit(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (item) => {
        calls.push(item);
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await delay(1 + (item % 3));
        inFlight -= 1;
        return item;
      },
    );
    expect(peak).toBe(3);
    expect(calls.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('handles a limit above the item count and an empty list', async () => {
    expect(await mapLimit([1, 2], 16, async (x) => x * 2)).toEqual([2, 4]);
    const fn = jest.fn(async (x: number) => x);
    expect(await mapLimit([], 4, fn)).toEqual([]);
    expect(fn).not.toHaveBeenCalled();
  });

  it('rejects when a call fails', async () => {
    await expect(
      mapLimit([1, 2, 3], 2, async (x) => {
        if (x === 2) throw new Error('boom');
        return x;
      }),
    ).rejects.toThrow('boom');
  });
});
