import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { CsvError, type Info, type Parser, parse as parseCsv } from 'csv-parse';
import type { Contact, EnrichField } from '../schemas/contact';
import { INPUT_FORMATS } from '../schemas/status';
import { clipText, quoteInput } from '../schemas/text';
import { EnrichmentError } from './errors';
import type { ObjectStore } from './ports';
import { keys } from './status';
import { describeNotUtf8, type NotUtf8, Utf8Check } from './utf8';

/** What a reader says of a byte that is not UTF-8 (its position follows, as InputParseError adds it). */
const notUtf8Message = (bad: NotUtf8) => `not UTF-8: ${describeNotUtf8(bad)}; save the file as UTF-8`;

/** The formats an upload may have (README: Large datasets). */
export { INPUT_FORMATS };
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** A file that is not of its format; `position` says where (`line 12`, `contacts[777]`...). */
export class InputParseError extends EnrichmentError<'input_unparseable'> {
  constructor(
    message: string,
    readonly position: string,
  ) {
    super(`${message} (at ${position})`, { kind: 'input_unparseable' });
    this.name = 'InputParseError';
  }
}

/**
 * The format of an upload: its content type if it names one, else its key's extension; undefined when
 * neither says. `application/octet-stream` and `binary/octet-stream` (what S3 stores when a client sets none)
 * say nothing, so the extension decides.
 */
export function formatOf(key: string, contentType?: string): InputFormat | undefined {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json' || type === 'text/json') return 'json';
  if (
    [
      'application/x-ndjson',
      'application/ndjson',
      'application/jsonl',
      'application/x-jsonlines',
      'application/jsonlines',
    ].includes(type)
  )
    return 'ndjson';
  if (type === 'text/csv' || type === 'application/csv') return 'csv';
  const ext = /\.([a-z]+)$/i.exec(key)?.[1]?.toLowerCase();
  if (ext === 'json') return 'json';
  if (ext === 'ndjson' || ext === 'jsonl') return 'ndjson';
  if (ext === 'csv') return 'csv';
  return undefined;
}

/** Bytes one contact (or CSV record) may take in a file before the file is refused: far above MAX_CONTACT_BYTES. */
const MAX_ELEMENT_CHARS = 1024 * 1024;
/** Characters of a JSON document outside its contacts array that are kept to check its syntax. */
const MAX_OUTER_CHARS = 64 * 1024;

/** The contacts of an upload in its format, one at a time, in file order. Memory is flat in the file's size. */
export async function* streamContactsOf(source: Readable, format: InputFormat): AsyncGenerator<unknown> {
  for await (const run of streamContactRunsOf(source, format)) yield* run;
}

/**
 * The same contacts in runs: those read from one chunk of the source at a time (never empty). A loop over a
 * million contacts then awaits once a chunk instead of once a contact (the intake's passes: ~15% of their time).
 */
export function streamContactRunsOf(source: Readable, format: InputFormat): AsyncGenerator<unknown[]> {
  if (format === 'ndjson') return ndjsonRuns(source);
  if (format === 'csv') return csvRuns(source);
  return jsonContactRuns(source);
}

async function* csvRuns(source: Readable): AsyncGenerator<unknown[]> {
  for await (const contact of streamCsv(source)) yield [contact];
}

/**
 * The elements of the top-level `contacts` array (or `key`'s) of a JSON document. A small scanner finds where each
 * element starts and ends (strings, escapes and nesting tracked across chunks); JSON.parse reads the
 * element. About 8x faster than stream-json's token stream on a 1M-contact file (README: Large datasets).
 * The rest of the document is parsed too, with its contacts array left empty, so a file that is not JSON
 * is refused wherever the fault is.
 */
export async function* streamJsonContacts(source: Readable, key = 'contacts'): AsyncGenerator<unknown> {
  for await (const run of jsonContactRuns(source, key)) yield* run;
}

