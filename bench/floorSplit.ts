/**
 * The emulators' floor (issue 19): what the pipeline's AWS calls cost with no work around them, and how much of a whole
 * job's time that accounts for. Arithmetic only; bench/floor.ts measures, this splits.
 */
import type { CallCounts } from './awsCalls';

/** The operations the floor times, keyed as the emulators' call counter keys a job's calls (bench/awsCalls.ts). */
export const FLOOR_OPS = [
  'sqs SendMessageBatch',
  'sqs ReceiveMessage',
  'sqs DeleteMessageBatch',
  'dynamodb UpdateItem',
  'dynamodb BatchGetItem lookup',
  'dynamodb BatchGetItem cache',
  'dynamodb BatchWriteItem',
  's3 PUT',
  's3 GET',
] as const;
export type FloorOp = (typeof FLOOR_OPS)[number];

/** One operation's timing: `calls` calls, `concurrency` in flight, in `wallMs`. */
export interface FloorTiming {
  op: FloorOp;
  calls: number;
  concurrency: number;
  wallMs: number;
}

/** Calls per second, and the wall time one call takes at that concurrency (wall / calls): what N calls cost. */
export function rates(t: FloorTiming): { callsPerSecond: number; msPerCall: number } {
  return { callsPerSecond: (t.calls * 1000) / t.wallMs, msPerCall: t.wallMs / t.calls };
}

/**
 * Which side an operation's calls wait on, from the CPU each process spent per call against the wall time per call:
 * a side whose CPU per call reaches 90% of it was busy all along (the emulators are one Node process, the calling
 * role another, each mostly one thread). Neither: the calls wait on something else (latency, timers, the network).
 */
export function ceiling(msPerCall: number, callerCpuMsPerCall: number, emulatorCpuMsPerCall: number): string {
  const busy = (cpu: number) => cpu >= 0.9 * msPerCall;
  if (busy(emulatorCpuMsPerCall) && busy(callerCpuMsPerCall)) return 'both';
  if (busy(emulatorCpuMsPerCall)) return 'the emulator';
  if (busy(callerCpuMsPerCall)) return 'the SDK (caller)';
  return 'neither';
}

/**
 * A job's calls spread over the floor's operations. BatchGetItem is two calls of different sizes: a worker's lookup
 * (the status item and its shards, one per invocation, so as many as the receives that brought messages) and the
 * cache's (100 keys): the receives' count goes to the lookup, the rest to the cache. Operations the floor does not
 * time (GetItem, PutItem, Query, SendMessage, S3 POST and DELETE, ...) are left in `unmeasured`.
 */
export function jobCallsByOp(calls: CallCounts): { byOp: Map<FloorOp, number>; unmeasured: Map<string, number> } {
  const byOp = new Map<FloorOp, number>();
  const unmeasured = new Map<string, number>();
  const receives = calls.get('sqs ReceiveMessage') ?? 0;
  for (const [key, n] of calls) {
    if (key === 'dynamodb BatchGetItem') {
      const lookups = Math.min(n, receives);
      if (lookups) byOp.set('dynamodb BatchGetItem lookup', lookups);
      if (n > lookups) byOp.set('dynamodb BatchGetItem cache', n - lookups);
    } else if ((FLOOR_OPS as readonly string[]).includes(key)) byOp.set(key as FloorOp, n);
    else unmeasured.set(key, n);
  }
  return { byOp, unmeasured };
}

/**
 * The floor of a job: each of its calls at the wall time per call the floor measured for that operation (at the
 * bench's concurrency), added up, and the share of the job's time that is. The rest is ours (the handlers' work, the
 * mock provider, serialisation of our own data) or waiting.
 */
export function floorOfJob(
  calls: CallCounts,
  timings: readonly FloorTiming[],
  jobSeconds: number,
): {
  floorSeconds: number;
  share: number;
  byOp: Array<{ op: FloorOp; calls: number; seconds: number }>;
  unmeasured: Map<string, number>;
} {
  const perCall = new Map(timings.map((t) => [t.op, rates(t).msPerCall]));
  const { byOp, unmeasured } = jobCallsByOp(calls);
  const rows = [...byOp].map(([op, n]) => {
    const ms = perCall.get(op);
    if (ms === undefined) throw new Error(`the floor has no timing for ${op}`);
    return { op, calls: n, seconds: (n * ms) / 1000 };
  });
  const floorSeconds = rows.reduce((a, r) => a + r.seconds, 0);
  return { floorSeconds, share: floorSeconds / jobSeconds, byOp: rows, unmeasured };
}
