import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, getStatus, isFinalStatus, type StatusResponse } from './api';
import { progressBar } from './progress';

export interface WaitOptions {
  baseUrl?: string;
  intervalMs?: number;
  /** Give up after this long; 0 waits forever. */
  timeoutMs?: number;
  /** Draw a progress bar on stderr (a line every few seconds when stderr is not a terminal). */
  progress?: boolean;
  signal?: AbortSignal;
}

/** Consecutive polling failures tolerated (network blips, 5xx) before giving up. */
const MAX_POLL_ERRORS = 5;

/** Polls GET /enrichment/{id} until the request is final (not `validating` or `processing`), showing batches done / total. */
export async function waitForCompletion(requestId: string, opts: WaitOptions = {}): Promise<StatusResponse> {
  const interval = opts.intervalMs ?? 1000;
  const deadline = opts.timeoutMs ? Date.now() + opts.timeoutMs : Infinity;
  const bar =
    opts.progress === false
      ? undefined
      : progressBar(
          'enriching |{bar}| {percentage}% | {value}/{total} batches | failed {failed} | {state} | {duration_formatted}',
        );
  let errors = 0;
  try {
    for (;;) {
      let status: StatusResponse | undefined;
      try {
        status = await getStatus(requestId, { baseUrl: opts.baseUrl, signal: opts.signal });
        errors = 0;
      } catch (err) {
        const retriable = !(err instanceof ApiError) || err.status === undefined || err.status >= 500;
        if (opts.signal?.aborted || !retriable || ++errors >= MAX_POLL_ERRORS) throw err;
      }
      if (status) {
        const done = status.processedBatches + status.failedBatches;
        if (bar) {
          // While `validating`, the number of batches may not be known yet (0): the bar shows it once it is.
          const total = status.totalBatches ?? 0;
          if (!bar.isActive) bar.start(total, done, { failed: status.failedBatches, state: status.status });
          if (bar.getTotal() !== total) bar.setTotal(total);
          bar.update(done, { failed: status.failedBatches, state: status.status });
        }
        if (isFinalStatus(status.status)) return status;
      }
      if (Date.now() > deadline) {
        throw new Error(`request ${requestId} is still processing after ${Math.round((opts.timeoutMs ?? 0) / 1000)}s`);
      }
      await sleep(interval, undefined, { signal: opts.signal });
    }
  } finally {
    bar?.stop();
  }
}
