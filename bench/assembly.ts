import { assembleOutput } from '../src/core/assembleOutput';
import { OUTPUT_FORMATS, type BatchResult, type OutputFormat } from '../src/core/output';
import { noFaults, systemClock, type StatusStore } from '../src/core/ports';
import { createLogger } from '../src/logger';
import type { StatusRecord } from '../src/schemas/status';
import { CountingStore } from './countingStore';

/**
 * Memory of the output assembly alone, as the request grows: batch results are made on demand
 * and the upload sink only counts bytes, so what is measured is the streaming assembly itself.
 */
export async function assemblyMemory(
  contacts: number,
  formats: readonly OutputFormat[] = OUTPUT_FORMATS,
): Promise<{
  contacts: number;
  formats: string;
  outputMB: number;
  heapPeakMB: number;
  rssPeakMB: number;
  seconds: number;
}> {
  const batches = Math.ceil(contacts / 100);
  const batch = (index: number): BatchResult => ({
    requestId: 'r',
    batchIndex: index,
    rows: Array.from({ length: Math.min(100, contacts - index * 100) }, (_, i) => ({
      first_name: `First${index * 100 + i}`,
      last_name: `Last${index * 100 + i}`,
      company_domain: 'company.example.com',
      professional_email: `first${i}.last${i}@company.example.com`,
      personal_phone: '+1 555 0100',
      enrichment_status: 'enriched' as const,
    })),
  });
  let peak = 0;
  let rssPeak = 0;
  const store = new CountingStore({
    json: (key) => (key.endsWith('.failed.json') ? undefined : batch(Number(/(\d+)\.json$/.exec(key)![1]))),
  });
  // Sampled per chunk: a fake store never yields to timers, so an interval would not run.
  const upload = store.upload.bind(store);
  store.upload = async (key, body) =>
    upload(
      key,
      (async function* () {
        for await (const chunk of body as AsyncIterable<string | Buffer>) {
          const m = process.memoryUsage();
          peak = Math.max(peak, m.heapUsed);
          rssPeak = Math.max(rssPeak, m.rss);
          yield chunk;
        }
      })(),
    );
  const record: StatusRecord = {
    requestId: 'r',
    status: 'processing',
    createdAt: '',
    updatedAt: '',
    totalContacts: contacts,
    totalBatches: batches,
    processedBatches: batches,
    failedBatches: 0,
    fields: ['professional_email', 'personal_phone'],
    inputFileKey: '',
    outputFileKey: '',
    deadlineAt: '',
    expiresAt: 0,
  };
  const status = { get: async () => record, finalize: async () => true } as unknown as StatusStore;

  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await assembleOutput('r', { store, status, clock: systemClock, log: createLogger(), faults: noFaults, formats });
  const seconds = (performance.now() - t0) / 1000;
  return {
    contacts,
    formats: formats.join('+'),
    outputMB: +(store.bytesWritten / 1048576).toFixed(1),
    heapPeakMB: +((peak - base) / 1048576).toFixed(1),
    // The process's peak resident set while assembling: run one size per process to read it per size.
    rssPeakMB: +(rssPeak / 1048576).toFixed(1),
    seconds: +seconds.toFixed(2),
  };
}
