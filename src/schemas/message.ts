import { z } from 'zod';
import { ContactSchema, EnrichFieldSchema } from './contact';
import { escapeNonAscii } from './text';

/** The SQS message for one batch: it carries its own contacts so the worker needs no extra read. */
export const BatchMessageSchema = z.object({
  requestId: z.uuid(),
  batchIndex: z.number().int().min(0),
  fields: z.array(EnrichFieldSchema).min(1),
  contacts: z.array(ContactSchema).min(1).max(100),
  /**
   * How many times a worker held the batch: handed it back by re-sending it with a delay, because of a pause that is
   * not its own doing (no tokens, the provider's pause, an open circuit), without spending a receive. Absent: never.
   */
  holds: z.number().int().min(1).optional(),
  /**
   * How many times a worker held the batch because the provider's credits are spent (the credit pause): counted apart
   * from `holds`, since they have no bound (docs/failure-handling.md: The provider gate). Absent: never.
   */
  creditHolds: z.number().int().min(1).optional(),
  /**
   * How many times a worker held the batch after its own calls failed and paused the provider gate (an outage seen
   * first by this batch, or a batch of contacts the provider always refuses): bounded by MAX_OWN_HOLDS, after which
   * such a batch is handed back to SQS (its receives, then the DLQ). Absent: never.
   */
  ownHolds: z.number().int().min(1).optional(),
  /**
   * When a worker first held the batch for a provider outage (ISO 8601): outage holds go on for
   * PROVIDER_OUTAGE_HOLD_SECONDS from then, after which the batch spends its receives again (then the DLQ). Absent: never.
   */
  outageSince: z.string().datetime().optional(),
});
export type BatchMessage = z.infer<typeof BatchMessageSchema>;

/**
 * The wire form of an SQS message body (and the measure of a contact's size): JSON with every non-ASCII
 * character as a `\u` escape. SQS refuses some characters in a body and fauxqs any outside the BMP (an
 * emoji); escaped, every contact travels, and the consumer's JSON.parse reads it back unchanged.
 */
export const encodeMessageBody = (value: unknown): string => escapeNonAscii(JSON.stringify(value));

/**
 * Whether `value`'s message body (encodeMessageBody) is longer than `max` characters. An escape is at most 6
 * characters for one of JSON's, so a JSON text of at most max/6 characters fits without escaping it.
 */
export function encodedLongerThan(value: unknown, max: number): boolean {
  const json = JSON.stringify(value);
  return json.length * 6 > max && escapeNonAscii(json).length > max;
}

/** A message of the intake queue: take in (or go on taking in) the upload of a `validating` request. */
export const IntakeMessageSchema = z.object({ requestId: z.uuid() });
export type IntakeMessage = z.infer<typeof IntakeMessageSchema>;

/** A message of the assembly queue: assemble the output of a request whose batches are all recorded. */
export const AssemblyMessageSchema = z.object({ requestId: z.uuid() });
export type AssemblyMessage = z.infer<typeof AssemblyMessageSchema>;
