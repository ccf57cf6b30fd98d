import { Readable } from 'node:stream';
import { readInputBatches, renderInput, streamContacts } from '../../../src/core/inputFile';
import { keys } from '../../../src/core/status';
import type { Contact, EnrichField } from '../../../src/schemas/contact';
import { contactsOf, MemoryObjectStore } from '../fakes';

async function text(gen: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const part of gen) out += part;
  return out;
}

async function collect(source: Readable): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of streamContacts(source)) out.push(item);
  return out;
}

/** Splits text into small, uneven chunks so tokens straddle chunk borders. */
function chunked(s: string, sizes = [1, 7, 3, 64, 13]): Readable {
  const parts: Buffer[] = [];
  const buf = Buffer.from(s);
  for (let i = 0, k = 0; i < buf.length; k++) {
    const n = sizes[k % sizes.length];
    parts.push(buf.subarray(i, i + n));
    i += n;
  }
  return Readable.from(parts);
}

const FIELDS: EnrichField[] = ['professional_email', 'job_title'];

describe('renderInput', () => {
  it.each([0, 1, 999, 1_000, 2_500])('renders %i contacts as JSON that parses back', async (n) => {
    const contacts = contactsOf(n, 0, (i) => (i % 3 === 0 ? { crm_id: `crm-${i}`, tags: ['a', i] } : {}));
    const doc = JSON.parse(await text(renderInput(contacts, FIELDS)));
    expect(doc).toEqual({ fields_to_enrich: FIELDS, contacts });
  });
});

describe('streamContacts', () => {
  it('yields the contacts of {"contacts": [...]} in order, however the bytes are chunked', async () => {
    const contacts = contactsOf(250, 0, (i) => ({ note: `ünïcödé ${i} "quoted"` }));
    const json = JSON.stringify({ other: { contacts: ['not these'] }, contacts, after: 1 });
    expect(await collect(chunked(json))).toEqual(contacts);
  });

  it('reads what renderInput writes', async () => {
    const contacts = contactsOf(1_234);
    const rendered = await text(renderInput(contacts, FIELDS));
    expect(await collect(chunked(rendered, [4096, 17]))).toEqual(contacts);
  });

  it('yields nothing for an empty list and fails on broken JSON', async () => {
    expect(await collect(Readable.from(['{"contacts": []}']))).toEqual([]);
    await expect(collect(Readable.from(['{"contacts": [{"first_name": 1'] ))).rejects.toThrow();
  });
});

describe('readInputBatches', () => {
  const requestId = 'req-1';
  async function storeWith(contacts: Contact[]) {
    const store = new MemoryObjectStore();
    await store.upload(keys.input(requestId), renderInput(contacts, FIELDS));
    return store;
  }

  it('returns the contacts of the wanted batches only', async () => {
    const contacts = contactsOf(250);
    const store = await storeWith(contacts);
    const batches = await readInputBatches(store, requestId, 100, new Set([0, 2]));
    expect([...batches.keys()].sort()).toEqual([0, 2]);
    expect(batches.get(0)).toEqual(contacts.slice(0, 100));
    expect(batches.get(2)).toEqual(contacts.slice(200, 250));
  });

  it('uses the given batch size and ignores indexes beyond the input', async () => {
    const contacts = contactsOf(10);
    const store = await storeWith(contacts);
    const batches = await readInputBatches(store, requestId, 3, new Set([1, 3, 9]));
    expect(batches.get(1)).toEqual(contacts.slice(3, 6));
    expect(batches.get(3)).toEqual(contacts.slice(9, 10));
    expect(batches.has(9)).toBe(false);
  });

  it('fails clearly when input.json is missing', async () => {
    await expect(readInputBatches(new MemoryObjectStore(), requestId, 100, new Set([0]))).rejects.toThrow(/input\.json of req-1 is missing/);
  });
});
