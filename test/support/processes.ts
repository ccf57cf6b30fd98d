import fs from 'node:fs';
import net from 'node:net';

/** What these helpers read: Linux's /proc (what `ps` and `ss -ltnp` read, without needing either installed). */
export const HAS_PROCFS = fs.existsSync('/proc/self/stat') && fs.existsSync('/proc/net/tcp');

export interface Proc {
  pid: number;
  pgid: number;
  cmdline: string;
}

const read = (file: string): Buffer | undefined => {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined; // gone meanwhile, or not ours to read
  }
};

function proc(pid: number): (Proc & { state: string; environ: Buffer }) | undefined {
  const stat = read(`/proc/${pid}/stat`)?.toString();
  if (!stat) return undefined;
  // "pid (comm) state ppid pgrp …", and comm may hold spaces and parentheses.
  const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    pgid: Number(pgrp),
    state,
    cmdline: (read(`/proc/${pid}/cmdline`) ?? Buffer.alloc(0)).toString().replace(/\0/g, ' ').trim(),
    environ: read(`/proc/${pid}/environ`) ?? Buffer.alloc(0),
  };
}

const NUL = Buffer.from([0]);

/**
 * Live processes whose environment holds `NAME=value` (inherited by everything a process starts) or whose
 * process group is one of `pgids`. Zombies are left out: they are dead, hold no port, and wait for their reaper.
 */
export function processesOf(envEntry: string, pgids: ReadonlySet<number> = new Set()): Proc[] {
  const found: Proc[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const p = proc(Number(entry));
    if (!p || p.state === 'Z') continue;
    if (pgids.has(p.pgid) || Buffer.concat([NUL, p.environ]).includes(`\0${envEntry}\0`)) {
      found.push({ pid: p.pid, pgid: p.pgid, cmdline: p.cmdline });
    }
  }
  return found;
}

/** TCP listening sockets as `ss -ltnp` lists them: port → socket inodes, from /proc/net/tcp and tcp6. */
function listeningSockets(): Map<number, Set<string>> {
  const byPort = new Map<number, Set<string>>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (read(file)?.toString() ?? '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A') continue; // TCP_LISTEN
      const port = parseInt(f[1].split(':')[1], 16);
      byPort.set(port, (byPort.get(port) ?? new Set()).add(f[9]));
    }
  }
  return byPort;
}

/** The TCP ports the given processes listen on. */
export function listeningPortsOf(pids: number[]): number[] {
  const inodes = new Map<string, number>();
  for (const [port, set] of listeningSockets()) for (const inode of set) inodes.set(inode, port);
  const ports = new Set<number>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link = '';
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const port = inodes.get(/^socket:\[(\d+)\]$/.exec(link)?.[1] ?? '');
      if (port !== undefined) ports.add(port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

function canListen(port: number, host?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports of `ports` that something still listens on, or that cannot be bound again (on all interfaces or on 127.0.0.1). */
export async function heldPorts(ports: number[]): Promise<number[]> {
  const listening = listeningSockets();
  const held: number[] = [];
  for (const port of ports) {
    if (listening.has(port) || !(await canListen(port)) || !(await canListen(port, '127.0.0.1'))) held.push(port);
  }
  return held;
}

/** Polls `check` until it returns an empty list or `timeoutMs` passes; returns the last answer. */
export async function pollUntilEmpty<T>(check: () => Promise<T[]> | T[], timeoutMs: number): Promise<T[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = await check();
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}
