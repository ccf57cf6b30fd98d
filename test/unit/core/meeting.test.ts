import { meeting } from '../../../src/core/meeting';

/** A run that answers each item doubled, and remembers the groups it was given. */
function doubling() {
  const groups: number[][] = [];
  const m = meeting<number, number>((items) => {
    groups.push(items);
    return items.map(async (n) => {
      if (n < 0) throw new Error(`bad ${n}`);
      return n * 2;
    });
  });
  return { groups, m };
}

describe('meeting', () => {
  it('runs the arrived items together once every seat arrived or left, each with its own outcome', async () => {
    const { groups, m } = doubling();
    const [a, b, c, d] = [m.seat(), m.seat(), m.seat(), m.seat()];
    const pa = a.arrive(1);
    const pb = b.arrive(-2);
    c.leave();
    expect(groups).toEqual([]);
    const pd = d.arrive(3);
    expect(groups).toEqual([[1, -2, 3]]);
    await expect(pa).resolves.toBe(2);
    await expect(pb).rejects.toThrow('bad -2');
    await expect(pd).resolves.toBe(6);
    // leave after arriving changes nothing.
    a.leave();
    expect(groups).toEqual([[1, -2, 3]]);
  });

  it('runs nothing when every seat left', () => {
    const { groups, m } = doubling();
    const s = m.seat();
    s.leave();
    s.leave();
    expect(groups).toEqual([]);
  });

  it('runs what arrived once the wait is over, and a later arrival at once: a busy sibling holds no one up', async () => {
    jest.useFakeTimers();
    try {
      const groups: number[][] = [];
      const m = meeting<number, number>(
        (items) => {
          groups.push(items);
          return items.map(async (n) => n);
        },
        () => 1_000,
      );
      const [a, b, busy] = [m.seat(), m.seat(), m.seat()];
      const pa = a.arrive(1);
      const pb = b.arrive(2);
      jest.advanceTimersByTime(999);
      expect(groups).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(groups).toEqual([[1, 2]]);
      await expect(Promise.all([pa, pb])).resolves.toEqual([1, 2]);
      await expect(busy.arrive(3)).resolves.toBe(3);
      expect(groups).toEqual([[1, 2], [3]]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('fails every waiting item when run throws, without throwing at the seat', async () => {
    const m = meeting<number, number>(() => {
      throw new Error('run broke');
    });
    const s = m.seat();
    await expect(s.arrive(1)).rejects.toThrow('run broke');
  });
});
