import { createHash } from 'node:crypto';
import { CursorSchema, LIST_DEFAULT_LIMIT, ListQuerySchema } from '../schemas/list';
import type { StatusRecord } from '../schemas/status';
import { ValidationError } from './errors';
import type { Clock, RequestHistory } from './ports';
import { parseOrThrow } from './validation';

export interface ListDeps {
  history: RequestHistory;
  clock: Clock;
  /** The caller (src/core/owner.ts); undefined on a stage without API keys. */
  owner?: string;
}

/** A cursor names its owner by a tag only: the owner id never leaves the service. */
const ownerTag = (owner: string | undefined) =>
  createHash('sha256')
    .update(`cursor:${owner ?? ''}`)
    .digest('hex')
    .slice(0, 16);

export const encodeCursor = (owner: string | undefined, position: string) =>
  Buffer.from(JSON.stringify({ v: 1, o: ownerTag(owner), k: position })).toString('base64url');

const badCursor = (message: string) => new ValidationError('Invalid query', [{ path: 'cursor', message }]);

/** The position a cursor holds; a 400 for one that does not decode or was handed to another API key. */
export function decodeCursor(cursor: string, owner: string | undefined): string {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const parsed = CursorSchema.safeParse(decoded);
  if (!parsed.success)
    throw badCursor('cursor is not one this API handed out: pass the "cursor" of the previous page as it came');
  if (parsed.data.o !== ownerTag(owner))
    throw badCursor('cursor belongs to another API key: a cursor pages only the list of the key it was handed to');
  return parsed.data.k;
}

/** GET /enrichment: the caller's requests, newest first, a page at a time. */
export async function listRequests(
  query: Record<string, string | undefined> | null,
  deps: ListDeps,
): Promise<{ records: StatusRecord[]; cursor?: string }> {
  // 1. Validate the query (status, limit 1–100, default 20; the cursor decodes and is this caller's): a 400 naming
  //    the parameter otherwise.
  // 2. Read one page of the caller's own requests from the owner index (a Query, never a Scan), expired ones left
  //    out, newest first.
  // 3. A cursor only when another page follows.
  const q = parseOrThrow(ListQuerySchema, query ?? {}, 'Invalid query');
  const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, deps.owner);
  const page = await deps.history.listOwned(deps.owner, {
    limit: q.limit ?? LIST_DEFAULT_LIMIT,
    status: q.status,
    after,
    now: deps.clock.now(),
  });
  return { records: page.records, ...(page.next ? { cursor: encodeCursor(deps.owner, page.next) } : {}) };
}
