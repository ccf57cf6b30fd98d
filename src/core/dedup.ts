import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Contact, EnrichField } from '../schemas/contact';
import type { StatusRecord } from '../schemas/status';
import { EnrichmentError } from './errors';
import type { Clock, DedupClaim, StatusStore } from './ports';

/** The key of a dedup item in the status table: never a UUID, so no status or download call can reach it. */
const DEDUP_KEY_PREFIX = 'dedup#';

/**
 * How long a claim whose status item never appeared is trusted before another call takes it over: longer
 * than the create function's timeout (29 s in serverless.yml, checked by a unit test), so the request that
 * holds it is certainly no longer running.
 */
export const DEDUP_CLAIM_LEASE_MS = 60_000;

/** How long a duplicate waits for the request it repeats to be stored, before it answers 409. */
export const DEDUP_WAIT_MS = 15_000;

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * RFC 8785 canonical JSON (the `canonicalize` package): object keys sorted at every depth, no whitespace,
 * numbers in their shortest form. Two values that are equal as JSON give the same text, whatever their key
 * order; any other difference, however deep, gives another text.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('cannot canonicalize a value JSON cannot carry');
  return text;
}

/**
 * SHA-256 of the work a request asks for: the canonical JSON of
 * `{"contacts": [...], "fields_to_enrich": [...]}` with the validated contacts in their order and the fields
 * sorted (their order changes nothing). Hashed contact by contact, so a million contacts never become one
 * string; the digest is the same as of the whole document at once.
 */
export function requestHash(contacts: readonly Contact[], fields: readonly EnrichField[]): string {
  const hash = createHash('sha256').update('{"contacts":[');
  contacts.forEach((contact, i) => {
    hash.update(i === 0 ? canonicalJson(contact) : `,${canonicalJson(contact)}`);
  });
  hash.update(`],"fields_to_enrich":${canonicalJson([...fields].sort())}}`);
  return hash.digest('hex');
}

/**
 * The dedup key: per caller (the SHA-256 of its API key, never the key itself), then the client's
 * Idempotency-Key if it sent one, else the hash of the work.
 */
export function dedupKey(callerHash: string, bodyHash: string, idempotencyKey?: string): string {
  const scope =
    idempotencyKey === undefined ? { caller: callerHash, body: bodyHash } : { caller: callerHash, idempotencyKey };
  return `${DEDUP_KEY_PREFIX}${sha256(canonicalJson(scope))}`;
}

export interface DedupDeps {
  status: StatusStore;
  clock: Clock;
  leaseMs?: number;
  waitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export type DedupOutcome = { claimed: DedupClaim } | { duplicate: StatusRecord };

/**
 * Claims the key for a new request, or finds the request that holds it.
 * 1. Put the claim, conditionally: it wins only where no live claim holds the key.
 * 2. Lost: the holder's status item exists → a duplicate of it (422 if the body differs).
 * 3. No status item: a released claim, or one older than the lease (its request died before storing
 *    anything), is taken over conditionally, so only one caller gets it; a fresh one is waited for.
 */
export async function claimOrFindDuplicate(
  claim: Omit<DedupClaim, 'claimedAt'>,
  deps: DedupDeps,
): Promise<DedupOutcome> {
  const leaseMs = deps.leaseMs ?? DEDUP_CLAIM_LEASE_MS;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const waitUntil = deps.clock.now().getTime() + (deps.waitMs ?? DEDUP_WAIT_MS);
  const reused = () =>
    new EnrichmentError(
      'This Idempotency-Key was already used for a different request (other contacts or fields): send a new key for a new request',
      { kind: 'idempotency_key_reused' },
    );
  let replaces: string | undefined;
  let pollMs = 50;
  for (;;) {
    const mine: DedupClaim = { ...claim, claimedAt: deps.clock.now().toISOString() };
    const res = await deps.status.claimDedup(mine, replaces);
    if (res.claimed) return { claimed: mine };
    replaces = undefined;
    const current = res.current;
    if (!current) continue; // released and gone between the put and the read: claim afresh
    const holder = current.released ? undefined : await deps.status.get(current.requestId);
    if (holder) {
      if (current.bodyHash !== claim.bodyHash) throw reused();
      return { duplicate: holder };
    }
    const now = deps.clock.now().getTime();
    if (current.released || now - Date.parse(current.claimedAt) >= leaseMs) {
      replaces = current.requestId;
      continue;
    }
    if (current.bodyHash !== claim.bodyHash) throw reused();
    if (now >= waitUntil) {
      throw new EnrichmentError(
        'An identical request is still being accepted: retry in a few seconds to get its requestId',
        { kind: 'duplicate_in_progress' },
      );
    }
    await sleep(pollMs);
    pollMs = Math.min(pollMs * 2, 500);
  }
}
