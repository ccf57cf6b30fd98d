/** Splits items into consecutive batches of at most `size`, keeping order. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function batchCount(total: number, size: number): number {
  return Math.ceil(total / size);
}

/** SQS SendMessageBatch limits: 10 entries and 262,144 bytes of bodies per call. */
export const SQS_BATCH_MAX_ENTRIES = 10;
export const SQS_BATCH_MAX_BYTES = 262_144;

/**
 * Groups message bodies for SendMessageBatch so that no call exceeds the entry count or
 * the total payload size. Returns groups of indexes into `bodies`, in order. `entryOverheadBytes`
 * is counted with each body: room for message attributes added on the way (SQS counts them too).
 */
export function groupForSendBatch(
  bodies: readonly string[],
  maxEntries = SQS_BATCH_MAX_ENTRIES,
  maxBytes = SQS_BATCH_MAX_BYTES,
  entryOverheadBytes = 0,
): number[][] {
  const groups: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  bodies.forEach((body, index) => {
    const size = Buffer.byteLength(body) + entryOverheadBytes;
    if (size > maxBytes) throw new RangeError(`message ${index} is ${size} bytes, over the ${maxBytes}-byte SQS limit`);
    if (current.length === maxEntries || bytes + size > maxBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length) groups.push(current);
  return groups;
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  });
  await Promise.all(workers);
  return results;
}
