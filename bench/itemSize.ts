// dyno-item-size has no types: an item's size in bytes, and one value's.
const dynoItemSize = require('dyno-item-size') as ((item: Record<string, unknown>) => number) & {
  sizeOfValue(v: unknown): number;
};

/**
 * The size DynamoDB bills an item by (names plus values, as documented: write units per 1 KB, read units per
 * 4 KB), for items as the document client writes them (plain values, Sets for number and string sets).
 * dyno-item-size does the arithmetic; a Set is the sum of its elements, which it does not know.
 */
export function dynamoItemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    if (value instanceof Set) {
      size += Buffer.byteLength(name, 'utf8');
      for (const v of value) size += dynoItemSize.sizeOfValue(v);
    } else size += dynoItemSize({ [name]: value });
  }
  return size;
}

/** Write units one write of an item costs (1 per started KB). */
export const writeUnits = (item: Record<string, unknown>) => Math.max(1, Math.ceil(dynamoItemSize(item) / 1024));
