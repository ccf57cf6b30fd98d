import { config } from '../config';
import { httpEnrichmentApi } from '../adapters/enrichmentApi';
import { metric } from '../adapters/metrics';
import { s3ObjectStore } from '../adapters/s3';
import { sqsBatchQueue } from '../adapters/sqs';
import { dynamoStatusStore } from '../adapters/statusTable';
import type { CreateDeps } from '../core/createEnrichment';
import { noFaults, systemClock } from '../core/ports';
import type { WorkerDeps } from '../core/processBatch';
import type { ReconcileDeps } from '../core/reconcile';
import { logger } from '../logger';

/** Production wiring of the use cases to the AWS adapters. Fault hooks are never wired here. */
export function createDeps(): CreateDeps {
  const c = config();
  return {
    store: s3ObjectStore(),
    status: dynamoStatusStore(),
    queue: sqsBatchQueue(),
    clock: systemClock,
    log: logger,
    bucket: c.BUCKET_NAME,
    batchSize: c.BATCH_SIZE,
    deadlineSeconds: c.REQUEST_DEADLINE_SECONDS,
    ttlDays: c.RESULT_TTL_DAYS,
  };
}

export function workerDeps(): WorkerDeps {
  const c = config();
  return {
    store: s3ObjectStore(),
    status: dynamoStatusStore(),
    clock: systemClock,
    log: logger,
    faults: noFaults,
    api: httpEnrichmentApi(c.ENRICHMENT_API_URL, c.ENRICHMENT_TIMEOUT_MS),
    retry: {
      maxAttempts: c.ENRICHMENT_MAX_ATTEMPTS,
      baseDelayMs: c.ENRICHMENT_BACKOFF_BASE_MS,
      maxDelayMs: c.ENRICHMENT_BACKOFF_MAX_MS,
      singleContactMaxAttempts: c.ENRICHMENT_SINGLE_MAX_ATTEMPTS,
      subBatchMaxAttempts: c.ENRICHMENT_SUBBATCH_MAX_ATTEMPTS,
      callTimeoutMs: c.ENRICHMENT_TIMEOUT_MS,
    },
    timeReserveMs: c.WORKER_TIME_RESERVE_MS,
    metric,
  };
}

export function reconcileDeps(): ReconcileDeps {
  const c = config();
  return { ...workerDeps(), queue: sqsBatchQueue(), batchSize: c.BATCH_SIZE, stallSeconds: c.RECONCILE_STALL_SECONDS };
}