async function* jsonContactRuns(source: Readable, key = 'contacts'): AsyncGenerator<unknown[]> {
  const quotedKey = JSON.stringify(key);
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  /** 'outer': outside the contacts array; 'array': inside it between elements; 'element': inside one. */
  let mode: 'outer' | 'array' | 'element' = 'outer';
  /** In the array: what may come next. */
  let expect: 'first' | 'comma' | 'element' = 'first';
  let outer = '';
  let element = '';
  let elementStart = 0;
  let index = 0;
  let seenContacts = false;
  let ended = false;
  let lastKey = '';
  let keyStart = -1;
  let keyText = '';
  let expectValueFor = '';
  let first = true;
  const fail = (message: string, where = `line ${line}`): never => {
    throw new InputParseError(message, where);
  };
  const at = () => `line ${line}, ${key}[${index}]`;
  const out: unknown[] = [];
  const feed = (chunk: string): void => {
    let i = 0;
    if (first && chunk.length) {
      if (chunk.charCodeAt(0) === 0xfeff) i = 1;
      first = false;
    }
    let outerFrom = mode === 'outer' ? i : -1;
    const flushOuter = (to: number) => {
      if (outerFrom >= 0) outer += chunk.slice(outerFrom, to);
      outerFrom = -1;
      if (outer.length > MAX_OUTER_CHARS) fail('the document holds too much besides its contacts');
    };
    if (mode === 'element') elementStart = i;
    const end = chunk.length;
    // The next backslash and line feed in this chunk (end: none): a string's text is passed up to its next quote or
    // backslash at once, counting the line feeds in it, not character by character.
    let nextBackslash = -1;
    let nextLf = -1;
    for (; i < end; i++) {
      const c = chunk.charCodeAt(i);
      if (inString) {
        if (escaped) {
          escaped = false;
          if (c === 10) line += 1;
        } else if (c === 92) escaped = true;
        else if (c === 34) {
          inString = false;
          if (keyStart >= 0) {
            lastKey = keyText + chunk.slice(keyStart, i + 1);
            keyStart = -1;
          }
        } else {
          let stop = chunk.indexOf('"', i + 1);
          if (stop < 0) stop = end;
          if (nextBackslash <= i) {
            nextBackslash = chunk.indexOf('\\', i + 1);
            if (nextBackslash < 0) nextBackslash = end;
          }
          if (nextBackslash < stop) stop = nextBackslash;
          if (nextLf < i) {
            nextLf = chunk.indexOf('\n', i);
            if (nextLf < 0) nextLf = end;
          }
          while (nextLf < stop) {
            line += 1;
            nextLf = chunk.indexOf('\n', nextLf + 1);
            if (nextLf < 0) nextLf = end;
          }
          i = stop - 1;
        }
        continue;
      }
      if (c === 10) line += 1;
      const space = c === 32 || c === 10 || c === 13 || c === 9;
      if (mode === 'array') {
        if (space) continue;
        if (c === 44) {
          if (expect !== 'comma') fail(`unexpected "," in the ${key} array`, at());
          expect = 'element';
          continue;
        }
        if (c === 93) {
          if (expect === 'element') fail(`a "," before the end of the ${key} array`, at());
          mode = 'outer';
          depth -= 1;
          outerFrom = i; // "]" stays in the outer text: it reads `"contacts":[]`
          continue;
        }
        mode = 'element';
        elementStart = i;
        element = '';
      }
      if (mode === 'element') {
        if (c === 34) inString = true;
        else if (c === 123 || c === 91) depth += 1;
        else if (c === 125 || c === 93 || c === 44) {
          if (depth === 2 && c !== 125) {
            // The element ends at the array's level: parse it, then let array mode read the "," or "]".
            element += chunk.slice(elementStart, i);
            try {
              out.push(JSON.parse(element));
            } catch (err) {
              fail(`${key}[${index}] is not valid JSON: ${(err as Error).message}`, at());
            }
            index += 1;
            element = '';
            mode = 'array';
            expect = 'comma';
            i -= 1;
            continue;
          }
          if (c !== 44) depth -= 1;
        }
        continue;
      }
      // The document outside the contacts array.
      if (space) continue;
      if (depth === 1 && expectValueFor) {
        const isContacts = expectValueFor === quotedKey;
        expectValueFor = '';
        if (isContacts) {
          if (seenContacts) fail(`${quotedKey} is given twice`);
          seenContacts = true;
          if (c !== 91) fail(`${quotedKey} must be an array`);
          flushOuter(i + 1);
          depth += 1;
          mode = 'array';
          expect = 'first';
          continue;
        }
        if (c === 34) {
          inString = true; // a string value, not a key
          continue;
        }
      }
      if (c === 34) {
        inString = true;
        if (depth === 1) {
          keyStart = i;
          keyText = '';
        }
      } else if (c === 58 && depth === 1) expectValueFor = lastKey;
      else if (c === 123 || c === 91) depth += 1;
      else if (c === 125 || c === 93) {
        depth -= 1;
        if (depth === 0) ended = true;
      }
    }
    if (inString && keyStart >= 0) {
      // A property name cut by the chunk's end goes on at the start of the next chunk.
      keyText += chunk.slice(keyStart);
      keyStart = 0;
      if (keyText.length > MAX_OUTER_CHARS) fail('a property name is too long');
    }
    if (mode === 'element') {
      element += chunk.slice(elementStart);
      if (element.length > MAX_ELEMENT_CHARS)
        fail(`${key}[${index}] is larger than ${MAX_ELEMENT_CHARS} characters`, at());
    }
    flushOuter(chunk.length);
  };
  const utf8 = new Utf8Check();
  const notUtf8 = (bad: NotUtf8) => fail(notUtf8Message(bad), mode === 'outer' ? `line ${line}` : at());
  for await (const chunk of source) {
    if (typeof chunk === 'string') feed(chunk);
    else {
      const { bytes, bad } = utf8.write(chunk as Buffer);
      // The text before a byte that is not UTF-8 is read first: an error there comes first, and the line is known.
      feed(bytes.toString('utf8'));
      if (bad) {
        if (out.length) yield out.splice(0);
        notUtf8(bad);
      }
    }
    if (out.length) yield out.splice(0);
  }
  const bad = utf8.end();
  if (bad) notUtf8(bad);
  if (mode !== 'outer' || inString || !ended || depth !== 0)
    fail('the document ends too early', `end of file, line ${line}`);
  let doc: unknown;
  try {
    doc = JSON.parse(outer);
  } catch (err) {
    fail(`not valid JSON of the form {${quotedKey}: [...]}: ${(err as Error).message}`, `outside the ${key} array`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    fail(`the document must be a JSON object {${quotedKey}: [...]}`, 'line 1');
  if (!seenContacts) fail(`the document has no ${quotedKey} array`, 'top level');
}

/** The contacts of a `{"contacts": [...]}` JSON file (as streamContactsOf(source, 'json')). */
export const streamContacts = (source: Readable): AsyncGenerator<unknown> => streamJsonContacts(source);

/**
 * One contact object per line; blank lines are skipped. Lines end at LF, CRLF or a lone CR (as readline splits
 * them); a line is refused as soon as it is longer than MAX_ELEMENT_CHARS, without being read whole.
 */
export async function* streamNdjson(source: Readable): AsyncGenerator<unknown> {
  for await (const run of ndjsonRuns(source)) yield* run;
}

async function* ndjsonRuns(source: Readable): AsyncGenerator<unknown[]> {
  const utf8 = new Utf8Check();
  const breaks = /\r\n|\n|\r/g;
  let line = 0;
  let index = 0;
  /** The text after the last line break. */
  let rest = '';
  const here = () => `line ${line + 1}, contacts[${index}]`;
  const parseLine = (text: string): { value?: unknown } => {
    if (line === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.length > MAX_ELEMENT_CHARS)
      throw new InputParseError(`the line is larger than ${MAX_ELEMENT_CHARS} characters`, here());
    if (!text.trim()) return {};
    try {
      return { value: JSON.parse(text) };
    } catch (err) {
      throw new InputParseError(`not valid JSON: ${(err as Error).message}`, here());
    }
  };
  /** The values of the whole lines in `rest` + `text`; `last`: the text ends the file (or the readable part of it). */
  const lines = function* (text: string, last: boolean): Generator<unknown> {
    let from = 0;
    if (!text.includes('\r') && !rest.endsWith('\r')) {
      // The usual case, LF only: indexOf, and no text copied but each line.
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', from)) {
        const { value } = parseLine(from === 0 && rest ? rest + text.slice(0, i) : text.slice(from, i));
        rest = '';
        line += 1;
        from = i + 1;
        if (value !== undefined) {
          index += 1;
          yield value;
        }
      }
      rest = from === 0 ? rest + text : text.slice(from);
    } else {
      rest += text;
      breaks.lastIndex = 0;
      for (let m = breaks.exec(rest); m; m = breaks.exec(rest)) {
        // A CR at the end may be the first half of a CRLF: wait for the next chunk.
        if (m[0] === '\r' && m.index === rest.length - 1 && !last) break;
        const { value } = parseLine(rest.slice(from, m.index));
        line += 1;
        from = m.index + m[0].length;
        if (value !== undefined) {
          index += 1;
          yield value;
        }
      }
      rest = rest.slice(from);
    }
    if (rest.length > MAX_ELEMENT_CHARS)
      throw new InputParseError(`the line is larger than ${MAX_ELEMENT_CHARS} characters`, here());
  };
  const notUtf8 = (bad: NotUtf8) => new InputParseError(notUtf8Message(bad), here());
  /** The values of `lines(text, last)` as one run; the lines before a faulty one come out before its error. */
  const run: unknown[] = [];
  const collect = (text: string, last: boolean): InputParseError | undefined => {
    try {
      for (const value of lines(text, last)) run.push(value);
    } catch (err) {
      if (err instanceof InputParseError) return err;
      throw err;
    }
    return undefined;
  };
  for await (const chunk of source) {
    if (typeof chunk === 'string') {
      const err = collect(chunk, false);
      if (run.length) yield run.splice(0);
      if (err) throw err;
      continue;
    }
    const { bytes, bad } = utf8.write(chunk as Buffer);
    // The lines before a byte that is not UTF-8 are read first: an error there comes first, and the line is known.
    let err = collect(bytes.toString('utf8'), false);
    if (!err && bad && rest.endsWith('\r')) err = collect('', true);
    if (run.length) yield run.splice(0);
    if (err) throw err;
    if (bad) throw notUtf8(bad);
  }
  const bad = utf8.end();
  if (bad) throw notUtf8(bad);
  const err = collect('', true);
  if (run.length) yield run.splice(0);
  if (err) throw err;
  if (rest) {
    const { value } = parseLine(rest);
    rest = '';
    if (value !== undefined) yield [value];
  }
}

/**
 * Every code csv-parse (6.x) raises a CsvError with, read from its source: the test checks the list against it.
 * Only the first five can come from a file with the options streamCsv uses; the rest are option, argument and
 * column-definition errors, which a file cannot cause. Every one of them still becomes a parse error.
 */
export const CSV_ERROR_CODES = [
  'INVALID_OPENING_QUOTE',
  'CSV_INVALID_CLOSING_QUOTE',
  'CSV_QUOTE_NOT_CLOSED',
  'CSV_RECORD_INCONSISTENT_COLUMNS',
  'CSV_MAX_RECORD_SIZE',
  'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE',
  'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH',
  'CSV_INVALID_COLUMN_MAPPING',
  'CSV_INVALID_COLUMN_DEFINITION',
  'CSV_OPTION_COLUMNS_MISSING_NAME',
  'CSV_INVALID_ARGUMENT',
  'CSV_INVALID_OPTION_ENCODING',
  'CSV_INVALID_OPTION_BOM',
  'CSV_INVALID_OPTION_CAST',
  'CSV_INVALID_OPTION_CAST_DATE',
  'CSV_INVALID_OPTION_COLUMNS',
  'CSV_INVALID_OPTION_GROUP_COLUMNS_BY_NAME',
  'CSV_INVALID_OPTION_COMMENT',
  'CSV_INVALID_OPTION_DELIMITER',
  'CSV_INVALID_OPTION_IGNORE_LAST_DELIMITERS',
  'CSV_IGNORE_LAST_DELIMITERS_REQUIRES_COLUMNS',
  'CSV_INVALID_OPTION_ON_RECORD',
  'CSV_INVALID_OPTION_RECORD_DELIMITER',
] as const;

const QUOTE_HINT =
  'quote the field as RFC 4180 says: wrap it in double quotes and double each quote inside it (5" screen → "5"" screen")';

/**
 * A CsvError as a parse error naming the line and the contact (`line 1 (the header)` before the header is read),
 * with what to do about it.
 */
export function csvParseError(err: CsvError, headerRead: boolean): InputParseError {
  const e = err as CsvError & {
    lines?: number;
    records?: number;
    column?: unknown;
    field?: unknown;
    record?: unknown;
    columns?: unknown;
  };
  /** ` (column "x", more)`: the column, if csv-parse knows it, and more. */
  const where = (more = '') => {
    const parts = [typeof e.column === 'string' ? `column ${quoteInput(e.column)}` : '', more].filter(Boolean);
    return parts.length ? ` (${parts.join(', ')})` : '';
  };
  const column = where();
  const line = `line ${e.lines ?? '?'}`;
  const position = headerRead ? `${line}, contacts[${e.records ?? '?'}]` : `${line} (the header)`;
  let message: string;
  switch (err.code) {
    case 'INVALID_OPENING_QUOTE':
      message = `a double quote inside a field that is not quoted${where(typeof e.field === 'string' ? `after ${quoteInput(e.field)}` : '')}: ${QUOTE_HINT}`;
      break;
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      message = `a quoted field${column} goes on after its closing quote: ${QUOTE_HINT}`;
      break;
    case 'CSV_QUOTE_NOT_CLOSED':
      message = `a quoted field${column} is never closed: the file ends inside it (${line}); ${QUOTE_HINT}`;
      break;
    case 'CSV_RECORD_INCONSISTENT_COLUMNS':
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const cells = Array.isArray(e.record) ? `${e.record.length} cells` : 'a different number of cells';
      const header = Array.isArray(e.columns) ? `${e.columns.length}` : 'another number';
      message = `the row has ${cells} where the header has ${header}: give every row one cell per header column, and quote a cell that holds a comma`;
      break;
    }
    case 'CSV_MAX_RECORD_SIZE':
      message = `the row is larger than ${MAX_ELEMENT_CHARS} characters (a quoted field that is never closed runs on like this)`;
      break;
    default:
      message = clipText(err.message, 300);
  }
  return new InputParseError(`not valid CSV: ${message}`, position);
}

