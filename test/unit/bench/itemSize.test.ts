import { dynamoItemSize, writeUnits } from '../../../bench/itemSize';

describe('dynamoItemSize', () => {
  it('counts names and values as DynamoDB documents it: strings by UTF-8 bytes, numbers by significant digits', () => {
    // "id" 2 + "abc" 3; "n" 1 + 12345 (5 digits: 3 + 1); "ok" 2 + true 1
    expect(dynamoItemSize({ id: 'abc', n: 12345, ok: true })).toBe(5 + 5 + 3);
    expect(dynamoItemSize({ s: 'é' })).toBe(1 + 2);
  });

  it('sums the elements of a number set', () => {
    // "done" 4 + 0 (1) + 7 (2) + 255 (3)
    expect(dynamoItemSize({ done: new Set([0, 7, 255]) })).toBe(4 + 1 + 2 + 3);
  });

  it('bills one write unit per started KB', () => {
    expect(writeUnits({ a: 'x'.repeat(1000) })).toBe(1);
    expect(writeUnits({ a: 'x'.repeat(1024) })).toBe(2);
  });
});
