// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS file (package.json has no "type": "module"), where it is not redundant
'use strict';
/*
 * node src/local/watchdog.js <command> [args...]
 *
 * Runs <command> and ends its whole process group when the parent dies, however it dies (even SIGKILL):
 * Node has no PR_SET_PDEATHSIG, so the parent keeps the write end of this script's stdin and EOF means it is gone.
 * The parent must spawn this script detached (so it leads a process group of its own, which the command and what
 * the command starts join) with stdin a pipe it never closes. The parent's normal stop signals the whole group:
 * this script then waits for the command and exits with its code, so the parent can tell when the command is done.
 */
const { spawn } = require('node:child_process');
const { constants } = require('node:os');

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node watchdog.js <command> [args...]');
  process.exit(2);
}

const killGroup = () => {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(1); // not a group leader: spawned without `detached`
  }
};
process.stdin.on('end', killGroup).on('error', killGroup).resume();

// Signals to the group reach the command too; outlive it so that its exit is the parent's cue.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('error', (err) => {
  console.error(`watchdog: cannot run ${command}: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
