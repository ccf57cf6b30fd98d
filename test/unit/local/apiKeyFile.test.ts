import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_KEY_FILE,
  isLocalUrl,
  keepLocalKey,
  keptKey,
  keyFilePath,
  readKeyFile,
} from '../../../src/local/apiKeyFile';
import { apiKeyHeader } from '../../../src/scripts/lib/api';

const ROOT = path.resolve(__dirname, '../../..');

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'api-key-file-'));
  file = path.join(dir, 'sub', 'api-key');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const nextKey = () => `local-${String(++n).padStart(24, '0')}`;

describe('keepLocalKey (npm start with no API_KEY)', () => {
  it('creates the file (and its folder) with a new key, mode 0600, then reuses it', () => {
    const first = keepLocalKey(file, nextKey);
    expect(first).toEqual({ key: expect.stringMatching(/^local-\d{24}$/), how: 'created' });
    expect(readFileSync(file, 'utf8')).toBe(`${first.key}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o077).toBe(0);

    expect(keepLocalKey(file, nextKey)).toEqual({ key: first.key, how: 'reused' });
    expect(readFileSync(file, 'utf8')).toBe(`${first.key}\n`);
  });

  it('generates local-<24 hex> keys by default, a new one each time', () => {
    const a = keepLocalKey(file).key;
    rmSync(file);
    const b = keepLocalKey(file).key;
    expect(a).toMatch(/^local-[0-9a-f]{24}$/);
    expect(b).toMatch(/^local-[0-9a-f]{24}$/);
    expect(a).not.toBe(b);
  });

  it('is 0600 whatever the umask', () => {
    const old = process.umask(0o277);
    try {
      keepLocalKey(file, nextKey);
    } finally {
      process.umask(old);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('reuses a key someone wrote by hand, surrounding blank lines and spaces ignored', () => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '\n  my-own-key.0001  \n\n');
    expect(keepLocalKey(file, nextKey)).toEqual({ key: 'my-own-key.0001', how: 'reused' });
  });

  it.each([
    ['', 'it is empty'],
    ['  \n\n', 'it is empty'],
    ['local-aaaaaaaa\nlocal-bbbbbbbb\n', 'it has more than one line'],
    ['two words here\n', 'its line is not a key'],
    ['short\n', 'its line is not a key'],
    ['ключ-ключ-ключ\n', 'its line is not a key'],
  ])('replaces a malformed file (%j) with a new key and says why', (content, problem) => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content, { mode: 0o644 });
    const kept = keepLocalKey(file, nextKey);
    expect(kept).toEqual({ key: expect.stringMatching(/^local-/), how: 'replaced', problem: expect.any(String) });
    expect(kept.problem).toContain(problem);
    expect(readFileSync(file, 'utf8')).toBe(`${kept.key}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('refuses a path it cannot read rather than overwrite it', () => {
    mkdirSync(file, { recursive: true }); // a directory where the file should be
    expect(() => keepLocalKey(file, nextKey)).toThrow(/cannot read the API key file .*EISDIR/);
    expect(readKeyFile(file)).toEqual({ state: 'unreadable', problem: 'EISDIR' });
  });

  it('leaves no temporary file behind', () => {
    keepLocalKey(file, nextKey);
    expect(readdirSync(path.dirname(file))).toEqual(['api-key']);
  });
});

describe('keyFilePath', () => {
  it('is .local/api-key at the repository root unless LOCAL_API_KEY_FILE says otherwise (relative to the cwd)', () => {
    expect(DEFAULT_KEY_FILE).toBe(path.join(ROOT, '.local', 'api-key'));
    expect(keyFilePath(undefined)).toBe(DEFAULT_KEY_FILE);
    expect(keyFilePath('')).toBe(DEFAULT_KEY_FILE);
    expect(keyFilePath('/tmp/k')).toBe('/tmp/k');
    expect(keyFilePath('k')).toBe(path.join(process.cwd(), 'k'));
  });

  it('.local/ is git-ignored', () => {
    expect(() => execFileSync('git', ['check-ignore', '-q', '.local/api-key'], { cwd: ROOT })).not.toThrow();
  });
});

describe('isLocalUrl: where the kept key may go', () => {
  it.each([
    ['http://localhost:3000', true],
    ['http://localhost', true],
    ['http://127.0.0.1:4000/', true],
    ['http://[::1]:3000', true],
    ['https://abc123.execute-api.us-east-1.amazonaws.com/dev', false],
    ['http://localhost.example.com:3000', false],
    ['http://localhost@example.com/', false],
    ['http://192.168.1.10:3000', false],
    ['not a url', false],
  ])('%s: %s', (url, local) => {
    expect(isLocalUrl(url)).toBe(local);
  });
});

describe("the scripts' x-api-key (src/scripts/lib/api.ts)", () => {
  beforeEach(() => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'local-kept-key-0001\n');
  });

  it('API_KEY wins, wherever the request goes', () => {
    const env = { API_KEY: 'mine-0001', LOCAL_API_KEY_FILE: file };
    expect(apiKeyHeader('http://localhost:3000', env)).toEqual({ 'x-api-key': 'mine-0001' });
    expect(apiKeyHeader('https://api.example.com/prod', env)).toEqual({ 'x-api-key': 'mine-0001' });
  });

  it('without API_KEY: the kept key to the local stack, nothing to a deployed stage', () => {
    const env = { LOCAL_API_KEY_FILE: file };
    expect(apiKeyHeader('http://localhost:3000/enrichment', env)).toEqual({ 'x-api-key': 'local-kept-key-0001' });
    expect(apiKeyHeader('http://127.0.0.1:3000', env)).toEqual({ 'x-api-key': 'local-kept-key-0001' });
    expect(apiKeyHeader('https://abc.execute-api.us-east-1.amazonaws.com/prod/enrichment', env)).toEqual({});
    // The default target is API_URL (unset: the local stack).
    expect(apiKeyHeader(undefined, env)).toEqual({ 'x-api-key': 'local-kept-key-0001' });
    expect(apiKeyHeader(undefined, { ...env, API_URL: 'https://api.example.com/prod' })).toEqual({});
  });

  it('no file, or a malformed one: no key (the API answers 403, as before there was a file)', () => {
    expect(apiKeyHeader('http://localhost:3000', { LOCAL_API_KEY_FILE: path.join(dir, 'none') })).toEqual({});
    writeFileSync(file, 'a\nb\n');
    expect(keptKey(file)).toBeUndefined();
    expect(apiKeyHeader('http://localhost:3000', { LOCAL_API_KEY_FILE: file })).toEqual({});
  });
});

describe('bin/lib.sh: the same rules in shell', () => {
  /** The key lib.sh settles on for `env`, as bin/*.sh would send it. */
  const shellKey = (env: Record<string, string>) =>
    execFileSync('bash', ['-c', `source "${path.join(ROOT, 'bin/lib.sh')}"; printf %s "$API_KEY"`], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    });

  beforeEach(() => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '  local-kept-key-0001 \n\n');
  });

  it('sends API_KEY when set, else the kept key, to the local stack only', () => {
    expect(shellKey({ API_KEY: 'mine-0001', LOCAL_API_KEY_FILE: file })).toBe('mine-0001');
    expect(shellKey({ LOCAL_API_KEY_FILE: file })).toBe('local-kept-key-0001'); // API_URL unset: localhost
    for (const url of ['http://localhost:3000', 'http://127.0.0.1:4000/', 'http://[::1]:3000'])
      expect(shellKey({ API_URL: url, LOCAL_API_KEY_FILE: file })).toBe('local-kept-key-0001');
    for (const url of [
      'https://abc.execute-api.us-east-1.amazonaws.com/dev',
      'http://localhost.example.com:3000',
      'http://localhost@example.com/',
      'http://192.168.1.10:3000',
    ])
      expect(shellKey({ API_URL: url, LOCAL_API_KEY_FILE: file })).toBe('');
  });

  it('ignores a missing or malformed file, as the scripts do', () => {
    expect(shellKey({ LOCAL_API_KEY_FILE: path.join(dir, 'none') })).toBe('');
    for (const content of ['', 'local-aaaaaaaa\nlocal-bbbbbbbb\n', 'two words here\n', 'short\n']) {
      writeFileSync(file, content);
      expect([content, shellKey({ LOCAL_API_KEY_FILE: file })]).toEqual([content, '']);
      expect(keptKey(file)).toBeUndefined();
    }
  });
});
