import { createEnrichment, type CreateDeps } from '../../../src/core/createEnrichment';
import { renderInput } from '../../../src/core/inputFile';
import { failIntake, runIntake } from '../../../src/core/intake';
import { processBatch } from '../../../src/core/processBatch';
import { reconcileAll } from '../../../src/core/reconcile';
import { HttpError, TimeoutError } from '../../../src/core/retry';
import {
  FakeEnrichmentApi,
  intakeDepsFor,
  ManualClock,
  MemoryIntakeQueue,
  MemoryObjectStore,
  MemoryQueue,
  MemoryStatusStore,
  recordingLogger,
} from '../../support/fakes';
import { makeContacts } from '../../support/factories';
import { seededRequest } from '../../support/workerHarness';

/** The points emitted through the Metrics port, as [key, value, tags]. */
const points = (emit: jest.Mock) => emit.mock.calls.map(([key, value, tags]) => [key, value, tags ?? {}] as const);
const sumOf = (emit: jest.Mock, key: string, tags: Record<string, string> = {}) =>
  points(emit)
    .filter(
      ([k, , t]) => k === key && Object.entries(tags).every(([tk, tv]) => (t as Record<string, string>)[tk] === tv),
    )
    .reduce((n, [, v]) => n + v, 0);

describe('metrics emitted by the use cases', () => {
  it('a request through its batches: one recorded delivery per batch, every contact by outcome, one API call point each, one finalization', async () => {
    const h = await seededRequest(250, { isPoison: (c) => c.crm_id === 'crm-7' });
    for (const m of h.messages) await processBatch(m, h.worker());
    expect(sumOf(h.metrics.emit, 'batchDelivery', { result: 'recorded' })).toBe(3);
    expect(sumOf(h.metrics.emit, 'contacts', { outcome: 'failed' })).toBe(1);
    expect(sumOf(h.metrics.emit, 'contacts')).toBe(250);
    expect(sumOf(h.metrics.emit, 'requestFinalized', { status: 'completed_with_errors' })).toBe(1);
    const calls = points(h.metrics.emit).filter(([k]) => k === 'apiCall');
    expect(calls).toHaveLength(h.api.calls.length);
    expect(calls.filter(([, , t]) => t.outcome === 'error').map(([, , t]) => t.status_code)).toContain('500');
    expect(calls.filter(([, , t]) => t.outcome === 'ok').every(([, , t]) => t.status_code === '200')).toBe(true);
  });

  it("counts a batch's contacts once: of two deliveries enriching it at once, only the one that records it", async () => {
    const h = await seededRequest(150);
    await Promise.all([processBatch(h.messages[0], h.worker()), processBatch(h.messages[0], h.worker())]);
    expect(h.api.calls).toHaveLength(2);
    expect(sumOf(h.metrics.emit, 'contacts')).toBe(100);
    expect(sumOf(h.metrics.emit, 'batchDelivery', { result: 'duplicate' })).toBe(1);
  });

  it('an API that times out: the calls are tagged timeout and the delivery handed back as unavailable', async () => {
    const h = await seededRequest(20);
    h.api = new FakeEnrichmentApi(
      () => true,
      () => new TimeoutError('enrichment API timed out'),
    );
    const deps = { ...h.worker(), api: h.api };
    await expect(processBatch(h.messages[0], deps)).rejects.toThrow();
    const calls = points(h.metrics.emit).filter(([k]) => k === 'apiCall');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every(([, , t]) => t.status_code === 'timeout' && t.outcome === 'error')).toBe(true);
    expect(sumOf(h.metrics.emit, 'batchDelivery', { result: 'unavailable' })).toBe(1);
  });

  it('an unexpected failure counts as a worker error', async () => {
    const h = await seededRequest(20);
    const status = Object.assign(Object.create(h.status) as typeof h.status, {
      lookupBatch: () => Promise.reject(new HttpError(400, 'boom')),
    });
    const deps = { ...h.worker(), status };
    await expect(processBatch(h.messages[0], deps)).rejects.toThrow('boom');
    expect(sumOf(h.metrics.emit, 'batchDelivery', { result: 'error' })).toBe(1);
  });

  it("reconcile reports the requests still processing and the oldest one's age, and the batches it re-sent", async () => {
    const h = await seededRequest(250);
    await processBatch(h.messages[0], h.worker());
    h.clock.advance(600_000);
    await reconcileAll(h.reconciler());
    expect(h.metrics.emit).toHaveBeenCalledWith('requestsProcessing', 1);
    expect(h.metrics.emit).toHaveBeenCalledWith('oldestProcessingAge', 600);
    expect(h.metrics.emit).toHaveBeenCalledWith('reconcileResent', 2);
  });

  it('create: accepted by input with its contacts, a duplicate, a rejection', async () => {
    const emit = jest.fn();
    const deps: CreateDeps = {
      store: new MemoryObjectStore(),
      status: new MemoryStatusStore(),
      queue: new MemoryQueue(),
      clock: new ManualClock(),
      log: recordingLogger(),
      metrics: { emit },
      bucket: 'unit-bucket',
      batchSize: 100,
      deadlineSeconds: 3600,
      ttlDays: 30,
    };
    const body = { contacts: makeContacts(3), fields_to_enrich: ['professional_email'] };
    await createEnrichment(body, deps);
    await createEnrichment(body, deps);
    await expect(createEnrichment({ contacts: [], fields_to_enrich: ['professional_email'] }, deps)).rejects.toThrow();
    expect(points(emit)).toEqual([
      ['requestAccepted', 1, { input: 'inline' }],
      ['requestContacts', 3, { input: 'inline' }],
      ['requestDuplicate', 1, {}],
      ['requestRejected', 1, { reason: 'invalid_request' }],
    ]);
  });

  it('an upload: accepted as upload at create, its contacts counted when its intake sends them; an invalid one rejected as invalid_upload', async () => {
    for (const [body, expected] of [
      [
        renderInput(makeContacts(205), ['job_title']),
        [
          ['requestAccepted', 1, { input: 'upload' }],
          ['requestContacts', 205, { input: 'upload' }],
        ],
      ],
      [
        '{"contacts": []}',
        [
          ['requestAccepted', 1, { input: 'upload' }],
          ['requestRejected', 1, { reason: 'invalid_upload' }],
        ],
      ],
    ] as const) {
      const emit = jest.fn();
      const store = new MemoryObjectStore();
      const deps: CreateDeps = {
        store,
        status: new MemoryStatusStore(),
        queue: new MemoryQueue(),
        intakeQueue: new MemoryIntakeQueue(),
        clock: new ManualClock(),
        log: recordingLogger(),
        metrics: { emit },
        bucket: 'unit-bucket',
        batchSize: 100,
        deadlineSeconds: 3600,
        ttlDays: 30,
        newId: () => 'r-1',
      };
      if (typeof body === 'string') store.objects.set('uploads/big.json', body);
      else await store.upload('uploads/big.json', body);
      await createEnrichment({ contacts: 'uploads/big.json', fields_to_enrich: ['job_title'] }, deps);
      await runIntake('r-1', intakeDepsFor(deps, { metrics: { emit } }));
      expect(points(emit)).toEqual(expected);
    }
  });

  it('a dead-lettered intake: rejected as intake_failed once, while the request is still validating; nothing after', async () => {
    const emit = jest.fn();
    const store = new MemoryObjectStore();
    const status = new MemoryStatusStore();
    const deps: CreateDeps = {
      store,
      status,
      queue: new MemoryQueue(),
      intakeQueue: new MemoryIntakeQueue(),
      clock: new ManualClock(),
      log: recordingLogger(),
      bucket: 'unit-bucket',
      batchSize: 100,
      deadlineSeconds: 3600,
      ttlDays: 30,
      newId: () => 'r-1',
    };
    await store.upload('uploads/big.json', renderInput(makeContacts(5), ['job_title']));
    await createEnrichment({ contacts: 'uploads/big.json', fields_to_enrich: ['job_title'] }, deps);
    const failDeps = { status, clock: deps.clock, log: recordingLogger(), metrics: { emit } };
    expect(await failIntake('r-1', failDeps)).toBe(true);
    expect(await failIntake('r-1', failDeps)).toBe(false);
    expect(status.records.get('r-1')?.status).toBe('rejected');
    expect(points(emit)).toEqual([['requestRejected', 1, { reason: 'intake_failed' }]]);
  });
});
