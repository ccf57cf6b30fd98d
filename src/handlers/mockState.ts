import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The mock enrichment API's state, shared by all its invocations: they do not share memory (offline, serverless
 * offline runs each in a worker thread; on AWS, Lambda instances), so the rate-limit windows, the credits, the outage
 * and the counters live in a small DynamoDB table (MOCK_STATE_TABLE, serverless/resources/mockState.yml), changed only
 * by single-item atomic updates (no transactions: dynalite has none).
 *
 * Items: `state`, one for the whole mock (the counters ADDed, `creditsLeft` when MOCK_CREDITS is set, `outageUntil`);
 * `window#<key>#<start>`, one per API key and fixed window (`calls`, with `expiresAt` for the table's TTL on AWS).
 *
 * DynamoDB calls per mock call: a call answered 200 makes one UpdateItem (the counters, the credits spent and the
 * outage check, in one conditional write), plus one with MOCK_RATE_LIMIT (its window); a call refused by the outage
 * or the credits makes a GetItem (why) and an UpdateItem (its counter) more; a 429 of the window makes one more
 * UpdateItem (its counter).
 */
export type Dialect = 'mock' | 'peopledatalabs';
export const DIALECTS: readonly Dialect[] = ['mock', 'peopledatalabs'];

/** What GET /mock/stats answers: the counters since the state began (offline: since the stack started). */
export interface MockStats {
  calls: number;
  contacts: number;
  matches: number;
  throttled: number;
  creditErrors: number;
  serverErrors: number;
  /** null: unlimited (MOCK_CREDITS unset). */
  creditsLeft: number | null;
  byDialect: Record<Dialect, number>;
}

/** A call's outcome other than 200, as counted. */
export type Refusal = 'throttled' | 'creditErrors' | 'serverErrors' | 'other';

export interface ServeCall {
  dialect: Dialect;
  contacts: number;
  /** Matches in the answer: 1 credit each. */
  matches: number;
  now: number;
  /** MOCK_CREDITS (the balance before the first call), when the credits are limited. */
  initialCredits?: number;
}

export interface MockState {
  /** Counts a call in the key's fixed window; allowed while the window holds at most `limit` calls. */
  take(
    key: string,
    windowStart: number,
    limit: number,
    expiresAt: number,
  ): Promise<{ allowed: boolean; count: number }>;
  /**
   * A call about to be answered 200: counts it (calls, contacts, matches, its dialect) and spends its matches'
   * credits, only if no outage is on and the credits cover the matches; otherwise counts nothing and says why.
   */
  serve(call: ServeCall): Promise<'ok' | 'outage' | 'credits'>;
  /** A call answered otherwise: counts it, its contacts (a provider received them too) and its outcome. */
  refuse(dialect: Dialect, outcome: Refusal, contacts: number): Promise<void>;
  stats(initialCredits?: number): Promise<MockStats>;
  /** Adds to the balance (MOCK_CREDITS the balance before, if none was spent yet); the new balance. */
  addCredits(add: number, initialCredits: number): Promise<number>;
  /** Every call answers 500 until then (epoch ms). */
  setOutage(until: number): Promise<void>;
}

const COUNTERS = ['calls', 'contacts', 'matches', 'throttled', 'creditErrors', 'serverErrors'] as const;
type Item = Record<string, number | string | undefined>;

function statsOf(item: Item | undefined, initialCredits?: number): MockStats {
  const n = (k: string) => Number(item?.[k] ?? 0);
  const stats = Object.fromEntries(COUNTERS.map((k) => [k, n(k)])) as Omit<MockStats, 'creditsLeft' | 'byDialect'>;
  const credits = item?.creditsLeft ?? initialCredits;
  return {
    ...stats,
    creditsLeft: initialCredits === undefined ? null : Number(credits),
    byDialect: { mock: n('calls_mock'), peopledatalabs: n('calls_peopledatalabs') },
  };
}

/** In one process only: the unit tests, and the test harness's in-process mock (no table configured). */
export function memoryMockState(): MockState {
  const state: Item = {};
  const windows = new Map<string, number>();
  const add = (k: string, n: number) => {
    state[k] = Number(state[k] ?? 0) + n;
  };
  return {
    async take(key, windowStart, limit) {
      const id = `${key}#${windowStart}`;
      const count = windows.get(id) ?? 0;
      if (count >= limit) return { allowed: false, count };
      windows.set(id, count + 1);
      return { allowed: true, count: count + 1 };
    },
    async serve(call) {
      if (Number(state.outageUntil ?? 0) > call.now) return 'outage';
      if (call.initialCredits !== undefined) {
        const left = Number(state.creditsLeft ?? call.initialCredits);
        if (left < call.matches) return 'credits';
        state.creditsLeft = left - call.matches;
      }
      add('calls', 1);
      add(`calls_${call.dialect}`, 1);
      add('contacts', call.contacts);
      add('matches', call.matches);
      return 'ok';
    },
    async refuse(dialect, outcome, contacts) {
      add('calls', 1);
      add(`calls_${dialect}`, 1);
      add('contacts', contacts);
      if (outcome !== 'other') add(outcome, 1);
    },
    async stats(initialCredits) {
      return statsOf(state, initialCredits);
    },
    async addCredits(n, initialCredits) {
      state.creditsLeft = Number(state.creditsLeft ?? initialCredits) + n;
      return state.creditsLeft;
    },
    async setOutage(until) {
      state.outageUntil = until;
    },
  };
}

const STATE_KEY = { pk: 'state' };

/** The table's state (MOCK_STATE_TABLE): what the deployed and offline mock use. */
export function dynamoMockState(table: string, ddb: DynamoDBDocumentClient): MockState {
  const conditionFailed = (err: unknown) =>
    err instanceof ConditionalCheckFailedException || (err as Error)?.name === 'ConditionalCheckFailedException';
  return {
    async take(key, windowStart, limit, expiresAt) {
      try {
        const out = await ddb.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: `window#${key}#${windowStart}` },
            UpdateExpression: 'ADD #calls :one SET expiresAt = :exp',
            ConditionExpression: 'attribute_not_exists(#calls) OR #calls < :limit',
            ExpressionAttributeNames: { '#calls': 'calls' },
            ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':exp': expiresAt },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        return { allowed: true, count: Number(out.Attributes?.calls) };
      } catch (err) {
        if (conditionFailed(err)) return { allowed: false, count: limit };
        throw err;
      }
    },
    async serve(call) {
      const names: Record<string, string> = { '#dialect': `calls_${call.dialect}` };
      const values: Record<string, number> = {
        ':one': 1,
        ':contacts': call.contacts,
        ':matches': call.matches,
        ':now': call.now,
      };
      let update = 'ADD calls :one, #dialect :one, contacts :contacts, matches :matches';
      let condition = '(attribute_not_exists(outageUntil) OR outageUntil <= :now)';
      if (call.initialCredits !== undefined) {
        // The first spend starts from MOCK_CREDITS; later ones need the balance to cover the matches.
        update += ' SET creditsLeft = if_not_exists(creditsLeft, :initial) - :matches';
        values[':initial'] = call.initialCredits;
        condition +=
          call.initialCredits >= call.matches
            ? ' AND (attribute_not_exists(creditsLeft) OR creditsLeft >= :matches)'
            : ' AND creditsLeft >= :matches';
      }
      try {
        await ddb.send(
          new UpdateCommand({
            TableName: table,
            Key: STATE_KEY,
            UpdateExpression: update,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return 'ok';
      } catch (err) {
        if (!conditionFailed(err)) throw err;
      }
      // Refused: the outage, or else the credits (dynalite has no ReturnValuesOnConditionCheckFailure).
      const { Item } = await ddb.send(new GetCommand({ TableName: table, Key: STATE_KEY, ConsistentRead: true }));
      return Number(Item?.outageUntil ?? 0) > call.now ? 'outage' : 'credits';
    },
    async refuse(dialect, outcome, contacts) {
      const counter = outcome === 'other' ? '' : `, ${outcome} :one`;
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: STATE_KEY,
          UpdateExpression: `ADD calls :one, #dialect :one, contacts :contacts${counter}`,
          ExpressionAttributeNames: { '#dialect': `calls_${dialect}` },
          ExpressionAttributeValues: { ':one': 1, ':contacts': contacts },
        }),
      );
    },
    async stats(initialCredits) {
      const { Item } = await ddb.send(new GetCommand({ TableName: table, Key: STATE_KEY, ConsistentRead: true }));
      return statsOf(Item as Item | undefined, initialCredits);
    },
    async addCredits(n, initialCredits) {
      const out = await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: STATE_KEY,
          UpdateExpression: 'SET creditsLeft = if_not_exists(creditsLeft, :initial) + :add',
          ExpressionAttributeValues: { ':initial': initialCredits, ':add': n },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(out.Attributes?.creditsLeft);
    },
    async setOutage(until) {
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: STATE_KEY,
          UpdateExpression: 'SET outageUntil = :until',
          ExpressionAttributeValues: { ':until': until },
        }),
      );
    },
  };
}
