/**
 * The lifecycle bench's verdicts (bench/lifecycle.ts), kept apart from the stacks it starts so that they can be unit
 * tested: do a webhook's deliveries verify as a receiver would verify them (and do forgeries not), when did the
 * provider calls of a cancelled request stop, do an output's three formats hold the same rows.
 */
import { parse } from 'csv-parse/sync';
import { Webhook } from 'standardwebhooks';
import type { OutputRow } from './providerChecks';

/** One POST a receiver got: when (seconds from the scenario's start), its headers, its raw body, what it answered. */
export interface Delivery {
  at: number;
  headers: Record<string, string>;
  body: string;
  answered: number;
}

/** Why a delivery does not verify with `secret` now (standardwebhooks' `Webhook.verify`), or undefined if it does. */
export function verifyError(secret: string, body: string, headers: Record<string, string>): string | undefined {
  try {
    new Webhook(secret).verify(body, headers);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * The retried deliveries of one event: `attempts` of them, all with `webhookId`, each with its own timestamp and
 * signature, each verifying with `secret`. The problems found (none: all hold).
 */
export function checkRetriedDeliveries(
  deliveries: readonly Delivery[],
  secret: string,
  expected: { webhookId: string; attempts: number },
): string[] {
  const problems: string[] = [];
  if (deliveries.length !== expected.attempts)
    problems.push(`${deliveries.length} deliveries, not ${expected.attempts}`);
  const ids = new Set(deliveries.map((d) => d.headers['webhook-id']));
  if (ids.size !== 1 || !ids.has(expected.webhookId))
    problems.push(`webhook-ids ${[...ids].join(', ')}, not ${expected.webhookId} on every attempt`);
  for (const header of ['webhook-timestamp', 'webhook-signature']) {
    const distinct = new Set(deliveries.map((d) => d.headers[header])).size;
    if (distinct !== deliveries.length) problems.push(`${distinct} distinct ${header}s in ${deliveries.length}`);
  }
  deliveries.forEach((d, i) => {
    const error = verifyError(secret, d.body, d.headers);
    if (error) problems.push(`attempt ${i + 1} does not verify: ${error}`);
  });
  return problems;
}

export interface Forgery {
  name: 'tampered body' | 'timestamp 6 min old' | 'rotated-out secret';
  /** Why Webhook.verify refused it; undefined: it verified (a failure of the check). */
  refusedWith?: string;
}

/**
 * Three forgeries of a delivery signed with `secret`, each verified as a receiver would: the body changed under the
 * delivery's headers, and the body signed with `secret` 6 minutes ago (verify allows 5), both against `secret`; the
 * body signed now with `secret` once it is rotated out, against `newSecret`, which a receiver that followed the
 * rotation holds. Each must be refused.
 */
export function forgeries(delivery: Delivery, secret: string, newSecret: string, now = new Date()): Forgery[] {
  const id = delivery.headers['webhook-id'];
  const event = JSON.parse(delivery.body) as { data?: Record<string, unknown> };
  const tampered = JSON.stringify({
    ...event,
    data: { ...event.data, totalContacts: Number(event.data?.totalContacts ?? 0) + 1 },
  });
  const signedAt = (at: Date) => ({
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, delivery.body),
  });
  return [
    { name: 'tampered body', refusedWith: verifyError(secret, tampered, delivery.headers) },
    {
      name: 'timestamp 6 min old',
      refusedWith: verifyError(secret, delivery.body, signedAt(new Date(now.getTime() - 6 * 60_000))),
    },
    { name: 'rotated-out secret', refusedWith: verifyError(newSecret, delivery.body, signedAt(now)) },
  ];
}

/** The mock's call count sampled over time (seconds from the scenario's start). */
export interface CallSample {
  at: number;
  calls: number;
}

export interface CallsAfterCancel {
  /** Calls by the cancel (the last sample at or before it). */
  atCancel: number;
  /** Calls made after it: the in-flight batches' calls, and any a missed cancel flag let through. */
  afterCancel: number;
  /** Seconds from the cancel to the last sample that saw the count grow (0: it never grew after the cancel). */
  lastGrowthAfter: number;
  /** Seconds the count has stayed the same at the end of the samples, counted from the cancel at the earliest. */
  flatFor: number;
}

/** When the provider calls stopped after a cancel at `cancelAt`, from samples of the mock's call count. */
export function callsAfterCancel(samples: readonly CallSample[], cancelAt: number): CallsAfterCancel {
  if (!samples.length) throw new Error('no sample of the call count');
  const before = samples.filter((s) => s.at <= cancelAt);
  const atCancel = (before.length ? before[before.length - 1] : samples[0]).calls;
  const last = samples[samples.length - 1];
  let lastGrowth = cancelAt;
  for (let i = 1; i < samples.length; i++)
    if (samples[i].calls > samples[i - 1].calls && samples[i].at > cancelAt) lastGrowth = samples[i].at;
  const firstAtFinal = samples.find((s) => s.calls === last.calls && s.at >= lastGrowth) ?? last;
  return {
    atCancel,
    afterCancel: last.calls - atCancel,
    lastGrowthAfter: lastGrowth - cancelAt,
    flatFor: last.at - firstAtFinal.at,
  };
}

const KEY_COLUMNS = ['first_name', 'last_name', 'company_domain', 'enrichment_status'] as const;

/**
 * The NDJSON and CSV downloads against the JSON one's rows: NDJSON one line per row, equal to it; CSV a header and one
 * record per row whose contact and status columns equal the row's. The problems found (at most 10).
 */
export function formatProblems(rows: readonly OutputRow[], ndjson: string, csv: string): string[] {
  const problems: string[] = [];
  const problem = (p: string) => problems.length < 10 && problems.push(p);
  const lines = ndjson.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== rows.length) problem(`NDJSON has ${lines.length} lines, JSON ${rows.length} rows`);
  lines.forEach((line, i) => {
    if (
      i < rows.length &&
      line !== JSON.stringify(rows[i]) &&
      JSON.stringify(JSON.parse(line)) !== JSON.stringify(rows[i])
    )
      problem(`NDJSON line ${i + 1} differs from JSON row ${i}`);
  });
  const records = parse(csv, { columns: true, bom: true }) as Array<Record<string, string>>;
  if (records.length !== rows.length) problem(`CSV has ${records.length} records, JSON ${rows.length} rows`);
  records.forEach((record, i) => {
    const row = rows[i];
    if (!row) return;
    for (const c of KEY_COLUMNS)
      if (record[c] !== String(row[c] ?? ''))
        problem(`CSV record ${i} ${c} ${JSON.stringify(record[c])} ≠ ${JSON.stringify(row[c])}`);
  });
  return problems;
}
