import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../config';
import type { BucketCounter, TokenBucketStore } from '../core/ports';
import { documentClient } from './clients';
import { conditional, isConditionFailure } from './statusTable';

/**
 * The shared token bucket's items in the status table: `limit#bucket#<shard>`, one per shard, each holding the
 * counters `calls` and `contacts` (src/core/rateLimiter.ts). A fixed set of items, never keyed by time: nothing to
 * expire, so nothing piles up on DynamoDB Local or dynalite, which have no TTL. They carry no `running`, so the
 * reconcile index never sees them. Every method is one conditional UpdateItem.
 */
export const bucketKey = (shard: number) => `limit#bucket#${shard}`;

export function dynamoTokenBucketStore(table = config().TABLE_NAME, db = documentClient()): TokenBucketStore {
  return {
    async add(shard, amounts, max) {
      const names: Record<string, string> = {};
      const values: Record<string, number> = {};
      const adds: string[] = [];
      const conditions: string[] = [];
      for (const [counter, n] of Object.entries(amounts) as [BucketCounter, number][]) {
        names[`#${counter}`] = counter;
        values[`:${counter}N`] = n;
        // The condition is checked on the item before the update: the value after it is value + n <= max.
        values[`:${counter}Max`] = (max[counter] ?? Number.MAX_SAFE_INTEGER) - n;
        adds.push(`#${counter} :${counter}N`);
        conditions.push(`(attribute_not_exists(#${counter}) OR #${counter} <= :${counter}Max)`);
      }
      try {
        const res = await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: bucketKey(shard) },
            UpdateExpression: `ADD ${adds.join(', ')}`,
            ConditionExpression: conditions.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        const out: Partial<Record<BucketCounter, number>> = {};
        for (const counter of Object.keys(amounts) as BucketCounter[]) out[counter] = Number(res.Attributes?.[counter]);
        return out;
      } catch (err) {
        if (isConditionFailure(err)) return undefined;
        throw err;
      }
    },
    raise(shard, counters) {
      const names: Record<string, string> = {};
      const values: Record<string, number> = {};
      const sets: string[] = [];
      const conditions: string[] = [];
      for (const [counter, { below, to }] of Object.entries(counters) as [
        BucketCounter,
        { below: number; to: number },
      ][]) {
        names[`#${counter}`] = counter;
        values[`:${counter}Below`] = below;
        values[`:${counter}To`] = to;
        sets.push(`#${counter} = :${counter}To`);
        conditions.push(`(attribute_not_exists(#${counter}) OR #${counter} < :${counter}Below)`);
      }
      return conditional(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: { requestId: bucketKey(shard) },
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: conditions.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
      );
    },
  };
}
