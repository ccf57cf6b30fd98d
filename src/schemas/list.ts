import { z } from 'zod';
import { REQUEST_STATUSES } from './status';

export const LIST_DEFAULT_LIMIT = 20;
export const LIST_MAX_LIMIT = 100;

/** GET /enrichment's query string: each parameter at most once, as API Gateway passes it (strings). */
export const ListQuerySchema = z.object({
  status: z.enum(REQUEST_STATUSES, { error: `status must be one of ${REQUEST_STATUSES.join(', ')}` }).optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, { error: `limit must be a whole number from 1 to ${LIST_MAX_LIMIT}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(1, { error: `limit must be a whole number from 1 to ${LIST_MAX_LIMIT}` })
        .max(LIST_MAX_LIMIT, { error: `limit must be a whole number from 1 to ${LIST_MAX_LIMIT}` }),
    )
    .optional(),
  cursor: z.string().max(512, { error: 'cursor is not one this API handed out' }).optional(),
});
export type ListQuery = z.infer<typeof ListQuerySchema>;

/**
 * What an opaque cursor holds, once base64url-decoded: the position after which the next page starts (the index's
 * sort key of the last request listed: `<createdAt>#<requestId>`) and a tag of the owner it was handed to.
 */
export const CursorSchema = z.object({
  v: z.literal(1),
  o: z.string().regex(/^[0-9a-f]{16}$/),
  k: z
    .string()
    .regex(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    ),
});
export type Cursor = z.infer<typeof CursorSchema>;
