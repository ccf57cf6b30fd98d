import { ValidationError } from '../../../src/core/errors';
import { decodeCursor, encodeCursor, listRequests } from '../../../src/core/listRequests';
import type { RequestHistory } from '../../../src/core/ports';
import { ListQuerySchema } from '../../../src/schemas/list';
import type { StatusRecord } from '../../../src/schemas/status';
import { ManualClock } from '../../support/fakes';

const NOW = new Date('2026-12-07T00:00:00.000Z');
const POSITION = '2026-12-06T10:00:00.000Z#6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f';

/** A history that records what it was asked and answers a page of `n` records, with `next` when given. */
function history(n = 0, next?: string) {
  const calls: Parameters<RequestHistory['listOwned']>[] = [];
  const h: RequestHistory = {
    async listOwned(...args) {
      calls.push(args);
      return { records: Array.from({ length: n }, () => ({}) as StatusRecord), ...(next ? { next } : {}) };
    },
    tombstone: async () => undefined,
  };
  return { h, calls };
}

async function invalid(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  return (err as ValidationError).errors;
}

describe('ListQuerySchema', () => {
  it.each([
    [{}, {}],
    [{ limit: '1' }, { limit: 1 }],
    [
      { limit: '100', status: 'failed' },
      { limit: 100, status: 'failed' },
    ],
  ])('takes %j', (query, parsed) => expect(ListQuerySchema.parse(query)).toEqual(parsed));

  it.each([['0'], ['101'], ['-1'], ['1.5'], ['ten'], ['']])('refuses limit=%s', (limit) => {
    const r = ListQuerySchema.safeParse({ limit });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].message).toBe('limit must be a whole number from 1 to 100');
  });

  it('refuses a status that is not one', () => {
    expect(ListQuerySchema.safeParse({ status: 'done' }).error!.issues[0].message).toMatch(
      /^status must be one of validating, processing, completed/,
    );
  });
});

describe('list cursors', () => {
  it('round-trip for their owner, and are opaque: no owner id or key in them', () => {
    const cursor = encodeCursor('a'.repeat(32), POSITION);
    expect(decodeCursor(cursor, 'a'.repeat(32))).toBe(POSITION);
    expect(Buffer.from(cursor, 'base64url').toString()).not.toContain('a'.repeat(32));
    expect(decodeCursor(encodeCursor(undefined, POSITION), undefined)).toBe(POSITION);
  });

  it.each([
    ['not base64 JSON', 'nope'],
    ['JSON of another shape', Buffer.from('{"k":"x"}').toString('base64url')],
    ['a position that is not one', encodeCursor('o', POSITION).slice(0, -4)],
  ])('a 400 for a cursor that is %s', (_name, cursor) => {
    expect(() => decodeCursor(cursor, 'o')).toThrow(ValidationError);
  });

  it("a 400 for another owner's cursor, naming the rule", () => {
    try {
      decodeCursor(encodeCursor('owner-a', POSITION), 'owner-b');
      throw new Error('expected a 400');
    } catch (err) {
      expect((err as ValidationError).errors).toEqual([
        {
          path: 'cursor',
          message: 'cursor belongs to another API key: a cursor pages only the list of the key it was handed to',
        },
      ]);
    }
  });
});

describe('listRequests', () => {
  const clock = new ManualClock(NOW);

  it('asks the history for the owner, 20 by default, and hands out a cursor only when another page follows', async () => {
    const more = history(20, POSITION);
    const page = await listRequests(null, { history: more.h, clock, owner: 'o' });
    expect(more.calls).toEqual([['o', { limit: 20, status: undefined, after: undefined, now: NOW }]]);
    expect(decodeCursor(page.cursor!, 'o')).toBe(POSITION);

    const last = history(3);
    const next = await listRequests(
      { limit: '5', status: 'completed', cursor: page.cursor },
      { history: last.h, clock, owner: 'o' },
    );
    expect(last.calls).toEqual([['o', { limit: 5, status: 'completed', after: POSITION, now: NOW }]]);
    expect(next).not.toHaveProperty('cursor');
    expect(next.records).toHaveLength(3);
  });

  it('a 400 naming the parameter, before any read, for limit 0 or 101, a bad status or a foreign cursor', async () => {
    const { h, calls } = history();
    const deps = { history: h, clock, owner: 'o' };
    expect(await invalid(listRequests({ limit: '0' }, deps))).toEqual([
      { path: 'limit', message: 'limit must be a whole number from 1 to 100' },
    ]);
    expect((await invalid(listRequests({ limit: '101' }, deps)))[0].path).toBe('limit');
    expect((await invalid(listRequests({ status: 'nope' }, deps)))[0].path).toBe('status');
    expect((await invalid(listRequests({ cursor: encodeCursor('p', POSITION) }, deps)))[0].path).toBe('cursor');
    expect(calls).toEqual([]);
  });
});
