import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../config';
import type { GateState, PauseReason, ProviderGateStore } from '../core/ports';
import { documentClient } from './clients';
import { conditional } from './statusTable';

/**
 * The provider gate's one item in the status table (src/core/providerGate.ts): `provider#gate`, holding `openUntil`,
 * `reason`, `since`, `trialUntil` and `updatedAt` (epoch ms). One item for the whole deployment, never keyed by time:
 * nothing to expire. It carries no `running`, so the reconcile index never sees it. Reads are eventually consistent
 * GetItems; every write is one conditional UpdateItem (two for an open that finds a pause already running).
 */
export const GATE_KEY = 'provider#gate';

const PAUSE_REASONS: readonly PauseReason[] = ['outage', 'credits', 'rate_limit'];
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** `reason` and `since` are not reserved words today; names keep it so. */
const NAMES = { '#open': 'openUntil', '#reason': 'reason', '#since': 'since', '#trial': 'trialUntil' };

export function dynamoProviderGateStore(table = config().TABLE_NAME, db = documentClient()): ProviderGateStore {
  const update = (input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>) =>
    conditional(db.send(new UpdateCommand({ TableName: table, Key: { requestId: GATE_KEY }, ...input })));

  return {
    async read() {
      const { Item } = await db.send(new GetCommand({ TableName: table, Key: { requestId: GATE_KEY } }));
      if (!Item) return {};
      const state: GateState = {};
      const openUntil = num(Item.openUntil);
      if (openUntil !== undefined) state.openUntil = openUntil;
      if (PAUSE_REASONS.includes(Item.reason as PauseReason)) state.reason = Item.reason as PauseReason;
      for (const key of ['since', 'trialUntil', 'updatedAt'] as const) {
        const v = num(Item[key]);
        if (v !== undefined) state[key] = v;
      }
      return state;
    },
    async open(reason, untilMs, nowMs) {
      const values = { ':u': untilMs, ':r': reason, ':now': nowMs };
      // A new pause (closed, or a rate-limit pause that ran out): it starts now.
      if (
        await update({
          UpdateExpression: 'SET #open = :u, #reason = :r, #since = :now, updatedAt = :now REMOVE #trial',
          ConditionExpression: 'attribute_not_exists(#open) OR (#open <= :now AND #reason = :rl)',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ...values, ':rl': 'rate_limit' },
        })
      )
        return true;
      // A pause already running (or half open): only ever moved forward, its start kept.
      return update({
        UpdateExpression: 'SET #open = :u, #reason = :r, updatedAt = :now REMOVE #trial',
        ConditionExpression: '#open < :u',
        ExpressionAttributeNames: { '#open': 'openUntil', '#reason': 'reason', '#trial': 'trialUntil' },
        ExpressionAttributeValues: values,
      });
    },
    claimTrial(nowMs, leaseUntilMs) {
      return update({
        UpdateExpression: 'SET #trial = :lease, updatedAt = :now',
        ConditionExpression: '#open <= :now AND #reason <> :rl AND (attribute_not_exists(#trial) OR #trial <= :now)',
        ExpressionAttributeNames: { '#open': 'openUntil', '#reason': 'reason', '#trial': 'trialUntil' },
        ExpressionAttributeValues: { ':now': nowMs, ':lease': leaseUntilMs, ':rl': 'rate_limit' },
      });
    },
    close(trialUntilMs, nowMs) {
      return update({
        UpdateExpression: 'REMOVE #open, #reason, #since, #trial SET updatedAt = :now',
        ConditionExpression: '#trial = :t',
        ExpressionAttributeNames: NAMES,
        ExpressionAttributeValues: { ':t': trialUntilMs, ':now': nowMs },
      });
    },
    async endTrial(trialUntilMs) {
      await update({
        UpdateExpression: 'REMOVE #trial',
        ConditionExpression: '#trial = :t',
        ExpressionAttributeNames: { '#trial': 'trialUntil' },
        ExpressionAttributeValues: { ':t': trialUntilMs },
      });
    },
  };
}
