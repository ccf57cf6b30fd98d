import { dynamoItemBytes } from '../../../bench/itemSize';

describe('dynamoItemBytes (DynamoDB item size rules)', () => {
  it('counts names and string values in UTF-8 bytes', () => {
    expect(dynamoItemBytes({ name: 'abc' })).toBe(4 + 3);
    expect(dynamoItemBytes({ n: 'é' })).toBe(1 + 2);
  });

  it('counts a number as one byte per two significant digits plus one', () => {
    expect(dynamoItemBytes({ a: 123 })).toBe(1 + 3);
    expect(dynamoItemBytes({ a: 1000 })).toBe(1 + 2);
    expect(dynamoItemBytes({ a: 12.5 })).toBe(1 + 3);
  });

  it('counts a set as the sum of its members, and booleans and nulls as 1 byte', () => {
    expect(dynamoItemBytes({ s: new Set([1, 22, 333]) })).toBe(1 + (2 + 2 + 3));
    expect(dynamoItemBytes({ b: true, z: null })).toBe(2 + 2);
  });

  it('counts a map or list as 3 bytes plus 1 per element plus the elements', () => {
    expect(dynamoItemBytes({ m: { k: 'v' } })).toBe(1 + 3 + 1 + 1 + 1);
    expect(dynamoItemBytes({ l: ['ab', 'c'] })).toBe(1 + 3 + (1 + 2) + (1 + 1));
  });
});
