import { config, type Config } from '../config';
import { httpEnrichmentApi } from '../adapters/enrichmentApi';
import { peopleDataLabsApi } from '../adapters/peopleDataLabs';
import { secretValue } from '../adapters/secrets';
import { awsClients, type AwsClients } from '../adapters/clients';
import { sqsBatchQueue } from '../adapters/sqs';
import { dynamoTokenBucketStore } from '../adapters/rateLimitTable';
import { dynamoResultCache } from '../adapters/resultCache';
import { FleetGate, TRIAL_LEASE_MARGIN_MS } from '../core/providerGate';
import { planLimiter, TokenBucket, type BucketSeen } from '../core/rateLimiter';
import type { EnrichmentApi } from '../core/ports';
import type { WorkerDeps } from '../core/processBatch';
import { logger } from '../logger';
import { providerGateStore, recordingDeps } from './wiring';

/**
 * The worker's wiring: the enrichment provider, its gate, limits and result cache, on top of recording's
 * (src/handlers/wiring.ts). Only processBatch imports this module, so only its bundle requires the provider's adapters
 * (People Data Labs' reads its key with @aws-sdk/client-secrets-manager); every other function's zip leaves them out.
 */

/**
 * Offline (RESULT_TTL_MINUTES set) a cached result lives no longer than a request: the sweeper deletes it on the local
 * clock like every item past its TTL, so the emulator's memory does not grow with every distinct contact ever seen.
 */
const onLocalClock = (days: number, c: Config) =>
  c.RESULT_TTL_MINUTES > 0 && days > 0 ? Math.min(days, c.RESULT_TTL_MINUTES / 1440) : days;

/**
 * The enrichment provider's adapter, by ENRICHMENT_PROVIDER. Adding a provider: one adapter and one mapping
 * (docs/providers.md), one case here.
 */
export function enrichmentApi(c: Config = config()): EnrichmentApi {
  switch (c.ENRICHMENT_PROVIDER) {
    case 'peopledatalabs': {
      const arn = c.PDL_API_KEY_SECRET_ARN;
      return peopleDataLabsApi({
        baseUrl: c.ENRICHMENT_API_URL,
        timeoutMs: c.ENRICHMENT_TIMEOUT_MS,
        minLikelihood: c.PDL_MIN_LIKELIHOOD,
        // The key of the environment wins (offline: the mock's); on AWS the secret, read once per cold start.
        apiKey: async () => c.ENRICHMENT_API_KEY || (arn ? secretValue(arn, c.AWS_REGION) : undefined),
      });
    }
    case 'mock':
      return httpEnrichmentApi(c.ENRICHMENT_API_URL, c.ENRICHMENT_TIMEOUT_MS, c.ENRICHMENT_API_KEY);
  }
}

let gates = new WeakMap<AwsClients, FleetGate>();

/**
 * The worker's provider gate (src/core/providerGate.ts): one item of the status table shared by the fleet, seen
 * through module state, so one view per function instance (on AWS, per execution environment: one set of clients per
 * cold start), shared by the messages it handles over its life: its failure count, what it last read, its trial.
 * Keyed by the clients, so that in one process (the tests) each function identity has its own, as on AWS.
 */
function workerGate(clients: AwsClients): FleetGate {
  const c = config();
  let gate = gates.get(clients);
  if (gate) return gate;
  gate = new FleetGate({
    threshold: c.ENRICHMENT_BREAKER_THRESHOLD,
    coolDownMs: c.ENRICHMENT_BREAKER_COOLDOWN_MS,
    creditRetryMs: c.PROVIDER_CREDIT_RETRY_SECONDS * 1000,
    leaseMs: c.ENRICHMENT_TIMEOUT_MS + TRIAL_LEASE_MARGIN_MS,
    store: providerGateStore(clients),
    log: logger,
  });
  gates.set(clients, gate);
  return gate;
}

/** For tests that start a new service (a new configuration) in the same process. */
export function resetWorkerBreaker(): void {
  gates = new WeakMap();
  bucketSeen = new Map();
}

/**
 * What the instance last saw of the shared bucket's counters: a guess that saves a write after an idle spell
 * (src/core/rateLimiter.ts). Module state, as the breaker.
 */
let bucketSeen: BucketSeen = new Map();

/** The provider's rate limits: one bucket in the status table shared by every worker (none when both limits are off). */
function workerLimiter(clients: AwsClients): TokenBucket | undefined {
  const c = config();
  const plan = planLimiter({
    callsPerMinute: c.PROVIDER_CALLS_PER_MINUTE,
    contactsPerMinute: c.PROVIDER_CONTACTS_PER_MINUTE,
    maxContactsPerCall: c.BATCH_SIZE,
  });
  if (!plan) return undefined;
  return new TokenBucket(plan, dynamoTokenBucketStore(c.TABLE_NAME, clients.ddb), { seen: bucketSeen });
}

export function workerDeps(clients: AwsClients = awsClients()): WorkerDeps {
  const c = config();
  return {
    ...recordingDeps(clients),
    api: enrichmentApi(c),
    retry: {
      maxAttempts: c.ENRICHMENT_MAX_ATTEMPTS,
      baseDelayMs: c.ENRICHMENT_BACKOFF_BASE_MS,
      maxDelayMs: c.ENRICHMENT_BACKOFF_MAX_MS,
      singleContactMaxAttempts: c.ENRICHMENT_SINGLE_MAX_ATTEMPTS,
      subBatchMaxAttempts: c.ENRICHMENT_SUBBATCH_MAX_ATTEMPTS,
      callTimeoutMs: c.ENRICHMENT_TIMEOUT_MS,
    },
    timeReserveMs: c.WORKER_TIME_RESERVE_MS,
    callBudgetFactor: c.ENRICHMENT_CALL_BUDGET_FACTOR,
    gate: workerGate(clients),
    limiter: workerLimiter(clients),
    // Holds re-send a batch with a delay; reconcile treats a request untouched for RECONCILE_STALL_SECONDS as stalled,
    // so a hold comes back (and touches it again) well within that.
    queue: sqsBatchQueue(c.BATCH_QUEUE_NAME, clients.sqs),
    holdMaxDelaySeconds: Math.min(900, Math.floor(c.RECONCILE_STALL_SECONDS / 2)),
    outageHoldMs: c.PROVIDER_OUTAGE_HOLD_SECONDS * 1000,
    ...(c.CACHE_TTL_DAYS > 0 && c.CACHE_TABLE
      ? {
          cache: {
            cache: dynamoResultCache(c.CACHE_TABLE, clients.ddb),
            ttlDays: onLocalClock(c.CACHE_TTL_DAYS, c),
            notFoundTtlDays: onLocalClock(c.NOT_FOUND_CACHE_TTL_DAYS, c),
            scope: c.CACHE_SCOPE,
          },
        }
      : {}),
  };
}
