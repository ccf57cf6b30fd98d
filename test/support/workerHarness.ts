import { createEnrichment } from '../../src/core/createEnrichment';
import { noFaults, type FaultHooks } from '../../src/core/ports';
import type { WorkerDeps } from '../../src/core/processBatch';
import type { ReconcileDeps } from '../../src/core/reconcile';
import type { Contact, EnrichField } from '../../src/schemas/contact';
import type { BatchMessage } from '../../src/schemas/message';
import {
  FakeEnrichmentApi,
  ManualClock,
  MemoryObjectStore,
  MemoryQueue,
  MemoryStatusStore,
  NO_RETRY_DELAY,
  recordingLogger,
} from './fakes';
import { makeContacts } from './factories';

export const REQUEST_ID = '3b0e4c1a-2d5f-4e6a-9b7c-8d9e0f1a2b3c';
export const FIELDS: EnrichField[] = ['professional_email', 'personal_phone'];

/** A request created through the real use case on in-memory fakes, with its batch messages taken off the queue. */
export async function seededRequest(
  n: number,
  opts: { batchSize?: number; isPoison?: (c: Contact) => boolean; contacts?: Contact[]; refresh?: boolean } = {},
) {
  const store = new MemoryObjectStore();
  const status = new MemoryStatusStore();
  const queue = new MemoryQueue();
  const clock = new ManualClock();
  const log = recordingLogger();
  const contacts = opts.contacts ?? makeContacts(n, { extra: true });
  const batchSize = opts.batchSize ?? 100;
  await createEnrichment(
    { contacts, fields_to_enrich: FIELDS, ...(opts.refresh ? { refresh: true } : {}) },
    {
      store,
      status,
      queue,
      clock,
      log,
      bucket: 'unit-bucket',
      batchSize,
      deadlineSeconds: 3600,
      ttlDays: 30,
      newId: () => REQUEST_ID,
    },
  );
  const messages: BatchMessage[] = queue.drain();
  const api = new FakeEnrichmentApi(opts.isPoison);
  const metrics = { emit: jest.fn() };
  const worker = (faults: FaultHooks = noFaults): WorkerDeps => ({
    store,
    status,
    clock,
    log,
    faults,
    api,
    retry: NO_RETRY_DELAY,
    metrics,
  });
  const reconciler = (faults: FaultHooks = noFaults, stallSeconds = 300): ReconcileDeps => ({
    ...worker(faults),
    queue,
    batchSize,
    stallSeconds,
  });
  return {
    store,
    status,
    queue,
    clock,
    log,
    contacts,
    messages,
    api,
    metrics,
    worker,
    reconciler,
    requestId: REQUEST_ID,
  };
}
