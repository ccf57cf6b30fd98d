import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestStack, type RunningStack } from '../support/npmStart';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const bin = (name: string) => path.join(ROOT, 'bin', name);

/**
 * The newcomer's path (README: Try it): `npm start` with no API_KEY, then the bin/ wrappers in another terminal with
 * nothing exported, then Ctrl-C and `npm start` again: the same key, kept in a file, still works. The key file lives
 * in a temporary directory (LOCAL_API_KEY_FILE), never in the repository's .local/.
 */
describe('npm start without API_KEY keeps its key in a file the scripts read', () => {
  let dir: string;
  let keyFile: string;
  let stack: RunningStack | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'local-key-test-'));
    keyFile = path.join(dir, 'nested', 'api-key');
  });
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A terminal with nothing exported but the key file's location and, when given, API_URL. */
  const shellEnv = (apiUrl?: string): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, LOCAL_API_KEY_FILE: keyFile };
    delete env.API_KEY;
    delete env.API_URL;
    return apiUrl ? { ...env, API_URL: apiUrl } : env;
  };
  // Each stack only answers a few requests: two workers (rather than eight) get it to its ready line sooner.
  const start = () => startTestStack({ API_KEY: '', API_KEYS: '', LOCAL_API_KEY_FILE: keyFile, LOCAL_WORKERS: '2' });

  it('bin/createEnrichment.sh and bin/getEnrichment.sh work with no API_KEY, before and after a restart', async () => {
    stack = await start();
    const key = (await readFile(keyFile, 'utf8')).trim();
    expect(key).toMatch(/^local-[0-9a-f]{24}$/);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const ready = /^.*ready: API.*$/m.exec(stack.output())![0];
    expect(ready).toContain(`API key ${key}`);
    expect(ready).toContain(`kept in ${keyFile}`);

    const created = await run(bin('createEnrichment.sh'), [], { env: shellEnv(stack.apiUrl) });
    const { requestId, totalContacts } = JSON.parse(created.stdout);
    expect(totalContacts).toBe(3);
    const status = await run(bin('getEnrichment.sh'), [requestId], { env: shellEnv(stack.apiUrl) });
    expect(JSON.parse(status.stdout)).toMatchObject({ requestId, totalContacts: 3 });

    // Ctrl-C, and npm start again: the same key from the same file.
    expect(await stack.stop()).toBe(0);
    stack = await start();
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(key);
    expect(/^.*ready: API.*$/m.exec(stack.output())![0]).toContain(`API key ${key}`);
    const again = await run(bin('createEnrichment.sh'), [], { env: shellEnv(stack.apiUrl) });
    expect(JSON.parse(again.stdout)).toMatchObject({ message: 'Request accepted', totalContacts: 3 });
  }, 400_000);
});