/** What a column with no name in the header is read as: no header can name it (headers are trimmed). */
const UNNAMED = ' unnamed ';

/**
 * The header's names, trimmed. Refused: a name given twice, also with other spacing or case (`first_name` and
 * ` First_Name`): which one a contact should get is anyone's guess. A column with no name is kept as UNNAMED: it is
 * refused once a row gives it a value, and ignored while every row leaves it empty (a trailing comma on every line).
 */
function headerNames(header: string[], line: number): string[] {
  const names = header.map((h) => h.trim());
  const seen = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    if (!name) continue;
    const key = name.toLowerCase();
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, i);
      continue;
    }
    const variants =
      names[first] === name
        ? ''
        : ` (${quoteInput(names[first])} and ${quoteInput(name)}; names are compared ignoring case)`;
    throw new InputParseError(
      `not valid CSV: the header names ${quoteInput(names[first])} twice: columns ${first + 1} and ${i + 1}${variants}; give each column one name`,
      `line ${line} (the header)`,
    );
  }
  return names.map((name, i) => name || `${UNNAMED}${i + 1}`);
}

/**
 * Passes on the bytes of a CSV file up to the first byte that is not UTF-8 (csv-parse would decode it as U+FFFD),
 * then ends, as if the file ended there, and keeps that byte in `bad`. csv-parse reads the bytes before it, so
 * its own counts tell the line and the contact of the byte.
 */
