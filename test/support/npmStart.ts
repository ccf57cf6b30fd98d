import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/local/tcpPorts';

/** The key the e2e tests' stacks take (API_KEY), sent in x-api-key. */
export const TEST_API_KEY = 'e2e-test-key';

export interface RunningStack {
  apiUrl: string;
  /** The S3 + SQS emulator, as the ready line names it (the users' direct view, for checks). */
  s3Endpoint: string;
  /** The process started: npm, or node running src/local/start.ts. */
  pid: number;
  output(): string;
  /** Resolves with its exit code (null when a signal ended it) once the process started has exited. */
  exited: Promise<number | null>;
  /**
   * Resolves once its output has ended: every process that writes to it (those it started inherit it) has closed it,
   * so output() holds all of it. Its processes may be gone a moment before this test process has read their last lines.
   */
  outputEnded: Promise<void>;
  /** Sends SIGINT (Ctrl-C) and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  timeoutMs?: number;
  /** Run `npm start` itself (npm, then node) rather than node on its entry point. */
  npm?: boolean;
  /** Lead a process group of its own, as a shell's background job does. */
  detached?: boolean;
}

const ROOT = path.resolve(__dirname, '../..');

/** Runs `npm start`'s entry point (src/local/start.ts), or `npm start` itself, as its own process and waits for its ready line. */
export async function startOfflineStack(env: Record<string, string>, opts: StartOptions = {}): Promise<RunningStack> {
  const { timeoutMs = 150_000 } = opts;
  const [command, args] = opts.npm
    ? ['npm', ['start']]
    : [process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/local/start.ts']];
  const child: ChildProcess = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const outputEnded = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const [apiUrl, s3Endpoint] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line within ${timeoutMs} ms:\n${out.slice(-3000)}`)),
      timeoutMs,
    );
    const check = () => {
      const m = /ready: API (http:\/\/\S+) .*S3\+SQS (http:\/\/[^,\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve([m[1], m[2]]);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code} before it was ready:\n${out.slice(-3000)}`));
    });
  });

  return {
    apiUrl,
    s3Endpoint,
    pid: child.pid!,
    output: () => out,
    exited,
    outputEnded,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), 20_000)));
      const code = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (code === null) child.kill('SIGKILL');
      return code;
    },
  };
}

/** `npm start` on free ports with quiet functions and no mock latency, for the e2e tests. */
export async function startTestStack(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<RunningStack> {
  return startOfflineStack(
    {
      PORT: String(await freePort()),
      LAMBDA_PORT: String(await freePort()),
      FAUXQS_PORT: '0',
      DYNAMODB_PORT: '0',
      LOG_SILENT: 'true',
      MOCK_LATENCY_MS: '0',
      API_KEY: TEST_API_KEY,
      ...env,
    },
    opts,
  );
}
