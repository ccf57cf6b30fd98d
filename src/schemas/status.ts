import { z } from 'zod';
import { EnrichFieldSchema } from './contact';
import { WebhookRecordSchema } from './webhook';

export const INPUT_FORMATS = ['json', 'ndjson', 'csv'] as const;

/**
 * How far the intake of an upload got: pass 1 validates (`contactsValidated`, the errors found so far),
 * pass 2 sends (`batchesSent`, in order from batch 0). A redelivery or continuation goes on from here.
 */
const IntakeCheckpointSchema = z.object({
  phase: z.enum(['validate', 'send']),
  contactsValidated: z.number().int().min(0),
  batchesSent: z.number().int().min(0),
  errorsSoFar: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** Invocations that worked on the intake (continuations and redeliveries included). */
  runs: z.number().int().min(0).optional(),
});
export type IntakeCheckpoint = z.infer<typeof IntakeCheckpointSchema>;

/**
 * What a request cost at the provider (docs/api.md: Usage). providerCalls: every call made to the provider for it,
 * each attempt counted (those answered 429, 402 or 5xx too); contactsSent: the contacts in those calls; cacheHits:
 * rows settled from the result cache; matches: rows the provider enriched (billable); notFound: rows the provider
 * found nothing for; failed: failed rows; rateLimitWaitMs: time its batches spent taking the shared rate limiter's
 * tokens; cancelled: rows a cancel left unsettled. cacheHits + matches + notFound + failed + cancelled = the request's
 * contacts, once final.
 */
export const UsageCountsSchema = z.object({
  providerCalls: z.number().int().min(0),
  contactsSent: z.number().int().min(0),
  cacheHits: z.number().int().min(0),
  matches: z.number().int().min(0),
  notFound: z.number().int().min(0),
  failed: z.number().int().min(0),
  rateLimitWaitMs: z.number().int().min(0),
  /** Rows a cancel left unsettled (`enrichment_status: "cancelled"`): present only when there are some. */
  cancelled: z.number().int().min(0).optional(),
});
export type UsageCounts = z.infer<typeof UsageCountsSchema>;

/** The usage with its estimated cost: matches × providerPricePerMatch (set once final, at the price of then). */
export const UsageSchema = UsageCountsSchema.extend({ estimatedCost: z.number().min(0) });
export type Usage = z.infer<typeof UsageSchema>;

/**
 * `validating`: a referenced upload is being read by the intake function (docs/api.md); `rejected`: it held an
 * invalid contact, or could not be read through (`errors` says why); no batch was sent and there is no output.
 * `cancelling` is never stored: the status answer shows it for a running request with `cancelRequestedAt`
 * (src/core/cancel.ts); `cancelled` is the final status the assembly sets for such a request.
 */
export const REQUEST_STATUSES = [
  'validating',
  'processing',
  'completed',
  'completed_with_errors',
  'failed',
  'rejected',
  'cancelling',
  'cancelled',
] as const;
export const RequestStatusSchema = z.enum(REQUEST_STATUSES);
export type RequestStatus = z.infer<typeof RequestStatusSchema>;

/**
 * The status item in DynamoDB, one per request. Batches are counted on shard items (StatusStore.get sums them),
 * so the item keeps a constant size: only the numbers of full shards, while it runs.
 */
export const StatusRecordSchema = z.object({
  requestId: z.string(),
  /** The id of the API key that created it (src/core/owner.ts); unset without keys. */
  owner: z.string().optional(),
  status: RequestStatusSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  totalContacts: z.number().int(),
  totalBatches: z.number().int(),
  /** Contacts per batch when the request was created; reconcile re-reads input.json with it. */
  batchSize: z.number().int().min(1).optional(),
  processedBatches: z.number().int().default(0),
  failedBatches: z.number().int().default(0),
  fields: z.array(EnrichFieldSchema),
  inputFileKey: z.string(),
  outputFileKey: z.string(),
  deadlineAt: z.string(),
  expiresAt: z.number().int(),
  /** Shards whose counts were added to processedBatches/failedBatches; removed when the request is final. */
  fullShards: z.set(z.number()).optional(),
  /** Never stored: the recorded batch indexes, filled in by callers that read them (StatusStore.doneBatches). */
  doneBatches: z.set(z.number()).optional(),
  /** Set when the request asked for `"refresh": true`: its workers do not read the result cache. */
  refresh: z.literal(true).optional(),
  /** A referenced upload's format (src/core/inputFile.ts); unset: input.json (inline requests). */
  inputFormat: z.enum(INPUT_FORMATS).optional(),
  /** A rejected request's errors, as a 400's errors[] (first 50). */
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** The intake's checkpoint while `validating` (src/core/intake.ts). */
  intake: IntakeCheckpointSchema.optional(),
  completedAt: z.string().optional(),
  /**
   * Set by POST /enrichment/{id}/cancel on a running request (src/core/cancel.ts): its workers call the provider no
   * more for it, its intake sends no more batches, and it ends `cancelled`.
   */
  cancelRequestedAt: z.string().optional(),
  enrichedContacts: z.number().int().optional(),
  notFoundContacts: z.number().int().optional(),
  failedContacts: z.number().int().optional(),
  cancelledContacts: z.number().int().optional(),
  /**
   * Final: the assembly's exact count with its cost. While processing: the running count of the batches recorded so
   * far (no cost: the status answer prices it), summed from the shards like the batch counts; unset before any.
   */
  usage: UsageCountsSchema.extend({ estimatedCost: z.number().min(0).optional() }).optional(),
  /** Set when the request was created with a callbackUrl: its completion webhook (src/core/webhooks.ts). */
  webhook: WebhookRecordSchema.optional(),
  /** The caller's `metadata` as sent (src/schemas/request.ts MetadataSchema); unset when none was. */
  metadata: z.record(z.string(), z.string()).optional(),
});
export type StatusRecord = z.infer<typeof StatusRecordSchema>;
