import type { SQSEvent } from 'aws-lambda';
import { dynamoProviderGateStore, GATE_KEY } from '../../src/adapters/providerGate';
import { FleetGate } from '../../src/core/providerGate';
import type { GatePass, ProviderGateStore } from '../../src/core/ports';
import { handler as mockEnrich, resetMockState } from '../../src/handlers/mockEnrich';
import type { BatchMessage } from '../../src/schemas/message';
import { apiEvent, makeContacts } from '../support/factories';
import { drainedDepth, runPipeline, sleep, startFaultService } from '../support/faults';
import { readOutput, status, submit, waitForFinal } from '../support/flow';
import { dlqFn, workerFn } from '../support/functions';
import { expectedRows, expectOutput } from '../support/output';
import type { TestService } from '../support/service';

const FIELDS = ['professional_email', 'job_title'] as const;

/** The gate's item as the given function reads and writes it (through the IAM edge: its role applies). */
const gateStoreAs = (service: TestService, fn = 'processBatch'): ProviderGateStore =>
  dynamoProviderGateStore(service.table, service.as(fn).ddb);

/** A worker that notes every record's receive count and body before the real handler takes it. */
function observedWorker() {
  const seen: { receiveCount: number; message: BatchMessage }[] = [];
  const inner = workerFn();
  const handler = (event: SQSEvent, context?: Parameters<typeof inner>[1]) => {
    for (const r of event.Records)
      seen.push({
        receiveCount: Number(r.attributes.ApproximateReceiveCount),
        message: JSON.parse(r.body) as BatchMessage,
      });
    return inner(event, context);
  };
  return { seen, handler };
}

/** The dead-letter handler, noting the batches that reach it. */
function observedDlq() {
  const batches: BatchMessage[] = [];
  const inner = dlqFn();
  const handler = (event: SQSEvent, context?: Parameters<typeof inner>[1]) => {
    for (const r of event.Records) batches.push(JSON.parse(r.body) as BatchMessage);
    return inner(event, context);
  };
  return { batches, handler };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await sleep(100);
  }
}

