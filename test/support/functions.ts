import { makeHandler as makeCompleteUpload } from '../../src/handlers/completeUpload';
import { makeHandler as makeCreate } from '../../src/handlers/createEnrichment';
import { makeHandler as makeCreateUpload } from '../../src/handlers/createUpload';
import { makeHandler as makeDownload } from '../../src/handlers/downloadEnrichment';
import { makeHandler as makeStatus } from '../../src/handlers/getEnrichmentStatus';
import { makeHandler as makeList } from '../../src/handlers/listEnrichments';
import { makeHandler as makeDlq } from '../../src/handlers/handleFailedBatch';
import { makeHandler as makeWorker } from '../../src/handlers/processBatch';
import { makeHandler as makeReconcile } from '../../src/handlers/reconcile';
import { makeHandler as makeIntake } from '../../src/handlers/intake';
import { makeHandler as makeIntakeDlq } from '../../src/handlers/handleFailedIntake';
import { makeHandler as makeAssemble } from '../../src/handlers/assembleOutput';
import { makeHandler as makeDeliverWebhook } from '../../src/handlers/deliverWebhook';
import { makeHandler as makeWebhookSecret } from '../../src/handlers/webhookSecret';
import { makeHandler as makeCancel } from '../../src/handlers/cancelEnrichment';
import {
  assemblyDeps,
  cancelDeps,
  createDeps,
  deliveryDeps,
  intakeDeps,
  listDeps,
  readDeps,
  type ListHandlerDeps,
  type ReadDeps,
  reconcileDeps,
  recordingDeps,
  secretDeps,
  uploadDeps,
} from '../../src/handlers/wiring';
import { workerDeps } from '../../src/handlers/workerWiring';
import type { UploadDeps } from '../../src/core/uploads';
import type { AssembleDeps } from '../../src/core/assembleOutput';
import type { IntakeDeps } from '../../src/core/intake';
import type { FaultHooks } from '../../src/core/ports';
import type { WorkerDeps } from '../../src/core/processBatch';
import type { ReconcileDeps } from '../../src/core/reconcile';
import { as } from './service';

/**
 * The service's functions as Lambda runs them against the current test service: production handlers
 * and wiring, each function with its own AWS clients that sign as it, so its role applies.
 */
export const createFn = () => makeCreate(() => createDeps(as('createEnrichment')));
export const statusFn = () => makeStatus(() => readDeps(as('getEnrichmentStatus')));
/** The download function, optionally with deps replaced (a clock past the request's expiry). */
export const downloadFn = (overrides: Partial<ReadDeps> = {}) =>
  makeDownload(() => ({ ...readDeps(as('downloadEnrichment')), ...overrides }));
/** GET /enrichment, optionally with deps replaced (a clock past the requests' expiry). */
export const listFn = (overrides: Partial<ListHandlerDeps> = {}) =>
  makeList(() => ({ ...listDeps(as('listEnrichments')), ...overrides }));
export const cancelFn = () => makeCancel(() => cancelDeps(as('cancelEnrichment')));
export const workerDepsFn =
  (overrides: Partial<WorkerDeps> = {}) =>
  (): WorkerDeps => ({ ...workerDeps(as('processBatch')), ...overrides });
export const workerFn = (faults?: FaultHooks) => makeWorker(workerDepsFn(faults ? { faults } : {}));
export const dlqFn = () => makeDlq(() => recordingDeps(as('handleFailedBatch')));
/** The intake function (its own role), optionally with fault hooks or other deps (checkpoint spacing) replaced. */
export const intakeFn = (overrides: Partial<IntakeDeps> = {}) =>
  makeIntake(() => ({ ...intakeDeps(as('intake')), ...overrides }));
export const intakeDlqFn = () => makeIntakeDlq(() => intakeDeps(as('handleFailedIntake')));
/** The assembleOutput function (its own role), optionally with fault hooks or other deps replaced. */
export const assembleFn = (overrides: Partial<AssembleDeps> = {}) =>
  makeAssemble(() => ({ ...assemblyDeps(as('assembleOutput')), ...overrides }));
export const reconcileFn = (overrides: Partial<ReconcileDeps> = {}) =>
  makeReconcile(() => ({ ...reconcileDeps(as('reconcile')), ...overrides }));
export const createUploadFn = (overrides: Partial<UploadDeps> = {}) =>
  makeCreateUpload(() => ({ ...uploadDeps(as('createUpload')), ...overrides }));
export const completeUploadFn = (overrides: Partial<UploadDeps> = {}) =>
  makeCompleteUpload(() => ({ ...uploadDeps(as('completeUpload')), ...overrides }));
/** The deliverWebhook function (its own role) on the webhook queue. */
export const deliverWebhookFn = () => makeDeliverWebhook(() => deliveryDeps(as('deliverWebhook')));
/** GET /enrichment/webhook-secret and POST …/rotate. */
export const webhookSecretFn = () => makeWebhookSecret(() => secretDeps(as('webhookSecret')));
