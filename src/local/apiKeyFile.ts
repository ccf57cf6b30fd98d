import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The key `npm start` generates when it is given none, kept in a file so that it stays the same across restarts
 * (README.md: Try it), and read back by the scripts and bin/ wrappers when API_KEY is unset and they talk to the local
 * stack. No environment is read here: `npm start` and the scripts each read LOCAL_API_KEY_FILE themselves.
 */

/** `.local/api-key` at the repository root (git-ignored), wherever the command runs from. */
export const DEFAULT_KEY_FILE = path.resolve(__dirname, '../..', '.local', 'api-key');

/** What a kept key may look like: one line of URL-safe characters, as generated keys and API Gateway's are. */
const KEY_PATTERN = /^[A-Za-z0-9._~+/=-]{8,256}$/;

/** The key file's location: LOCAL_API_KEY_FILE's value (relative to the working directory), else the default. */
export function keyFilePath(configured: string | undefined): string {
  return configured ? path.resolve(configured) : DEFAULT_KEY_FILE;
}

/** Why `text` (the file's content) is not a usable key, or undefined when it is. */
function problemWith(text: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return 'it is empty';
  if (lines.length > 1) return 'it has more than one line';
  if (!KEY_PATTERN.test(lines[0].trim())) return 'its line is not a key of 8 to 256 letters, digits or -._~+/=';
  return undefined;
}

export type KeyFileRead =
  | { state: 'ok'; key: string }
  | { state: 'missing' }
  | { state: 'malformed'; problem: string }
  | { state: 'unreadable'; problem: string };

/** The key in `file`, or why there is none. */
export function readKeyFile(file: string): KeyFileRead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'missing' };
    return { state: 'unreadable', problem: code ?? (err as Error).message };
  }
  const problem = problemWith(text);
  return problem ? { state: 'malformed', problem } : { state: 'ok', key: text.trim() };
}

/** The key in `file` when it holds one, else undefined (the scripts: no key, as before there was a file). */
export function keptKey(file: string): string | undefined {
  const read = readKeyFile(file);
  return read.state === 'ok' ? read.key : undefined;
}

export const generateKey = () => `local-${randomBytes(12).toString('hex')}`;

/** Writes `key` to `file`, readable by its owner only, through a temporary file so no reader sees half a key. */
function writeKeyFile(file: string, key: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${key}\n`, { mode: 0o600 });
  // The mode given to writeFileSync is filtered by the umask; the key is the owner's alone whatever it is.
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export interface KeptKey {
  key: string;
  /** `reused`: the file's key; `created`: a new key, the file was missing; `replaced`: the file was malformed. */
  how: 'reused' | 'created' | 'replaced';
  /** Why the file's content was replaced (`replaced` only). */
  problem?: string;
}

/**
 * `npm start` with no API_KEY: the key kept in `file`, or a new one written there. A malformed file (empty, several
 * lines, not a key) is replaced by a new key, and the caller says so; an unreadable one (a directory, no
 * permission) is an error, as overwriting it could destroy something that is not ours.
 */
export function keepLocalKey(file: string, generate: () => string = generateKey): KeptKey {
  const read = readKeyFile(file);
  if (read.state === 'ok') return { key: read.key, how: 'reused' };
  if (read.state === 'unreadable') throw new Error(`cannot read the API key file ${file}: ${read.problem}`);
  const key = generate();
  writeKeyFile(file, key);
  return read.state === 'missing' ? { key, how: 'created' } : { key, how: 'replaced', problem: read.problem };
}

/** Whether `url` is the local stack (localhost, 127.0.0.1, [::1]): the only place the kept key is ever sent. */
export function isLocalUrl(url: string): boolean {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return false;
  }
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}