class Utf8Gate extends Transform {
  bad?: NotUtf8 & { afterLineBreak: boolean };
  private readonly check = new Utf8Check();
  private lastByte = -1;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.bad) {
      done(); // the rest of the file is not read
      return;
    }
    const { bytes, bad } = this.check.write(chunk);
    if (bytes.length) this.lastByte = bytes[bytes.length - 1];
    if (bad) this.stopAt(bad);
    if (bytes.length) this.push(bytes);
    if (bad) this.push(null);
    done();
  }

  override _flush(done: TransformCallback): void {
    const bad = this.bad ? undefined : this.check.end();
    if (bad) this.stopAt(bad);
    done();
  }

  private stopAt(bad: NotUtf8): void {
    this.bad = { ...bad, afterLineBreak: this.lastByte === 10 || this.lastByte === 13 };
  }
}

/**
 * CSV with a header row (csv-parse: RFC 4180 quoting, CRLF or LF, a UTF-8 BOM). Every column becomes a
 * string property named by its header (headerNames); an empty cell is left out (a missing value, as in JSON).
 * Whatever csv-parse finds wrong is a parse error naming the line (csvParseError), and so is a byte that is not
 * UTF-8 (Utf8Gate); an error of the source (a failed read) is thrown as it is.
 */
export async function* streamCsv(source: Readable): AsyncGenerator<unknown> {
  let headerRead = false;
  const gate = new Utf8Gate();
  /** The file was cut at a byte that is not UTF-8, and csv-parse's last record (ending at `bytes`) is the cut one. */
  const cutAt = (bytes: number | undefined) =>
    gate.bad !== undefined && (bytes ?? 0) >= gate.bad.offset && !gate.bad.afterLineBreak;
  const notUtf8 = (position: string) => new InputParseError(notUtf8Message(gate.bad!), position);
  const parser: Parser = source.pipe(gate).pipe(
    parseCsv({
      bom: true,
      columns: (header: string[]): string[] => {
        if (cutAt(parser.info.bytes)) throw notUtf8(`line ${parser.info.lines} (the header)`);
        headerRead = true;
        return headerNames(header, parser.info.lines);
      },
      skip_empty_lines: true,
      max_record_size: MAX_ELEMENT_CHARS,
    }),
  );
  // Each record goes out with the line it ends on and the bytes read up to its end, as csv-parse's counts say when
  // it pushes the record (its `info` option gives them too, at 3x the time of the whole read).
  const push = parser.push.bind(parser);
  parser.push = (record: unknown) =>
    push(record === null ? null : { record, info: { lines: parser.info.lines, bytes: parser.info.bytes } });
  source.on('error', (err) => parser.destroy(err));
  let index = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: Pick<Info, 'lines' | 'bytes'>;
    }>) {
      if (cutAt(info.bytes)) throw notUtf8(`line ${info.lines}, contacts[${index}]`);
      const contact: Record<string, string> = {};
      for (const [k, v] of Object.entries(record)) {
        if (v === '') continue;
        if (k.startsWith(UNNAMED))
          throw new InputParseError(
            `not valid CSV: column ${k.slice(UNNAMED.length)} has no name in the header but this row gives it a value (${quoteInput(v)}); name the column in the header`,
            `line ${info.lines}, contacts[${index}]`,
          );
        contact[k] = v;
      }
      index += 1;
      yield contact;
    }
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    // The cut record, read as if the file ended there, may be an unclosed quote or a short row: it is the byte's.
    const e = err as CsvError & { bytes?: number; lines?: number; records?: number };
    if (gate.bad && (err.code === 'CSV_QUOTE_NOT_CLOSED' || cutAt(e.bytes)))
      throw notUtf8(headerRead ? `line ${e.lines}, contacts[${e.records}]` : `line ${e.lines} (the header)`);
    // csv-parse reads ahead of this loop: its own counts (in the error) say which line and contact failed.
    throw csvParseError(err, headerRead);
  }
  if (gate.bad) throw notUtf8(headerRead ? `line ${parser.info.lines}, contacts[${index}]` : 'line 1 (the header)');
}

