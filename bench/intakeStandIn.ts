import { createEnrichment } from '../src/core/createEnrichment';
import { systemClock, type StatusStore } from '../src/core/ports';
import { createLogger } from '../src/logger';
import { CountingStore } from './countingStore';

/** `{"contacts":[...]}` of n generated contacts, in chunks: the upload as the store would stream it. */
export async function* uploadJson(n: number): AsyncGenerator<string> {
  yield '{"contacts":[';
  for (let i = 0; i < n; i += 1000) {
    const part = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) part.push(JSON.stringify({ first_name: `First${j}`, last_name: `Last${j}`, company_domain: `company${j % 997}.example.com` }));
    yield (i ? ',' : '') + part.join(',');
  }
  yield ']}';
}

/**
 * The intake of a referenced upload of n contacts through the create use case, against the byte-counting
 * store (the upload generated on the fly, what is written counted) and a queue that only counts: its memory
 * is the use case's own, at sizes the in-memory emulators cannot hold.
 */
export async function intakeStandIn(contacts: number): Promise<{ ok: boolean; error?: string; seconds: number; messages: number; bytesWritten: number }> {
  const key = 'uploads/standin.json';
  const store = new CountingStore({ stream: (k) => (k === key ? uploadJson(contacts) : undefined) });
  let messages = 0;
  const records = new Map<string, unknown>();
  const status = {
    create: async (r: { requestId: string }) => void records.set(r.requestId, r),
    claimDedup: async () => ({ claimed: true }),
    releaseDedup: async () => undefined,
    get: async (id: string) => records.get(id),
  } as unknown as StatusStore;
  const t0 = performance.now();
  try {
    await createEnrichment(
      { contacts: key, fields_to_enrich: ['professional_email'], dedupe: false },
      {
        store,
        status,
        queue: { send: async (m) => void (messages += m.length) },
        clock: systemClock,
        log: createLogger(),
        bucket: 'standin',
        batchSize: 100,
        deadlineSeconds: 3600,
        ttlDays: 30,
      },
    );
    return { ok: true, seconds: +((performance.now() - t0) / 1000).toFixed(1), messages, bytesWritten: store.bytesWritten };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), seconds: +((performance.now() - t0) / 1000).toFixed(1), messages, bytesWritten: store.bytesWritten };
  }
}
