import { z } from 'zod';
import { ContactSchema, EnrichFieldSchema } from './contact';

/** The SQS message for one batch: it carries its own contacts so the worker needs no extra read. */
export const BatchMessageSchema = z.object({
  requestId: z.uuid(),
  batchIndex: z.number().int().min(0),
  totalBatches: z.number().int().min(1),
  fields: z.array(EnrichFieldSchema).min(1),
  contacts: z.array(ContactSchema).min(1).max(100),
});
export type BatchMessage = z.infer<typeof BatchMessageSchema>;
