import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { faker } from '@faker-js/faker';
import type { Contact } from '../../schemas/contact';

/** mulberry32: a tiny, fast, seedable PRNG (same seed → same sequence). Returns floats in [0, 1). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const slug = (s: string) =>
  s
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');

/** Name and word lists, read once from faker's English locale; calling faker per contact is ~50× slower. */
const lists = (() => {
  const d = faker.definitions;
  const clean = (xs: readonly string[]) => [...new Set(xs.map((x) => x.trim()).filter(Boolean))];
  const slugs = (xs: readonly string[]) => [...new Set(xs.map(slug).filter((x) => x.length >= 2 && x.length <= 20))];
  const lastNames = clean(d.person.last_name.generic ?? []);
  return {
    firstNames: clean(d.person.first_name.generic ?? []),
    lastNames,
    domainWords: slugs([...lastNames, ...d.word.noun]),
    adjectives: slugs(d.word.adjective),
    tlds: [...new Set([...(d.internet.domain_suffix as string[]), 'io', 'co', 'dev', 'ai'])],
  };
})();

export interface GenerateOptions {
  /** Same seed → the same contacts in the same order. */
  seed: number;
  /** How many contacts get a company_domain ending in `.invalid` (the mock API fails every call with one). */
  invalid?: number;
  /** How many other contacts get a company_domain ending in `.hang` (the mock API never answers a call with one). */
  hang?: number;
}

/** `k` distinct indexes in [0, n), chosen with Floyd's algorithm (O(k) memory, no shuffle of n). */
function samplePositions(n: number, k: number, random: () => number): Set<number> {
  const chosen = new Set<number>();
  for (let j = n - k; j < n; j += 1) {
    const t = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return chosen;
}

/**
 * Valid contacts (first_name, last_name, company_domain), deterministic for a seed. The `.invalid`
 * and `.hang` positions come from separate streams, so the other contacts are the same with or without them.
 */
export function* generateContacts(count: number, opts: GenerateOptions): Generator<Contact> {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  const invalid = opts.invalid ?? 0;
  if (!Number.isInteger(invalid) || invalid < 0 || invalid > count) {
    throw new RangeError(`invalid must be an integer between 0 and the contact count (${count}), got ${invalid}`);
  }
  const random = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const poisoned = samplePositions(count, invalid, prng(opts.seed ^ 0x9e3779b9));
  const hang = opts.hang ?? 0;
  if (!Number.isInteger(hang) || hang < 0 || invalid + hang > count) {
    throw new RangeError(
      `hang must be an integer between 0 and the contacts left after the invalid ones (${count - invalid}), got ${hang}`,
    );
  }
  const hanging = new Set<number>();
  const hangRandom = prng(opts.seed ^ 0x85ebca6b);
  while (hanging.size < hang) {
    const i = Math.floor(hangRandom() * count);
    if (!poisoned.has(i)) hanging.add(i);
  }
  const { firstNames, lastNames, domainWords, adjectives, tlds } = lists;

  for (let i = 0; i < count; i += 1) {
    const first_name = pick(firstNames);
    const last_name = pick(lastNames);
    const shape = random();
    const label =
      shape < 0.4
        ? pick(domainWords)
        : shape < 0.7
          ? `${pick(domainWords)}-${pick(domainWords)}`
          : `${pick(adjectives)}${pick(domainWords)}`;
    const tld = pick(tlds);
    yield {
      first_name,
      last_name,
      company_domain: `${label}.${poisoned.has(i) ? 'invalid' : hanging.has(i) ? 'hang' : tld}`,
    };
  }
}

/** The file's text, `{"contacts":[…]}` with one contact per line, in chunks so nothing grows with the count. */
export function* renderContactsFile(contacts: Iterable<Contact>, perChunk = 2000): Generator<string> {
  yield '{"contacts":[';
  let first = true;
  let parts: string[] = [];
  for (const contact of contacts) {
    parts.push(JSON.stringify(contact));
    if (parts.length === perChunk) {
      yield (first ? '\n' : ',\n') + parts.join(',\n');
      first = false;
      parts = [];
    }
  }
  if (parts.length) yield (first ? '\n' : ',\n') + parts.join(',\n');
  yield '\n]}\n';
}

/** One contact per line (NDJSON), in chunks. */
function* renderNdjsonFile(contacts: Iterable<Contact>, perChunk = 2000): Generator<string> {
  let parts: string[] = [];
  for (const contact of contacts) {
    parts.push(JSON.stringify(contact));
    if (parts.length === perChunk) {
      yield `${parts.join('\n')}\n`;
      parts = [];
    }
  }
  if (parts.length) yield `${parts.join('\n')}\n`;
}

/** RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled. */
const csvCell = (value: unknown): string => {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** CSV with a header row first_name,last_name,company_domain (the generated contacts have no other field). */
function* renderCsvFile(contacts: Iterable<Contact>, perChunk = 2000): Generator<string> {
  const columns = ['first_name', 'last_name', 'company_domain'] as const;
  yield `${columns.join(',')}\n`;
  let parts: string[] = [];
  for (const contact of contacts) {
    parts.push(columns.map((c) => csvCell(contact[c])).join(','));
    if (parts.length === perChunk) {
      yield `${parts.join('\n')}\n`;
      parts = [];
    }
  }
  if (parts.length) yield `${parts.join('\n')}\n`;
}

export type ContactsFileFormat = 'json' | 'ndjson' | 'csv';
const RENDERERS = { json: renderContactsFile, ndjson: renderNdjsonFile, csv: renderCsvFile };

/** Streams `count` generated contacts to `file` in `format` (the same contacts whatever the format). */
export async function writeContactsFile(
  file: string,
  count: number,
  opts: GenerateOptions,
  format: ContactsFileFormat = 'json',
): Promise<void> {
  await pipeline(Readable.from(RENDERERS[format](generateContacts(count, opts))), createWriteStream(file));
}