/** input.json as text: `{"fields_to_enrich":[…],"contacts":[…]}`, one contact per line. */
export async function* renderInput(
  contacts: readonly Contact[],
  fields: readonly EnrichField[],
): AsyncGenerator<string> {
  yield `{"fields_to_enrich":${JSON.stringify(fields)},"contacts":[`;
  const PER_CHUNK = 1000;
  for (let i = 0; i < contacts.length; i += PER_CHUNK) {
    const part = contacts.slice(i, i + PER_CHUNK).map((c) => JSON.stringify(c));
    yield (i === 0 ? '\n' : ',\n') + part.join(',\n');
  }
  yield '\n]}\n';
}

/** Where a request's contacts are read back from: input.json (inline requests) or the upload (references). */
export interface InputSource {
  key: string;
  format: InputFormat;
}

/**
 * Reads the contacts of the wanted batches back from a request's input: input.json for an inline request,
 * the upload itself, in its format, for a reference (the status item's inputFileKey and inputFormat).
 * The contacts come back as validated before (the upload is immutable and passed validation).
 */
export async function readInputBatches(
  store: ObjectStore,
  input: InputSource,
  batchSize: number,
  wanted: ReadonlySet<number>,
): Promise<Map<number, Contact[]>> {
  const out = new Map<number, Contact[]>();
  const body = await store.getStream(input.key);
  if (!body) throw new Error(`the input ${input.key} is missing`);
  const last = Math.max(-1, ...wanted);
  let index = 0;
  for await (const contact of streamContactsOf(body, input.format)) {
    const batch = Math.floor(index / batchSize);
    if (batch > last) {
      body.destroy();
      break;
    }
    if (wanted.has(batch)) {
      const list = out.get(batch) ?? [];
      list.push(contact as Contact);
      out.set(batch, list);
    }
    index += 1;
  }
  return out;
}

/** A request's input as its status item names it (records from before inputFormat existed: input.json). */
export const inputOf = (record: {
  requestId: string;
  inputFileKey?: string;
  inputFormat?: InputFormat;
}): InputSource => ({
  key: record.inputFileKey ?? keys.input(record.requestId),
  format: record.inputFormat ?? 'json',
});
