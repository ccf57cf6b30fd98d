import { z } from 'zod';
import { EnrichFieldSchema } from './contact';

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
 * `validating`: a referenced upload is being read by the intake function (docs/api.md); `rejected`: it held an
 * invalid contact, or could not be read through (`errors` says why); no batch was sent and there is no output.
 */
const REQUEST_STATUSES = [
  'validating',
  'processing',
  'completed',
  'completed_with_errors',
  'failed',
  'rejected',
] as const;
const RequestStatusSchema = z.enum(REQUEST_STATUSES);
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
  enrichedContacts: z.number().int().optional(),
  notFoundContacts: z.number().int().optional(),
  failedContacts: z.number().int().optional(),
});
export type StatusRecord = z.infer<typeof StatusRecordSchema>;
