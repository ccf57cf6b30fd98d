/**
 * The size DynamoDB bills and limits (400 KB) an item by, from its attribute values as the AWS SDK
 * returns them (unmarshalled: DocumentClient). Rules (DynamoDB developer guide, "Item sizes and formats"):
 * each attribute's name in UTF-8 bytes plus its value; a string its UTF-8 bytes; a number about one byte
 * per two significant digits plus one; binary its bytes; a boolean or null 1 byte; a list or map 3 bytes
 * plus 1 byte per element plus the elements (a map's keys count like names); a set the sum of its members.
 */
export function dynamoItemBytes(item: Record<string, unknown>): number {
  let total = 0;
  for (const [name, value] of Object.entries(item)) total += Buffer.byteLength(name) + valueBytes(value);
  return total;
}

function numberBytes(n: number | bigint): number {
  const digits = String(n).replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

function valueBytes(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberBytes(value);
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) {
    let sum = 0;
    for (const member of value) sum += valueBytes(member);
    return sum;
  }
  // lib-dynamodb's NumberValue (wrapNumbers) keeps the number as a string
  if (typeof value === 'object' && 'value' in (value as object) && Object.keys(value as object).length === 1) return numberBytes(Number((value as { value: string }).value));
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, v) => sum + 1 + valueBytes(v), 0);
  if (typeof value === 'object') return 3 + Object.entries(value as object).reduce((sum, [k, v]) => sum + 1 + Buffer.byteLength(k) + valueBytes(v), 0);
  throw new Error(`unknown DynamoDB value ${typeof value}`);
}
