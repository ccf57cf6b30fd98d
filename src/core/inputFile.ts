import type { Readable } from 'node:stream';
import { chain } from 'stream-chain';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/Pick';
import { streamArray } from 'stream-json/streamers/StreamArray';
import { streamValues } from 'stream-json/streamers/StreamValues';
import type { Contact, EnrichField } from '../schemas/contact';
import type { ObjectStore } from './ports';
import { keys } from './status';

/** Streams the elements of the top-level `contacts` array of a JSON document, one at a time. */
export async function* streamContacts(source: Readable): AsyncGenerator<unknown> {
  const pipeline = chain([source, parser(), pick({ filter: 'contacts' }), streamArray()]);
  for await (const item of pipeline as AsyncIterable<{ key: number; value: unknown }>) yield item.value;
}

/**
 * The top-level `contacts` value of an uploaded JSON document, or undefined when it has none. With the
 * key given twice the last one wins, as JSON.parse does for an inline body.
 */
export async function readUploadedContacts(source: Readable): Promise<unknown> {
  const pipeline = chain([source, parser(), pick({ filter: 'contacts' }), streamValues()]);
  let last: unknown;
  for await (const item of pipeline as AsyncIterable<{ key: number; value: unknown }>) last = item.value;
  return last;
}

/** input.json as text: `{"fields_to_enrich":[…],"contacts":[…]}`, one contact per line. */
export async function* renderInput(contacts: readonly Contact[], fields: readonly EnrichField[]): AsyncGenerator<string> {
  yield `{"fields_to_enrich":${JSON.stringify(fields)},"contacts":[`;
  const PER_CHUNK = 1000;
  for (let i = 0; i < contacts.length; i += PER_CHUNK) {
    const part = contacts.slice(i, i + PER_CHUNK).map((c) => JSON.stringify(c));
    yield (i === 0 ? '\n' : ',\n') + part.join(',\n');
  }
  yield '\n]}\n';
}

/** Reads the contacts of the wanted batches back from a request's input.json. */
export async function readInputBatches(
  store: ObjectStore,
  requestId: string,
  batchSize: number,
  wanted: ReadonlySet<number>,
): Promise<Map<number, Contact[]>> {
  const out = new Map<number, Contact[]>();
  const body = await store.getStream(keys.input(requestId));
  if (!body) throw new Error(`input.json of ${requestId} is missing`);
  let index = 0;
  for await (const contact of streamContacts(body)) {
    const batch = Math.floor(index / batchSize);
    if (wanted.has(batch)) {
      const list = out.get(batch) ?? [];
      list.push(contact as Contact);
      out.set(batch, list);
    }
    index += 1;
  }
  return out;
}
