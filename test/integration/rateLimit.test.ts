import type { SQSEvent } from 'aws-lambda';
import { dynamoTokenBucketStore } from '../../src/adapters/rateLimitTable';
import { FleetGate } from '../../src/core/providerGate';
import { grantBound, planLimiter, TokenBucket } from '../../src/core/rateLimiter';
import { makeHandler } from '../../src/handlers/processBatch';
import type { BatchMessage } from '../../src/schemas/message';
import { makeContacts } from '../support/factories';
import { drainedDepth, runPipeline, startFaultService } from '../support/faults';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { workerDepsFn } from '../support/functions';
import { expectedRows, expectOutput } from '../support/output';
import type { TestService } from '../support/service';

const FIELDS = ['professional_email', 'job_title'] as const;

/** UpdateItem calls the processBatch role's DynamoDB client makes from now on (a middleware counts them). */
function countUpdates(service: TestService): () => number {
  let updates = 0;
  service.as('processBatch').ddb.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UpdateCommand' || context.commandName === 'UpdateItemCommand') updates += 1;
      return next(args);
    },
    { step: 'initialize', name: `countUpdates${Math.random()}` },
  );
  return () => updates;
}

describe('the shared rate limiter and holds (dynalite + fauxqs, through the IAM edge as processBatch)', () => {
  let service: TestService;
  afterEach(() => service.close());

  it('16 concurrent workers taking for 3 s at 600 calls/min get at most 30 + the burst, at about one UpdateItem a token', async () => {
    service = await startFaultService({ PROVIDER_CALLS_PER_MINUTE: '600' });
    const plan = planLimiter({ callsPerMinute: 600, maxContactsPerCall: 100 })!;
    const store = dynamoTokenBucketStore(service.table, service.as('processBatch').ddb);
    const updates = countUpdates(service);
    const end = Date.now() + 3_000;
    let granted = 0;
    // Each worker is its own instance (its own view of the bucket), taking one call token until the next would
    // come after the end of the 3 s.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        const bucket = new TokenBucket(plan, store);
        // A guard: a limiter that never refuses would loop until jest's timeout; it fails the bound instead.
        while (granted < 1_000 && (await bucket.take(1, end - Date.now()))) granted += 1;
      }),
    );
    // 30 tokens in 3 s at 600/min, plus the 3 s burst (30) and one take: the bound the plan guarantees.
    expect(granted).toBeLessThanOrEqual(grantBound(plan, 'calls', 3_000));
    expect(grantBound(plan, 'calls', 3_000)).toBeLessThanOrEqual(30 + 30 + 1);
    expect(granted).toBeGreaterThanOrEqual(20);
    // Calls per token: one write per granted take, one per worker's final refusal, and a cold start (16 takers on an
    // absent item at once) costs each at most a discarded take and a lost raise.
    const perToken = updates() / granted;
    process.stdout.write(
      `rate limiter: ${granted} tokens, ${updates()} UpdateItem calls (${perToken.toFixed(2)} a token)\n`,
    );
    expect(updates()).toBeLessThanOrEqual(granted + 16 + 2 * 16);
  });

  it("a provider's pause set by one worker holds another worker's take until then", async () => {
    service = await startFaultService({ PROVIDER_CALLS_PER_MINUTE: '600' });
    const plan = planLimiter({ callsPerMinute: 600, maxContactsPerCall: 100 })!;
    const store = dynamoTokenBucketStore(service.table, service.as('processBatch').ddb);
    const seer = new TokenBucket(plan, store);
    const other = new TokenBucket(plan, store);
    expect(await other.take(1, 0)).toBe(true); // healthy: a token at once
    const until = Date.now() + 1_500;
    await seer.pause(until);
    // Within 500 ms it cannot be had: refused at once (the batch would be held); with room to wait, it waits till then.
    expect(await other.take(1, 500)).toBe(false);
    expect(await other.take(1, 5_000)).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(until);
  });

  it('a batch handed back by an open circuit is re-sent with a delay (held), spends no receive, and is enriched after', async () => {
    service = await startFaultService({ ENRICHMENT_BREAKER_COOLDOWN_MS: '1500' });
    // The worker's circuit was opened by other batches' failures (as an always-failing request does).
    const gate = new FleetGate({ threshold: 2, coolDownMs: 1_500 });
    await gate.failure();
    await gate.failure();
    expect(gate.state()).toBe('open');
    const receives: number[] = [];
    const holds: (number | undefined)[] = [];
    const inner = makeHandler(workerDepsFn({ gate }));
    const worker = (event: SQSEvent, context?: Parameters<typeof inner>[1]) => {
      for (const r of event.Records) {
        receives.push(Number(r.attributes.ApproximateReceiveCount));
        holds.push((JSON.parse(r.body) as BatchMessage).holds);
      }
      return inner(event, context);
    };
    const contacts = makeContacts(99);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    runPipeline(service, { worker, concurrency: 1, visibilityTimeout: 30 });
    const final = await waitForFinal(res.json.requestId, 30_000);

    expect(final).toMatchObject({ status: 'completed', processedBatches: 1, failedBatches: 0 });
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
    // First delivery: circuit open, held. Then the held copy (holds: 1), after the cool-down: enriched. Every message
    // was received once: the hold spent no receive.
    expect(holds).toEqual([undefined, 1]);
    expect(receives).toEqual([1, 1]);
    expect(service.mockApi.calls()).toBe(1);
    expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
  });
});
