import type { Contact, EnrichField, OutputRow } from '../schemas/contact';
import { canonicalJson, sha256 } from './dedup';
import type { EnrichProgress, PendingPart } from './enrichBatch';
import { enrichedRow, type FoundResult } from './output';
import type { CachedResult, Logger, Metrics, ResultCache } from './ports';

/**
 * The result cache: no contact is paid for twice. A provider result (enriched, or not found) is kept under the
 * SHA-256 of the contact's normalized identity, the sorted field set and the scope (the API key's owner, or the
 * whole service), for CACHE_TTL_DAYS (not found: NOT_FOUND_CACHE_TTL_DAYS); per-contact errors and failures are
 * never kept. A worker reads the keys of a fresh batch in one BatchGetItem before its provider calls (the hits are
 * settled rows from the start: they are kept with the batch's progress, never re-read or re-bisected), and writes
 * the results its calls settled after them, 25 per BatchWriteItem. Neither ever fails the batch: a read that
 * fails is all misses, a write that fails is only a log line and a metric point.
 */

export type CacheScope = 'owner' | 'service';

/** 100 keys: BatchGetItem's limit, and a batch's largest size. */
export const CACHE_READ_MAX_KEYS = 100;

export interface CacheSettings {
  cache: ResultCache;
  /** Days an enriched result counts; 0 turns the cache off (no reads, no writes). */
  ttlDays: number;
  /** Days a not-found result counts; 0 keeps none. */
  notFoundTtlDays: number;
  scope: CacheScope;
}

/** What the cache steps of one batch need: the settings, whose results (the request's owner), and `refresh`. */
export interface CacheContext extends CacheSettings {
  /** The request's owner (src/core/owner.ts); unset on a stage without API keys. */
  owner?: string;
  /** The request asked for fresh results: no reads (its results are still written). */
  refresh?: boolean;
  now: () => Date;
  log: Logger;
  metrics?: Metrics;
}

/**
 * The parts of a contact that name the person, as the key sees them: trimmed, Unicode-normalized (NFC) and
 * lower-cased, so `Ada`/` ada ` and `Example.COM`/`example.com` are one person. Other properties never count.
 */
export function normalizedIdentity(contact: Contact): {
  first_name: string;
  last_name: string;
  company_domain: string;
} {
  const norm = (s: string) => s.trim().normalize('NFC').toLowerCase();
  return {
    first_name: norm(contact.first_name),
    last_name: norm(contact.last_name),
    company_domain: norm(contact.company_domain),
  };
}

/** Whose results a key reaches: one owner's (scope `owner`; `anonymous` on a stage without keys), or everyone's. */
export function scopeOf(scope: CacheScope, owner: string | undefined): string {
  return scope === 'service' ? 'service' : `owner:${owner ?? 'anonymous'}`;
}

/**
 * The cache key of a contact: the SHA-256 of the canonical JSON (as dedup hashes requests, src/core/dedup.ts) of
 * its normalized identity, the sorted field set and the scope.
 */
export function cacheKey(contact: Contact, fields: readonly EnrichField[], scope: string): string {
  return sha256(canonicalJson({ scope, identity: normalizedIdentity(contact), fields: [...fields].sort() }));
}

/**
 * The cache keys of a batch's contacts by position, each hashed once per batch: the read before the provider calls
 * and the write after them share it (both hash the same contacts otherwise; the hash is a fair part of a worker's
 * CPU in a cold batch). Held as long as the batch's contacts array is.
 */
const memo = new WeakMap<readonly Contact[], { of: string; keys: string[] }>();
function batchKeys(contacts: readonly Contact[], fields: readonly EnrichField[], scope: string): (i: number) => string {
  const of = JSON.stringify([scope, [...fields].sort()]);
  let held = memo.get(contacts);
  if (held?.of !== of) memo.set(contacts, (held = { of, keys: [] }));
  const { keys } = held;
  return (i) => (keys[i] ??= cacheKey(contacts[i], fields, scope));
}

const isOn = (ctx: CacheSettings) => ctx.ttlDays > 0;

/** The positions of a progress still to enrich, in order. */
const pendingPositions = (progress: EnrichProgress) => progress.pending.flatMap((p) => p.at).sort((a, b) => a - b);

/**
 * The step before the provider calls, for a batch not started yet: the contacts with a live cached result
 * (expiresAt still ahead: offline nothing is ever deleted) become settled rows (`source: cache`), and only the
 * others stay pending. One BatchGetItem of at most 100 keys. Nothing is read when the cache is off or the request
 * asked for `refresh`; a failed read is all misses.
 */
