import { keys } from '../../../src/core/status';
import { DLQ_REASON, makeHandler as makeDlqHandler } from '../../../src/handlers/handleFailedBatch';
import { makeHandler as makeReconcileHandler } from '../../../src/handlers/reconcile';
import { sqsEvent } from '../../support/factories';
import { REQUEST_ID, seededRequest } from '../../support/workerHarness';

describe('handleFailedBatch handler (dead-letter queue)', () => {
  it('records each dead-lettered batch as failed with the DLQ reason, once', async () => {
    const h = await seededRequest(150);
    const handler = makeDlqHandler(() => h.worker());
    const body = JSON.stringify(h.messages[1]);
    expect(await handler(sqsEvent([body, 'not json']))).toEqual({ batchItemFailures: [] });
    expect(await handler(sqsEvent([body]))).toEqual({ batchItemFailures: [] });
    expect(h.status.only()).toMatchObject({ failedBatches: 1, processedBatches: 0 });
    expect(h.store.json(keys.failedBatch(REQUEST_ID, 1)).rows[0]).toMatchObject({
      enrichment_status: 'failed',
      failure_reason: DLQ_REASON,
    });
  });
});

describe('reconcile handler', () => {
  it('returns the reports of the requests it acted on', async () => {
    const h = await seededRequest(250);
    h.clock.advance(10 * 60_000);
    const result = await makeReconcileHandler(() => h.reconciler())();
    expect(result.reconciled.map((r) => [r.requestId, r.action, r.resentBatches])).toEqual([
      [REQUEST_ID, 'resent', [0, 1, 2]],
    ]);
    expect(h.queue.sent).toHaveLength(3);
  });
});
