import { randomUUID } from 'node:crypto';
import { freePort } from '../../src/local/tcpPorts';
import { startTestStack, type RunningStack } from '../support/npmStart';
import { HAS_PROCFS, heldPorts, listeningPortsOf, pollUntilEmpty, processesOf, type Proc } from '../support/processes';

/** How long the stack may take to go away by itself: its clean stop gives serverless offline 5 s. */
const GONE_WITHIN_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `npm start` run as a shell's background job (its own process group), then ended the ways a user or a CI job ends
 * it: afterwards no process of the stack is left (found by an environment entry every process of the stack inherits
 * and by process group) and every port it listened on can be bound again.
 */
(HAS_PROCFS ? describe : describe.skip)('npm start leaves no process and no port behind', () => {
  let marker: string | undefined;
  let groups = new Set<number>();

  afterEach(() => {
    // Whatever a failing case left behind must not outlive it.
    if (!marker) return;
    for (const p of processesOf(marker, groups)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  });

  /** Starts `npm start` on free ports and takes stock of its processes and ports while it runs. */
  async function start(): Promise<{ stack: RunningStack; procs: Proc[]; ports: number[] }> {
    marker = `PROCESS_CLEANUP_TEST=${randomUUID()}`;
    groups = new Set();
    const lambdaPort = await freePort();
    const [name, value] = marker.split('=');
    const stack = await startTestStack(
      // No job runs here: two workers (rather than eight) get the stack to its ready line sooner.
      { [name]: value, LAMBDA_PORT: String(lambdaPort), LOCAL_WORKERS: '2' },
      { npm: true, detached: true },
    );
    const procs = processesOf(marker!);
    groups = new Set(procs.map((p) => p.pgid));
    const ports = listeningPortsOf(procs.map((p) => p.pid));

    // The stock must hold the whole stack, or its absence afterwards would prove nothing.
    const commands = procs.map((p) => p.cmdline);
    for (const part of [
      /^npm/,
      /src\/local\/start\.ts/,
      /watchdog\.js/,
      /serverless\.js offline start/,
      /esbuild --service/,
    ]) {
      expect(commands.some((c) => part.test(c))).toBe(true);
    }
    expect(groups).toContain(stack.pid);
    // The edge, serverless offline's Lambda and HTTP ports, fauxqs and dynalite (ports from the ready line).
    const readyLine = /^.*ready: API.*$/m.exec(stack.output())![0];
    const announced = [...readyLine.matchAll(/http:\/\/[\w.]+:(\d+)/g)].map((m) => Number(m[1]));
    expect(ports).toEqual(expect.arrayContaining([...announced, lambdaPort]));
    expect(announced).toHaveLength(3);
    expect(ports.length).toBeGreaterThanOrEqual(5);
    return { stack, procs, ports };
  }

  async function expectAllGone(ports: number[]): Promise<void> {
    const left = await pollUntilEmpty(
      () => processesOf(marker!, groups).map((p) => `${p.pid} (group ${p.pgid}): ${p.cmdline}`),
      GONE_WITHIN_MS,
    );
    expect(left).toEqual([]);
    expect(await pollUntilEmpty(() => heldPorts(ports), GONE_WITHIN_MS)).toEqual([]);
  }

  it('SIGTERM to npm: the stack stops cleanly and npm exits 0', async () => {
    const { stack, ports } = await start();
    process.kill(stack.pid, 'SIGTERM');
    await expectAllGone(ports);
    expect(await stack.exited).toBe(0);
    await stack.outputEnded;
    expect(stack.output()).toMatch(/SIGTERM received, stopping the offline stack…\s+stopped/);
  });

  it('SIGINT to npm (`kill -INT <pid>` of a background job) and SIGTERM right after it: one clean stop', async () => {
    const { stack, ports } = await start();
    process.kill(stack.pid, 'SIGINT');
    process.kill(stack.pid, 'SIGTERM');
    await expectAllGone(ports);
    expect(await stack.exited).toBe(0);
    await stack.outputEnded;
    // npm passes both on at once, so they may arrive in either order: one stops, the other is told it is under way.
    expect(stack.output()).toMatch(
      /(SIGINT|SIGTERM) received, stopping the offline stack…\s+(SIGINT|SIGTERM) received: already stopping\s+stopped/,
    );
    expect(stack.output().match(/received, stopping the offline stack/g)).toHaveLength(1);
  });

  it('SIGHUP to npm (its terminal closed): npm dies, and the stack notices and stops by itself', async () => {
    const { stack, ports } = await start();
    process.kill(stack.pid, 'SIGHUP');
    await expectAllGone(ports);
    await stack.outputEnded;
    // Noticed once: the stop is not interrupted by the parent check's next ticks (a slow stop outlasts several).
    expect(stack.output()).toMatch(/parent process \d+ exited, stopping the offline stack…\s+stopped/);
    expect(stack.output().match(/parent process \d+ exited/g)).toHaveLength(1);
  });

  it('SIGKILL to its process group: serverless offline and esbuild (another group) die too', async () => {
    const { stack, ports } = await start();
    process.kill(-stack.pid, 'SIGKILL');
    await expectAllGone(ports);
  });

  it("the issue's case: SIGINT to npm, then SIGKILL to its process group two seconds later", async () => {
    const { stack, ports } = await start();
    process.kill(stack.pid, 'SIGINT');
    await sleep(2000);
    try {
      process.kill(-stack.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    await expectAllGone(ports);
  });
});
