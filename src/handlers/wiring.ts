import { config, type Config } from '../config';
import { httpEnrichmentApi } from '../adapters/enrichmentApi';
import { peopleDataLabsApi } from '../adapters/peopleDataLabs';
import { secretValue } from '../adapters/secrets';
import { awsClients, type AwsClients } from '../adapters/clients';
import { datadogMetrics } from '../adapters/metrics';
import { ddTracing } from '../adapters/tracing';
import { presignDownload, s3ObjectStore, s3UploadStore } from '../adapters/s3';
import { sqsAssemblyQueue, sqsBatchQueue, sqsIntakeQueue, sqsWebhookQueue } from '../adapters/sqs';
import { dynamoWebhookDeliveries } from '../adapters/webhookDeliveries';
import { httpWebhookSender } from '../adapters/webhookHttp';
import { dynamoWebhookSecrets } from '../adapters/webhookSecrets';
import type { DeliveryDeps, WebhookOutbox } from '../core/webhooks';
import type { SecretDeps } from '../core/webhookSecrets';
import type { CallbackRules } from '../core/webhookUrl';
import { dynamoProviderGateStore } from '../adapters/providerGate';
import { dynamoTokenBucketStore } from '../adapters/rateLimitTable';
import { dynamoResultCache } from '../adapters/resultCache';
import { dynamoRequestHistory, dynamoStatusStore } from '../adapters/statusTable';
import { dynamoUploadRecords } from '../adapters/uploadRecords';
import { FleetGate, TRIAL_LEASE_MARGIN_MS } from '../core/providerGate';
import { planLimiter, TokenBucket, type BucketSeen } from '../core/rateLimiter';
import type { AssembleDeps } from '../core/assembleOutput';
import type { CancelDeps } from '../core/cancel';
import type { CreateDeps } from '../core/createEnrichment';
import type { IntakeDeps } from '../core/intake';
import {
  noFaults,
  systemClock,
  type Clock,
  type EnrichmentApi,
  type ProviderGateStore,
  type RequestHistory,
  type StatusStore,
} from '../core/ports';
import type { WorkerDeps } from '../core/processBatch';
import type { ReconcileDeps } from '../core/reconcile';
import type { UploadDeps } from '../core/uploads';
import { logger } from '../logger';

/**
 * What every use case's deps start with: the bucket, the status table, the clock, the logs, metrics and spans, and no
 * fault hooks (only the tests wire those).
 */
function useCaseDeps(clients: AwsClients) {
  const c = config();
  return {
    store: s3ObjectStore(c.BUCKET_NAME, clients.s3),
    status: dynamoStatusStore(c.TABLE_NAME, clients.ddb),
    clock: systemClock,
    log: logger,
    metrics: datadogMetrics,
    tracer: ddTracing,
    faults: noFaults,
  };
}

/** Where a final request's webhook event is queued: the webhook queue, and the status item's `webhook`. */
function webhookOutbox(clients: AwsClients): WebhookOutbox {
  const c = config();
  return {
    queue: sqsWebhookQueue(c.WEBHOOK_QUEUE_NAME, c.WEBHOOK_DLQ_NAME, clients.sqs),
    deliveries: dynamoWebhookDeliveries(c.TABLE_NAME, clients.ddb),
  };
}

/** The SSRF rules of callbackUrls (WEBHOOK_ALLOW_PRIVATE, WEBHOOK_ALLOWED_PORTS). */
const callbackRules = (c: Config = config()): CallbackRules => ({
  allowPrivate: c.WEBHOOK_ALLOW_PRIVATE,
  allowedPorts: c.WEBHOOK_ALLOWED_PORTS,
});

/**
 * Offline (RESULT_TTL_MINUTES set) a cached result lives no longer than a request: the sweeper deletes it on the local
 * clock like every item past its TTL, so the emulator's memory does not grow with every distinct contact ever seen.
 */
const onLocalClock = (days: number, c: Config) =>
  c.RESULT_TTL_MINUTES > 0 && days > 0 ? Math.min(days, c.RESULT_TTL_MINUTES / 1440) : days;

/**
 * Production wiring of the use cases to the AWS adapters. Fault hooks are never wired here.
 * `clients` are the function's own (its role's); tests pass a function's local identity.
 */
export function createDeps(clients: AwsClients = awsClients()): CreateDeps {
  const c = config();
  return {
    ...useCaseDeps(clients),
    queue: sqsBatchQueue(c.BATCH_QUEUE_NAME, clients.sqs),
    intakeQueue: sqsIntakeQueue(c.INTAKE_QUEUE_NAME, clients.sqs),
    bucket: c.BUCKET_NAME,
    batchSize: c.BATCH_SIZE,
    deadlineSeconds: c.REQUEST_DEADLINE_SECONDS,
    ttlDays: c.RESULT_TTL_DAYS,
    ttlMinutes: c.RESULT_TTL_MINUTES,
    callbackRules: callbackRules(c),
    webhookSecrets: dynamoWebhookSecrets(c.TABLE_NAME, clients.ddb),
  };
}

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

/** The provider gate's item (the status table), for the worker, the status read and reconcile's metric. */
const providerGateStore = (clients: AwsClients): ProviderGateStore =>
  dynamoProviderGateStore(config().TABLE_NAME, clients.ddb);

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
    ...useCaseDeps(clients),
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
    assemblyQueue: sqsAssemblyQueue(c.ASSEMBLY_QUEUE_NAME, clients.sqs),
    assemblyInlineMaxBatches: c.ASSEMBLY_INLINE_MAX_BATCHES,
    webhooks: webhookOutbox(clients),
    pricePerMatch: c.PROVIDER_PRICE_PER_MATCH,
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

