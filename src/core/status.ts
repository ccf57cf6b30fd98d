import type { OutputCounts, OutputFormat } from './output';
import type { WaitingFor } from './providerGate';
import type { RequestStatus, StatusRecord, Usage } from '../schemas/status';
import { priced } from './usage';
import type { WebhookState } from '../schemas/webhook';

/** The record's `expiresAt` (epoch seconds, the table's TTL attribute) as an ISO time. */
export const expiresAtIso = (record: Pick<StatusRecord, 'expiresAt'>) =>
  new Date(record.expiresAt * 1000).toISOString();

/**
 * How long a request's status and objects are kept: `ttlMinutes` when set (offline, on the local clock: the offline
 * stack's sweeper deletes what is past it, src/local/sweeper.ts), else `ttlDays` (RESULT_TTL_DAYS).
 */
export const resultTtlSeconds = (deps: { ttlDays: number; ttlMinutes?: number }): number =>
  deps.ttlMinutes ? deps.ttlMinutes * 60 : deps.ttlDays * 86_400;

/** Expired from its expiresAt on, whether or not DynamoDB's TTL (which deletes late; dynalite never) removed it. */
export const isExpired = (record: Pick<StatusRecord, 'expiresAt'>, now: Date) =>
  record.expiresAt * 1000 <= now.getTime();

/**
 * The final status from what the output holds: all rows failed → failed, some → completed_with_errors. A request
 * with a cancel asked for (`cancelRequestedAt`) ends `cancelled`, whatever its rows are.
 */
export function finalStatus(counts: OutputCounts, cancelRequested = false): RequestStatus {
  if (cancelRequested) return 'cancelled';
  const total = counts.enriched + counts.not_found + counts.failed + (counts.cancelled ?? 0);
  if (counts.failed === 0) return 'completed';
  if (counts.failed === total) return 'failed';
  return 'completed_with_errors';
}

export function isComplete(record: Pick<StatusRecord, 'processedBatches' | 'failedBatches' | 'totalBatches'>): boolean {
  return record.processedBatches + record.failedBatches >= record.totalBatches;
}

/** `validating`, `processing` and `cancelling` go on; every other status is final (`rejected` included). */
export function isFinal(status: RequestStatus): boolean {
  return status !== 'processing' && status !== 'validating' && status !== 'cancelling';
}

/** The status a caller sees: a running request with a cancel asked for is `cancelling` (src/core/cancel.ts). */
export const shownStatus = (record: Pick<StatusRecord, 'status' | 'cancelRequestedAt'>): RequestStatus =>
  record.cancelRequestedAt && !isFinal(record.status) ? 'cancelling' : record.status;

/** The totals are known once an upload's validation pass is done (always for inline requests). */
export const countsKnown = (record: Pick<StatusRecord, 'status' | 'totalBatches'>): boolean =>
  !(record.status === 'validating' || record.status === 'rejected') || record.totalBatches > 0;

export interface StatusResponse {
  requestId: string;
  status: RequestStatus;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  /** When the outputs and the status go (createdAt + RESULT_TTL_DAYS): a download from then on answers 410. */
  expiresAt: string;
  /** The caller's labels, as sent at create; left out when none were. */
  metadata?: Record<string, string>;
  /** Unknown while `validating` (the upload is still being counted): left out then. */
  totalContacts?: number;
  totalBatches?: number;
  processedBatches: number;
  failedBatches: number;
  outputFileKey: string;
  downloadUrl: string;
  /** Once the outputs exist (a final status): `downloadUrl` with each `?format=`. */
  downloadUrls?: Record<OutputFormat, string>;
  /** `cancelled`: only on a cancelled request (the rows a cancel left unsettled). */
  summary?: { enriched: number; not_found: number; failed: number; cancelled?: number };
  /**
   * What the request cost at the provider (docs/api.md: Usage): final once the status is, running while processing
   * (from the first recorded batch on).
   */
  usage?: Usage;
  /** A rejected request: why, as a 400's errors[]. */
  errors?: { path: string; message: string }[];
  /** A processing request while the provider gate is not closed: what its batches wait for, and since when. */
  waitingFor?: WaitingFor;
  waitingSince?: string;
  /** A request created with a callbackUrl: where its completion webhook is (docs/api.md: Webhooks). */
  webhook?: WebhookStatus;
}

export interface WebhookStatus {
  state: WebhookState;
  attempts: number;
  lastStatusCode?: number;
  deliveredAt?: string;
  reason?: string;
}

