import { callsSince, perThousand } from '../../../bench/awsCalls';

describe('AWS calls per 1,000 contacts (bench/awsCalls.ts)', () => {
  it('counts only the calls made since the first reading', () => {
    const before = new Map([
      ['sqs ReceiveMessage', 10],
      ['s3 PUT', 4],
    ]);
    const now = new Map([
      ['sqs ReceiveMessage', 25],
      ['s3 PUT', 4],
      ['dynamodb UpdateItem', 3],
    ]);
    expect([...callsSince(before, now)]).toEqual([
      ['sqs ReceiveMessage', 15],
      ['dynamodb UpdateItem', 3],
    ]);
  });

  it('sums each service per 1,000 contacts and lists the operations, most frequent first', () => {
    const calls = new Map([
      ['sqs ReceiveMessage', 100],
      ['sqs DeleteMessageBatch', 50],
      ['dynamodb BatchGetItem', 200],
      ['s3 PUT', 25],
    ]);
    expect(perThousand(20_000, calls, 201)).toEqual({
      contacts: 20_000,
      'SQS /1k': 7.5,
      'DynamoDB /1k': 10,
      'S3 /1k': 1.3,
      'AWS calls /1k': 18.8,
      'Lambda invocations /1k': 10.1,
      detail: 'dynamodb BatchGetItem 10, sqs ReceiveMessage 5, sqs DeleteMessageBatch 2.5, s3 PUT 1.3',
    });
  });
});