export function reconcileDeps(clients: AwsClients = awsClients()): ReconcileDeps {
  const c = config();
  return {
    ...workerDeps(clients),
    queue: sqsBatchQueue(c.BATCH_QUEUE_NAME, clients.sqs),
    batchSize: c.BATCH_SIZE,
    stallSeconds: c.RECONCILE_STALL_SECONDS,
    assemblyTimeoutSeconds: c.ASSEMBLY_TIMEOUT_SECONDS,
    gateStore: providerGateStore(clients),
  };
}

/** The assembleOutput function: the batch results, the outputs and the status table. Fault hooks are never wired here. */
export function assemblyDeps(clients: AwsClients = awsClients()): AssembleDeps {
  return {
    ...useCaseDeps(clients),
    pricePerMatch: config().PROVIDER_PRICE_PER_MATCH,
    webhooks: webhookOutbox(clients),
  };
}

/**
 * What the status and download functions read: the status table, the provider gate's item (a processing request's
 * `waitingFor`) and, for downloads, a presigner.
 */
export interface ReadDeps {
  status: StatusStore;
  /** The tombstones of expired requests (a download answers 410 for them). */
  history: RequestHistory;
  clock: Clock;
  gate?: ProviderGateStore;
  presign(key: string, filename: string, contentType?: string): Promise<string>;
  /** PROVIDER_PRICE_PER_MATCH: prices a running request's usage (a final one carries its own cost). 0 when unset. */
  pricePerMatch?: number;
}

export function readDeps(clients: AwsClients = awsClients()): ReadDeps {
  const c = config();
  return {
    status: dynamoStatusStore(c.TABLE_NAME, clients.ddb),
    history: dynamoRequestHistory(c.TABLE_NAME, clients.ddb),
    clock: systemClock,
    gate: providerGateStore(clients),
    presign: (key, filename, contentType) => presignDownload(key, filename, c.BUCKET_NAME, clients.s3, contentType),
    pricePerMatch: c.PROVIDER_PRICE_PER_MATCH,
  };
}

export interface ListHandlerDeps {
  history: RequestHistory;
  clock: Clock;
  /** PROVIDER_PRICE_PER_MATCH, as ReadDeps. */
  pricePerMatch?: number;
}

/** GET /enrichment: the status table's owner index only. */
export function listDeps(clients: AwsClients = awsClients()): ListHandlerDeps {
  const c = config();
  return {
    history: dynamoRequestHistory(c.TABLE_NAME, clients.ddb),
    clock: systemClock,
    pricePerMatch: c.PROVIDER_PRICE_PER_MATCH,
  };
}

/**
 * The upload functions: the bucket's multipart uploads, their records in the status table, the size cap and the
 * part URLs' lifetime.
 */
export function uploadDeps(clients: AwsClients = awsClients()): Omit<UploadDeps, 'owner'> {
  const c = config();
  return {
    uploads: s3UploadStore(c.BUCKET_NAME, clients.s3),
    records: dynamoUploadRecords(c.TABLE_NAME, clients.ddb),
    clock: systemClock,
    maxBytes: c.MAX_UPLOAD_BYTES,
    urlTtlSeconds: c.UPLOAD_URL_TTL_SECONDS,
    ttlDays: c.RESULT_TTL_DAYS,
    ttlMinutes: c.RESULT_TTL_MINUTES,
  };
}

export function intakeDeps(clients: AwsClients = awsClients()): IntakeDeps {
  const c = config();
  return {
    ...useCaseDeps(clients),
    queue: sqsBatchQueue(c.BATCH_QUEUE_NAME, clients.sqs),
    intakeQueue: sqsIntakeQueue(c.INTAKE_QUEUE_NAME, clients.sqs),
    timeReserveMs: c.INTAKE_TIME_RESERVE_MS,
    webhooks: webhookOutbox(clients),
  };
}

/** The deliverWebhook function: its queue, the status items' `webhook`, the signing secrets, the HTTP sender. */
export function deliveryDeps(clients: AwsClients = awsClients()): DeliveryDeps {
  const c = config();
  return {
    ...webhookOutbox(clients),
    secrets: dynamoWebhookSecrets(c.TABLE_NAME, clients.ddb),
    sender: httpWebhookSender({ ...callbackRules(c), timeoutMs: c.WEBHOOK_TIMEOUT_MS }),
    clock: systemClock,
    log: logger,
    metrics: datadogMetrics,
    firstRetrySeconds: c.WEBHOOK_FIRST_RETRY_SECONDS,
    maxAttempts: c.WEBHOOK_MAX_ATTEMPTS,
    // Longer than the function's 30 s timeout: only a crashed attempt's claim is this old.
    claimStaleMs: 60_000,
  };
}

/** The webhookSecret function: the signing secrets in the status table. */
export function secretDeps(clients: AwsClients = awsClients()): SecretDeps {
  const c = config();
  return {
    secrets: dynamoWebhookSecrets(c.TABLE_NAME, clients.ddb),
    clock: systemClock,
    overlapHours: c.WEBHOOK_SECRET_OVERLAP_HOURS,
  };
}

/** The cancel function: the status table (one conditional write), the clock, the logs and metrics. */
export function cancelDeps(clients: AwsClients = awsClients()): CancelDeps & { pricePerMatch: number } {
  const c = config();
  return {
    status: dynamoStatusStore(c.TABLE_NAME, clients.ddb),
    clock: systemClock,
    log: logger,
    metrics: datadogMetrics,
    pricePerMatch: c.PROVIDER_PRICE_PER_MATCH,
  };
}