/** A final record's counts as the status and its webhook show them (`cancelled` only for a cancelled request). */
export function recordSummary(record: StatusRecord): StatusResponse['summary'] {
  if (record.enrichedContacts === undefined) return undefined;
  return {
    enriched: record.enrichedContacts,
    not_found: record.notFoundContacts ?? 0,
    failed: record.failedContacts ?? 0,
    ...(record.status === 'cancelled' ? { cancelled: record.cancelledContacts ?? 0 } : {}),
  };
}

/**
 * The status as GET /enrichment/{id} answers it. `pricePerMatch` (PROVIDER_PRICE_PER_MATCH) prices a running usage; a
 * final usage carries the cost the assembly set. `waiting`: what the provider gate says every processing request waits
 * for (src/core/providerGate.ts gateWaiting), shown only while the request is processing.
 */
export function toStatusResponse(
  record: StatusRecord,
  downloadUrl: string,
  pricePerMatch = 0,
  waiting?: { waitingFor: WaitingFor; waitingSince: string },
): StatusResponse {
  const response: StatusResponse = {
    requestId: record.requestId,
    status: shownStatus(record),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    expiresAt: expiresAtIso(record),
    ...(record.metadata ? { metadata: record.metadata } : {}),
    ...(countsKnown(record) ? { totalContacts: record.totalContacts, totalBatches: record.totalBatches } : {}),
    processedBatches: record.processedBatches,
    failedBatches: record.failedBatches,
    outputFileKey: record.outputFileKey,
    downloadUrl,
  };
  if (record.completedAt) response.completedAt = record.completedAt;
  if (hasFinalOutput(record.status)) {
    response.downloadUrls = {
      json: `${downloadUrl}?format=json`,
      ndjson: `${downloadUrl}?format=ndjson`,
      csv: `${downloadUrl}?format=csv`,
    };
  }
  if (record.status === 'rejected') response.errors = record.errors ?? [];
  if (response.status === 'processing' && waiting) Object.assign(response, waiting);
  const summary = recordSummary(record);
  if (summary) response.summary = summary;
  if (record.webhook) {
    const { state, attempts, lastStatusCode, deliveredAt, reason } = record.webhook;
    response.webhook = {
      state,
      attempts,
      ...(lastStatusCode !== undefined ? { lastStatusCode } : {}),
      ...(deliveredAt ? { deliveredAt } : {}),
      ...(reason ? { reason } : {}),
    };
  }
  if (record.usage) {
    const { estimatedCost, ...counts } = record.usage;
    response.usage = estimatedCost === undefined ? priced(counts, pricePerMatch) : { ...counts, estimatedCost };
  }
  return response;
}

export const keys = {
  input: (requestId: string) => `${requestId}/input.json`,
  output: (requestId: string) => `${requestId}/output.json`,
  outputNdjson: (requestId: string) => `${requestId}/output.ndjson`,
  outputCsv: (requestId: string) => `${requestId}/output.csv`,
  batchPrefix: (requestId: string) => `${requestId}/batches/`,
  batch: (requestId: string, index: number) => `${requestId}/batches/${String(index).padStart(6, '0')}.json`,
  failedBatch: (requestId: string, index: number) =>
    `${requestId}/batches/${String(index).padStart(6, '0')}.failed.json`,
  /**
   * The results of several batches of one shard stored together by one invocation (src/core/processBatch.ts); the
   * batches' shard item says which of them it holds (StatusStore.storedTogether). Not a batch key: reconcile ignores it.
   */
  batchGroup: (requestId: string, groupId: string) => `${requestId}/batches/g${groupId}.json`,
  /** A worker's partial progress on a batch it could not finish in time (not a result: reconcile ignores it). */
  batchProgress: (requestId: string, index: number) =>
    `${requestId}/batches/${String(index).padStart(6, '0')}.progress.json`,
};

/** The stored output in one format: `<requestId>/output.<format>`. */
export function outputKey(requestId: string, format: OutputFormat): string {
  return format === 'json'
    ? keys.output(requestId)
    : format === 'ndjson'
      ? keys.outputNdjson(requestId)
      : keys.outputCsv(requestId);
}

/** Statuses the assembly sets once every output format is stored (only output.json has a placeholder before). */
export function hasFinalOutput(status: RequestStatus): boolean {
  return status === 'completed' || status === 'completed_with_errors' || status === 'failed' || status === 'cancelled';
}