export async function settleFromCache(
  contacts: readonly Contact[],
  fields: readonly EnrichField[],
  progress: EnrichProgress,
  ctx: CacheContext,
): Promise<EnrichProgress> {
  if (!isOn(ctx) || ctx.refresh) return progress;
  const positions = pendingPositions(progress);
  if (positions.length === 0) return progress;
  if (positions.length > CACHE_READ_MAX_KEYS) throw new Error(`a batch holds at most ${CACHE_READ_MAX_KEYS} contacts`);
  const scope = scopeOf(ctx.scope, ctx.owner);
  const keyAt = batchKeys(contacts, fields, scope);
  const keyOf = new Map(positions.map((i) => [i, keyAt(i)]));
  let items: CachedResult[] = [];
  try {
    const read = await ctx.cache.getMany([...new Set(keyOf.values())]);
    items = read.items;
    if (read.unprocessed > 0) {
      ctx.log.warn('result cache read left keys unprocessed: taken as misses', { unprocessed: read.unprocessed });
      ctx.metrics?.emit('cacheErrors', 1, { operation: 'read' });
    }
  } catch (err) {
    ctx.log.warn('result cache read failed: every contact taken as a miss', { err });
    ctx.metrics?.emit('cacheErrors', 1, { operation: 'read' });
  }
  const nowSeconds = Math.floor(ctx.now().getTime() / 1000);
  const live = new Map(items.filter((item) => item.expiresAt > nowSeconds).map((item) => [item.cacheKey, item]));
  const rows = [...progress.rows];
  let hits = 0;
  for (const [i, key] of keyOf) {
    const item = live.get(key);
    if (!item) continue;
    rows[i] = enrichedRow(contacts[i], fields, item.result, item.cachedAt);
    hits += 1;
  }
  const misses = positions.length - hits;
  if (hits) ctx.metrics?.emit('cacheHits', hits);
  if (misses) ctx.metrics?.emit('cacheMisses', misses);
  if (hits === 0) return progress;
  const pending: PendingPart[] = progress.pending
    .map((part) => ({ ...part, at: part.at.filter((i) => rows[i] === null) }))
    .filter((part) => part.at.length > 0);
  return { ...progress, rows, pending };
}

/** The result a settled provider row stands for, if it may be kept: enriched, or not found when those are kept. */
function resultOf(row: OutputRow, fields: readonly EnrichField[], ctx: CacheSettings): FoundResult | undefined {
  if (row.source === 'cache') return undefined;
  if (row.enrichment_status === 'not_found')
    return ctx.notFoundTtlDays > 0 ? { enrichment_status: 'not_found' } : undefined;
  if (row.enrichment_status !== 'enriched') return undefined;
  const result: FoundResult = { enrichment_status: 'enriched' };
  for (const field of fields) result[field] = row[field] ?? null;
  return result;
}

/**
 * The step after the provider calls: the results they settled (rows null in `before`, enriched or not found in
 * `after`) are written, 25 per BatchWriteItem. Never throws: a write that fails is a warning and a metric point.
 */
export async function storeInCache(
  contacts: readonly Contact[],
  fields: readonly EnrichField[],
  before: EnrichProgress,
  after: EnrichProgress,
  ctx: CacheContext,
): Promise<void> {
  if (!isOn(ctx)) return;
  const now = ctx.now();
  const cachedAt = now.toISOString();
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const scope = scopeOf(ctx.scope, ctx.owner);
  const keyAt = batchKeys(contacts, fields, scope);
  const items = new Map<string, CachedResult>();
  after.rows.forEach((row, i) => {
    if (!row || before.rows[i] !== null) return;
    const result = resultOf(row, fields, ctx);
    if (!result) return;
    const days = result.enrichment_status === 'enriched' ? ctx.ttlDays : ctx.notFoundTtlDays;
    const key = keyAt(i);
    // One write per key: a batch may hold one person twice (BatchWriteItem refuses a repeated key).
    items.set(key, { cacheKey: key, result, cachedAt, expiresAt: nowSeconds + days * 86_400 });
  });
  if (items.size === 0) return;
  try {
    const { unprocessed } = await ctx.cache.putMany([...items.values()]);
    if (unprocessed > 0) {
      ctx.log.warn('result cache write left items unprocessed: they will be paid for again', { unprocessed });
      ctx.metrics?.emit('cacheErrors', 1, { operation: 'write' });
    }
  } catch (err) {
    ctx.log.warn('result cache write failed: the batch goes on without it', { err, items: items.size });
    ctx.metrics?.emit('cacheErrors', 1, { operation: 'write' });
  }
}
