import { runIntake } from '../src/core/intake';
import { noFaults, systemClock, type StatusStore } from '../src/core/ports';
import { createLogger } from '../src/logger';
import type { StatusRecord } from '../src/schemas/status';
import { CountingStore } from './countingStore';

/** `{"contacts":[...]}` of n generated contacts, in chunks: the upload as the store would stream it. */
export async function* uploadJson(n: number): AsyncGenerator<string> {
  yield '{"contacts":[';
  for (let i = 0; i < n; i += 1000) {
    const part = [];
    for (let j = i; j < Math.min(n, i + 1000); j++)
      part.push(
        JSON.stringify({
          first_name: `First${j}`,
          last_name: `Last${j}`,
          company_domain: `company${j % 997}.example.com`,
        }),
      );
    yield (i ? ',' : '') + part.join(',');
  }
  yield ']}';
}

/**
 * The intake (src/core/intake.ts runIntake: validate pass, then send pass) of a `validating` request whose
 * upload holds n contacts, against the byte-counting store (the upload generated on the fly, each pass
 * reading it afresh; what is written counted) and a status store and queues that only keep the last
 * checkpoint and count: its memory is the use case's own, at sizes the in-memory emulators cannot hold.
 */
export async function intakeStandIn(contacts: number): Promise<{
  ok: boolean;
  error?: string;
  seconds: number;
  messages: number;
  checkpoints: number;
  bytesWritten: number;
}> {
  const key = 'uploads/standin.json';
  // The upload's size for the intake's HEAD, counted before the clock starts (generating it takes seconds at 10M).
  let size = 0;
  for await (const chunk of uploadJson(contacts)) size += Buffer.byteLength(chunk);
  const store = new CountingStore({
    stream: (k) => (k === key ? uploadJson(contacts) : undefined),
    size: (k) => (k === key ? size : undefined),
  });
  const record = {
    requestId: 'standin',
    status: 'validating',
    fields: ['professional_email'],
    batchSize: 100,
    totalContacts: 0,
    totalBatches: 0,
    inputFileKey: key,
    inputFormat: 'json',
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  } as unknown as StatusRecord;
  let messages = 0;
  let checkpoints = 0;
  const status = {
    get: async () => record,
    saveIntake: async (_id: string, update: Partial<StatusRecord>) => {
      checkpoints++;
      Object.assign(record, update);
      return true;
    },
    reject: async () => true,
    startProcessing: async () => {
      record.status = 'processing';
      return true;
    },
  } as unknown as StatusStore;
  const t0 = performance.now();
  const seconds = () => +((performance.now() - t0) / 1000).toFixed(1);
  try {
    const outcome = await runIntake('standin', {
      store,
      status,
      queue: { send: async (m) => void (messages += m.length) },
      intakeQueue: { send: async () => undefined },
      clock: systemClock,
      log: createLogger(),
      faults: noFaults,
      timeReserveMs: 0,
    });
    if (outcome !== 'processing')
      return {
        ok: false,
        error: `intake ended ${outcome}`,
        seconds: seconds(),
        messages,
        checkpoints,
        bytesWritten: store.bytesWritten,
      };
    return { ok: true, seconds: seconds(), messages, checkpoints, bytesWritten: store.bytesWritten };
  } catch (err) {
    return {
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      seconds: seconds(),
      messages,
      checkpoints,
      bytesWritten: store.bytesWritten,
    };
  }
}
