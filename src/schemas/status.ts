import { z } from 'zod';
import { EnrichFieldSchema } from './contact';

export const REQUEST_STATUSES = ['processing', 'completed', 'completed_with_errors', 'failed'] as const;
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
  completedAt: z.string().optional(),
  enrichedContacts: z.number().int().optional(),
  notFoundContacts: z.number().int().optional(),
  failedContacts: z.number().int().optional(),
});
export type StatusRecord = z.infer<typeof StatusRecordSchema>;

export const FINAL_STATUSES: readonly RequestStatus[] = ['completed', 'completed_with_errors', 'failed'];
