import { config, type Config } from '../config';
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
import { dynamoRequestHistory, dynamoStatusStore } from '../adapters/statusTable';
import { dynamoUploadRecords } from '../adapters/uploadRecords';
import type { AssembleDeps } from '../core/assembleOutput';
import type { CancelDeps } from '../core/cancel';
import type { CreateDeps } from '../core/createEnrichment';
import type { IntakeDeps } from '../core/intake';
import type { RecordingDeps } from '../core/processBatch';
import {
  noFaults,
  systemClock,
  type Clock,
  type ProviderGateStore,
  type RequestHistory,
  type StatusStore,
} from '../core/ports';
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
 * Production wiring of the use cases to the AWS adapters. Fault hooks are never wired here.
 * `clients` are the function's own (its role's); tests pass a function's local identity.
 * The enrichment provider's wiring is apart, in src/handlers/workerWiring.ts: only the worker imports it, so no other
 * function's bundle requires the provider's adapters (People Data Labs' reads its key with
 * @aws-sdk/client-secrets-manager, and serverless-esbuild installs every package a bundle requires into its zip).
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

/** The provider gate's item (the status table), for the worker, the status read and reconcile's metric. */
export const providerGateStore = (clients: AwsClients): ProviderGateStore =>
  dynamoProviderGateStore(config().TABLE_NAME, clients.ddb);

/**
 * What records a batch and has a complete request assembled, without the provider: the dead-letter function's deps,
 * and the base of reconcile's and the worker's (src/handlers/workerWiring.ts).
 */
export function recordingDeps(clients: AwsClients = awsClients()): RecordingDeps {
  const c = config();
  return {
    ...useCaseDeps(clients),
    assemblyQueue: sqsAssemblyQueue(c.ASSEMBLY_QUEUE_NAME, clients.sqs),
    assemblyInlineMaxBatches: c.ASSEMBLY_INLINE_MAX_BATCHES,
    webhooks: webhookOutbox(clients),
    pricePerMatch: c.PROVIDER_PRICE_PER_MATCH,
  };
}

export function reconcileDeps(clients: AwsClients = awsClients()): ReconcileDeps {
  const c = config();
  return {
    ...recordingDeps(clients),
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
