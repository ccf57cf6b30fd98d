/**
 * What the service accepts as text and structure in a contact, and how user input is quoted in error
 * messages. Every rule here is checked before anything is written or serialized (docs/api.md: Hostile input).
 */

/** An extra contact property may nest objects and arrays this many levels deep, no more. */
export const MAX_PROPERTY_DEPTH = 32;

/** Error messages quote at most this many characters of user input. */
const MAX_QUOTED_CHARS = 100;

/**
 * Characters no part of the pipeline can carry unchanged: control characters other than tab, LF and CR
 * (C0, DEL, C1), noncharacters (U+FFFE, U+FFFF, U+FDD0..U+FDEF and the last two of every plane: SQS refuses
 * U+FFFE/U+FFFF), and lone surrogates (not encodable as UTF-8: S3 and SQS would turn them into U+FFFD).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose
const UNSAFE_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\p{Noncharacter_Code_Point}\p{Surrogate}]/u;

/** A character someone can see: not whitespace, not a format or default-ignorable character (zero-width space, …). */
const VISIBLE_CHAR = /[^\s\p{Z}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why a string cannot be accepted, or undefined when it can. */
export function unsafeCharIn(text: string): string | undefined {
  const m = UNSAFE_CHAR.exec(text);
  if (!m) return undefined;
  const kind = /\p{Surrogate}/u.test(m[0])
    ? 'a lone surrogate'
    : /\p{Noncharacter_Code_Point}/u.test(m[0])
      ? 'a noncharacter'
      : 'a control character';
  return `contains ${codePoint(m[0])} (${kind}) at position ${m.index}, which cannot be stored or sent`;
}

export const hasVisibleChar = (text: string): boolean => VISIBLE_CHAR.test(text);

/** Every non-ASCII character as a `\u` escape (surrogate pairs as two): the text is 7-bit and JSON.parse reads it back unchanged. */
export function escapeNonAscii(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Text that holds user input, as an error message may show it: ASCII-safe (JSON escapes), at most `max` characters of it. */
export function clipText(text: string, max = MAX_QUOTED_CHARS): string {
  const chars = Array.from(text);
  const shown = escapeNonAscii(JSON.stringify(chars.slice(0, max).join(''))).slice(1, -1);
  return chars.length > max ? `${shown}... (${chars.length} characters)` : shown;
}

/** User input as an error message may show it: quoted, ASCII-safe, at most MAX_QUOTED_CHARS characters of it. */
export function quoteInput(value: unknown): string {
  if (typeof value === 'string') {
    const chars = Array.from(value);
    const shown = escapeNonAscii(JSON.stringify(chars.slice(0, MAX_QUOTED_CHARS).join('')));
    return chars.length > MAX_QUOTED_CHARS ? `${shown}... (${chars.length} characters)` : shown;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean') return quoteInput(String(value)).slice(1, -1);
  return typeof value;
}

export interface ValueProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * The first problem in a JSON value: a string or property name with a character from UNSAFE_CHAR, or
 * objects/arrays nested deeper than `maxDepth` (`{"a": {}}`: the object under `a` is level 1). A depth
 * problem is reported at the top-level property that holds it.
 * Iterative, so a value nested 100,000 levels deep costs `maxDepth` steps down, not a stack overflow.
 */
export function findValueProblem(value: unknown, maxDepth: number): ValueProblem | undefined {
  const stack: Array<{ value: unknown; path: PropertyKey[] }> = [{ value, path: [] }];
  while (stack.length) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const bad = unsafeCharIn(v);
      if (bad) return { path, message: bad };
    } else if (typeof v === 'object' && v !== null) {
      if (path.length > maxDepth) {
        return {
          path: path.slice(0, 1),
          message: `nested more than ${maxDepth} levels deep (objects and arrays may nest at most ${maxDepth} levels)`,
        };
      }
      const entries = Array.isArray(v) ? v.map((item, i) => [i, item] as const) : Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i];
        if (typeof key === 'string') {
          const bad = unsafeCharIn(key);
          if (bad) return { path: [...path, key], message: `property name ${bad}` };
        }
        stack.push({ value: item, path: [...path, key] });
      }
    }
  }
  return undefined;
}
