/**
 * The one catalogue of the service's custom metrics. Every emission names a metric through METRICS, the
 * dashboard and the monitors (docs/datadog-*.json) query only these names or AWS integration metrics, and
 * test/unit/datadogDocs.test.ts checks both directions. Every metric is a Datadog distribution: one point per
 * event, so `count:` counts events and `sum:` adds their values. Tag values are closed sets: never an id, never
 * contact data. The metrics adapter adds env, service, version and stage to every point.
 */
export interface MetricSpec {
  name: string;
  kind: 'distribution';
  unit: string;
  /** Tag keys the code sets on the metric, with their possible values. */
  tags: Readonly<Record<string, readonly string[]>>;
  meaning: string;
  /** Percentiles (p50/p95/p99) enabled by src/scripts/pushDatadog.ts: the dashboard or a monitor uses them. */
  percentiles?: true;
}

const spec = <T extends Record<string, MetricSpec>>(t: T) => t;

export const METRICS = spec({
  requestAccepted: {
    name: 'enrichment.request.accepted',
    kind: 'distribution',
    unit: 'request',
    tags: { input: ['inline', 'upload'] },
    meaning: 'A request answered 202 (an upload is counted when it is accepted for validation, before its intake).',
  },
  requestContacts: {
    name: 'enrichment.request.contacts',
    kind: 'distribution',
    unit: 'contact',
    tags: { input: ['inline', 'upload'] },
    meaning:
      'Contacts of a request that goes to processing (inline: at create; upload: when its intake has sent every batch).',
  },
  requestDuplicate: {
    name: 'enrichment.request.duplicate',
    kind: 'distribution',
    unit: 'request',
    tags: {},
    meaning: 'A repeated request answered with the original (dedup or Idempotency-Key).',
  },
  requestRejected: {
    name: 'enrichment.request.rejected',
    kind: 'distribution',
    unit: 'request',
    tags: { reason: ['invalid_request', 'invalid_upload', 'intake_failed'] },
    meaning:
      'A request refused: invalid_request, the create call answered 400; invalid_upload, the intake found an invalid contact or an unreadable file; intake_failed, its intake kept failing and was dead-lettered (both: status rejected).',
  },
  requestFinalized: {
    name: 'enrichment.request.finalized',
    kind: 'distribution',
    unit: 'request',
    tags: { status: ['completed', 'completed_with_errors', 'failed', 'cancelled'] },
    meaning: 'A request whose output was assembled and whose status became final (counted once, by the run that won).',
  },
  requestCancel: {
    name: 'enrichment.request.cancel',
    kind: 'distribution',
    unit: 'request',
    tags: { result: ['accepted', 'repeated', 'final'] },
    meaning:
      'A POST /enrichment/{id}/cancel of an owned request: accepted, a running request marked cancelling (once per request); repeated, a cancel asked again (202 while cancelling, 200 once cancelled); final, a request already final otherwise (409).',
  },
  requestsProcessing: {
    name: 'enrichment.requests.processing',
    kind: 'distribution',
    unit: 'request',
    tags: {},
    meaning: 'Requests still processing or validating, counted by each reconcile run (every 5 minutes).',
  },
  oldestProcessingAge: {
    name: 'enrichment.requests.oldest_processing_age_s',
    kind: 'distribution',
    unit: 'second',
    tags: {},
    meaning: 'Age of the oldest request still processing or validating, measured by each reconcile run (0 when none).',
  },
  batchDuration: {
    name: 'enrichment.batch.duration_ms',
    kind: 'distribution',
    unit: 'millisecond',
    tags: {},
    meaning: 'Time a worker spent enriching a batch it finished (the delivery that stored its result).',
    percentiles: true,
  },
  batchDelivery: {
    name: 'enrichment.batch.delivery',
    kind: 'distribution',
    unit: 'delivery',
    tags: {
      result: [
        'recorded',
        'duplicate',
        'held',
        'cancelled',
        'skipped',
        'out_of_time',
        'circuit_open',
        'unavailable',
        'error',
      ],
    },
    meaning:
      'One per batch message a worker handled. held: re-sent with a delay (a pause not its own doing; no receive spent); cancelled: its request was cancelled, so it was recorded with its unsettled contacts cancelled and no provider call; out_of_time, circuit_open, unavailable and error are handed back to SQS (batchItemFailures); error is an unexpected failure: the worker error rate.',
  },
  batchFailed: {
    name: 'enrichment.batch.failed',
    kind: 'distribution',
    unit: 'batch',
    tags: {},
    meaning: 'A batch that reached the dead-letter queue and was written as failed (its unsettled contacts failed).',
  },
  batchOutOfTime: {
    name: 'enrichment.batch.out_of_time',
    kind: 'distribution',
    unit: 'batch',
    tags: {},
    meaning: 'A worker ran out of time and handed its batch back with its progress kept.',
  },
  batchCircuitOpen: {
    name: 'enrichment.batch.circuit_open',
    kind: 'distribution',
    unit: 'batch',
    tags: {},
    meaning: "A worker's circuit breaker was open: the batch was handed back with its progress kept.",
  },
  batchHeld: {
    name: 'enrichment.batch.held',
    kind: 'distribution',
    unit: 'batch',
    tags: { reason: ['tokens', 'rate_limit', 'outage', 'credits'] },
    meaning:
      "A batch held (re-sent with a delay, no receive spent), by what stopped it: tokens, the shared limiter had none within its time budget; rate_limit, the provider's 429 pause; outage, the provider gate open for an outage; credits, the credit pause (no bound on those holds).",
  },
  gateOpen: {
    name: 'enrichment.provider.gate_open',
    kind: 'distribution',
    unit: 'gate',
    tags: { reason: ['outage', 'credits', 'rate_limit'] },
    meaning:
      'The provider gate as each reconcile run (every 5 minutes) reads it: one point per reason, 1 while the gate is not closed for that reason (open, or half open waiting for its trial), else 0. Emitted whether or not any worker runs.',
  },
  contacts: {
    name: 'enrichment.contacts',
    kind: 'distribution',
    unit: 'contact',
    tags: { outcome: ['enriched', 'not_found', 'failed', 'cancelled'] },
    meaning:
      'Contacts settled, by outcome, counted when their batch is recorded (once): a batch a worker stored, a dead-lettered batch, a batch failed at the deadline (one point per outcome present, the value the count).',
  },
  contactsFailed: {
    name: 'enrichment.contacts.failed',
    kind: 'distribution',
    unit: 'contact',
    tags: {},
    meaning: 'Failed contacts of each batch a worker stored (0 included).',
  },
  cacheHits: {
    name: 'enrichment.cache.hits',
    kind: 'distribution',
    unit: 'contact',
    tags: {},
    meaning:
      "Contacts of a batch settled from the result cache, with no provider call (one point per batch read, the value the count; a request's refresh reads nothing).",
  },
  cacheMisses: {
    name: 'enrichment.cache.misses',
    kind: 'distribution',
    unit: 'contact',
    tags: {},
    meaning:
      'Contacts of a batch the result cache had no live result for: they go to the provider (one point per batch read).',
  },
  cacheErrors: {
    name: 'enrichment.cache.errors',
    kind: 'distribution',
    unit: 'operation',
    tags: { operation: ['read', 'write'] },
    meaning:
      'A result cache read or write that failed or left items unprocessed after its retries: a read is taken as misses, a write is dropped; the batch goes on either way.',
  },
  apiRetries: {
    name: 'enrichment.api.retries',
    kind: 'distribution',
    unit: 'call',
    tags: {},
    meaning: 'Enrichment API retries a worker made for a batch it stored.',
  },
  apiCall: {
    name: 'enrichment.api.call.duration_ms',
    kind: 'distribution',
    unit: 'millisecond',
    tags: { outcome: ['ok', 'error'], status_code: ['HTTP status code', 'timeout', 'other'] },
    meaning:
      'One per enrichment API call: its latency, tagged by HTTP status (timeout, or other for a failure without one). count: gives calls, outcome:error the error rate.',
    percentiles: true,
  },
  rateLimitWait: {
    name: 'enrichment.provider.rate_limit_wait',
    kind: 'distribution',
    unit: 'millisecond',
    tags: {},
    meaning:
      "Time a batch delivery spent taking the shared rate limiter's tokens before its provider calls (the waits for them and the takes' own writes; one point per delivery that took any, its total). Summed per request in the status's usage.rateLimitWaitMs.",
  },
  reconcileResent: {
    name: 'enrichment.reconcile.batches_resent',
    kind: 'distribution',
    unit: 'batch',
    tags: {},
    meaning: 'Batches reconcile sent again for a stalled request (one point per re-driven request).',
  },
  reconcileRecounted: {
    name: 'enrichment.reconcile.batches_recounted',
    kind: 'distribution',
    unit: 'batch',
    tags: {},
    meaning:
      'Batches whose result was in S3 but never counted, which reconcile counted (one point per request repaired).',
  },
  reconcileExpired: {
    name: 'enrichment.reconcile.deadline_finalized',
    kind: 'distribution',
    unit: 'batch',
    tags: {},
    meaning: 'A request past its deadline that reconcile finished: the value is its batches marked failed.',
  },
  webhookDelivery: {
    name: 'enrichment.webhook.delivery',
    kind: 'distribution',
    unit: 'attempt',
    tags: { outcome: ['delivered', 'retrying', 'failed', 'dead_lettered', 'waiting', 'duplicate'] },
    meaning:
      "A message of the webhook queue handled: delivered (a 2xx), retrying (an attempt failed, the next is queued), failed (410 or a refused address: no more attempts), dead_lettered (every attempt failed), waiting (a long wait's next leg) or duplicate (dropped).",
  },
});

export type MetricKey = keyof typeof METRICS;