describe('the provider gate on dynalite (through the IAM edge)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('its conditional writes: forward-only opens, one lease at a time, a close only by the trial that holds it', async () => {
    service = await startFaultService();
    const store = gateStoreAs(service);
    expect(await store.read()).toEqual({});
    const t = Date.now();
    expect(await store.open('outage', t + 30_000, t)).toBe(true);
    expect(await store.open('credits', t + 20_000, t + 1)).toBe(false); // earlier: nothing written
    expect(await store.open('rate_limit', t + 30_000, t + 2)).toBe(false); // the same end: nothing written either
    expect(await store.read()).toMatchObject({ openUntil: t + 30_000, reason: 'outage', since: t });
    expect(await store.open('credits', t + 60_000, t + 3)).toBe(true); // later: moved on, its start kept
    expect(await store.read()).toMatchObject({ openUntil: t + 60_000, reason: 'credits', since: t });
    // No trial while the pause runs; once it is over, one lease, and no second while it lives.
    expect(await store.claimTrial(t + 59_999, t + 70_000)).toBe(false);
    expect(await store.claimTrial(t + 60_000, t + 75_000)).toBe(true);
    expect(await store.claimTrial(t + 60_001, t + 76_000)).toBe(false);
    expect(await store.claimTrial(t + 75_000, t + 90_000)).toBe(true); // the first lease ran out: taken over
    expect(await store.close(t + 75_000, t + 80_000)).toBe(false); // no longer that trial's
    // A failed trial reopens it: the lease is gone, the start kept; the stale trial can no longer close it.
    expect(await store.open('outage', t + 120_000, t + 80_000)).toBe(true);
    expect(await store.read()).toEqual({
      openUntil: t + 120_000,
      reason: 'outage',
      since: t,
      updatedAt: t + 80_000,
    });
    expect(await store.close(t + 90_000, t + 80_001)).toBe(false);
    // A trial that ends without a call gives its lease back; a trial's success closes the gate.
    expect(await store.claimTrial(t + 120_000, t + 130_000)).toBe(true);
    await store.endTrial(t + 130_000);
    expect((await store.read()).trialUntil).toBeUndefined();
    expect(await store.claimTrial(t + 120_001, t + 131_000)).toBe(true);
    expect(await store.close(t + 131_000, t + 121_000)).toBe(true);
    expect(await store.read()).toEqual({ updatedAt: t + 121_000 });
    // A 429's pause needs no trial; once over, the next open is a new pause with its own start.
    expect(await store.open('rate_limit', t + 200_000, t + 190_000)).toBe(true);
    expect(await store.claimTrial(t + 200_000, t + 210_000)).toBe(false);
    expect(await store.open('outage', t + 260_000, t + 230_000)).toBe(true);
    expect(await store.read()).toMatchObject({ reason: 'outage', since: t + 230_000 });
    // The status function and reconcile read it with their own roles.
    expect((await gateStoreAs(service, 'getEnrichmentStatus').read()).reason).toBe('outage');
    expect((await gateStoreAs(service, 'reconcile').read()).reason).toBe('outage');
  });

  it('two worker instances half open at once: exactly one trial call between them, and its success opens it to both', async () => {
    service = await startFaultService();
    const store = gateStoreAs(service);
    const instances = [0, 1].map(() => new FleetGate({ threshold: 20, coolDownMs: 30_000, store, leaseMs: 15_000 }));
    // Opened by a failure elsewhere, and already over: half open.
    await store.open('outage', Date.now() - 1, Date.now() - 30_000);
    const passes: GatePass[][] = [[], []];
    const asked = instances.flatMap((gate, i) =>
      Array.from({ length: 8 }, () => gate.acquire().then((p) => void passes[i].push(p))),
    );
    // One instance won the claim: it answers its trial and keeps its 7 other callers waiting on it. The other lost
    // it: its 8 callers are refused (one read of the item, the lease left as their hint).
    const winner = await waitFor('both instances answered', async () => {
      const sizes = passes.map((p) => p.length).sort();
      return sizes[0] === 1 && sizes[1] === 8 ? passes.findIndex((p) => p.length === 1) : undefined;
    });
    const loser = 1 - winner;
    // The claim won through the shared item: the fleet's trial (a failure of it is not its batch's own).
    expect(passes[winner]).toEqual([{ allowed: true, trial: true, fleet: true }]);
    expect(passes[loser].every((p) => !p.allowed && p.reason === 'outage' && p.reopensInMs > 0)).toBe(true);
    expect((await store.read()).trialUntil).toBeGreaterThan(Date.now());
    // The trial succeeds: the item is closed for everyone, and the winner's waiting callers go.
    await instances[winner].success(passes[winner][0]);
    await Promise.all(asked);
    expect(passes[winner].filter((p) => p.allowed)).toHaveLength(8);
    expect(await store.read()).toEqual({ updatedAt: expect.any(Number) });
  });

  it('a healthy request costs the gate no write at all, and a few reads', async () => {
    service = await startFaultService();
    let reads = 0;
    let writes = 0;
    service.as('processBatch').ddb.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { requestId?: string } };
        if (input.Key?.requestId === GATE_KEY) {
          if (/^Get(Item)?Command$/.test(String(context.commandName))) reads += 1;
          else writes += 1;
        }
        return next(args);
      },
      { step: 'initialize', name: 'countGateCalls' },
    );
    const contacts = makeContacts(2_000);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 4 });
    const final = await waitForFinal(res.json.requestId, 60_000);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 20 });
    process.stdout.write(`provider gate, healthy: ${reads} GetItem and ${writes} writes for 20 batches\n`);
    expect(writes).toBe(0);
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThan(20); // one instance, one read per 2 s at most: far fewer than its calls
  });

  it('a mock out of credits: the request waits in processing (waitingFor provider_credits), nothing failed and no receive spent; after a top-up it completes exact', async () => {
    service = await startFaultService({
      MOCK_CREDITS: '0',
      PROVIDER_CREDIT_RETRY_SECONDS: '1',
      // Holds come back within 5 s (half the stall window).
      RECONCILE_STALL_SECONDS: '10',
    });
    resetMockState();
    const contacts = makeContacts(300);
    const worker = observedWorker();
    const dlq = observedDlq();
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { worker: worker.handler, dlq: dlq.handler, concurrency: 3, visibilityTimeout: 30 });

    const waiting = await waitFor('the status says it waits for credits', async () => {
      const s = await status(res.json.requestId);
      return s.waitingFor ? s : undefined;
    });
    expect(waiting).toMatchObject({
      status: 'processing',
      waitingFor: 'provider_credits',
      processedBatches: 0,
      failedBatches: 0,
    });
    expect(Date.parse(waiting.waitingSince!)).toBeLessThanOrEqual(Date.now());
    expect(await gateStoreAs(service).read()).toMatchObject({ reason: 'credits' });
    // Held, not handed back: a few trials answered 402, and every copy was a new message, received once.
    await waitFor('a batch held twice', async () =>
      worker.seen.some((s) => (s.message.creditHolds ?? 0) >= 2) ? true : undefined,
    );
    expect(service.mockApi.statuses()[402]).toBeGreaterThanOrEqual(1);
    expect((await status(res.json.requestId)).failedBatches).toBe(0);

    const topUp = await mockEnrich(
      apiEvent({ httpMethod: 'POST', path: '/mock/credits', body: JSON.stringify({ add: 100_000 }) }),
    );
    expect(topUp.statusCode).toBe(200);
    const final = await waitForFinal(res.json.requestId, 60_000);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 3, failedBatches: 0 });
    expect(final.summary?.failed).toBe(0);
    expect(final).not.toHaveProperty('waitingFor');
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
    expect(worker.seen.every((s) => s.receiveCount === 1)).toBe(true);
    expect(worker.seen.every((s) => s.message.holds === undefined)).toBe(true); // credit holds count apart
    expect(dlq.batches).toEqual([]);
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
    expect((await gateStoreAs(service).read()).openUntil).toBeUndefined();
  });

  it('the replay: a request whose calls always fail pauses its worker, healthy requests sent meanwhile all end exact and spend no receive, and only its batch is dead-lettered', async () => {
    service = await startFaultService({
      MOCK_INVALID_MODE: 'call',
      // Longer than the 5 receives a batch handed back goes through (1 s each here): the case, where healthy
      // batches that met the open circuit were dead-lettered.
      ENRICHMENT_BREAKER_COOLDOWN_MS: '15000',
      RECONCILE_STALL_SECONDS: '10',
    });
    const poison = makeContacts(100, {
      start: 50_000,
      poison: new Set(Array.from({ length: 100 }, (_, i) => 50_000 + i)),
    });
    const healthy = [makeContacts(300, { start: 0 }), makeContacts(300, { start: 1_000 })];
    const worker = observedWorker();
    const dlq = observedDlq();
    runPipeline(service, { worker: worker.handler, dlq: dlq.handler, concurrency: 4, visibilityTimeout: 1 });
    const bad = await submit({ contacts: poison, fields_to_enrich: FIELDS });
    await waitFor('the poison batch is handed back once', async () =>
      worker.seen.some((s) => s.message.requestId === bad.json.requestId && s.receiveCount >= 2) ? true : undefined,
    );
    const good = await Promise.all(healthy.map((contacts) => submit({ contacts, fields_to_enrich: FIELDS })));

    for (const [i, r] of good.entries()) {
      const final = await waitForFinal(r.json.requestId, 90_000);
      expect(final).toMatchObject({ status: 'completed', processedBatches: 3, failedBatches: 0 });
      expectOutput(await readOutput(service, r.json.requestId), expectedRows(healthy[i], [...FIELDS]));
    }
    const badFinal = await waitForFinal(bad.json.requestId, 90_000);
    expect(badFinal).toMatchObject({ status: 'failed', failedBatches: 1, summary: { failed: 100 } });
    // No healthy batch spent a receive: they were held while the circuit was open, and none reached the DLQ.
    const healthyIds = new Set(good.map((r) => r.json.requestId));
    const healthySeen = worker.seen.filter((s) => healthyIds.has(s.message.requestId));
    expect(healthySeen.length).toBeGreaterThanOrEqual(6);
    expect(healthySeen.filter((s) => s.receiveCount > 1)).toEqual([]);
    expect(healthySeen.some((s) => s.message.holds)).toBe(true); // the circuit did stop them
    expect(dlq.batches.map((b) => b.requestId)).toEqual([bad.json.requestId]);
    // A single batch's failures paused no other instance: the fleet's gate never opened.
    expect(await gateStoreAs(service).read()).toEqual({});
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  });
});

// The key is part of the item's contract with the runbook (docs/operations.md).
test('the gate item key', () => expect(GATE_KEY).toBe('provider#gate'));
