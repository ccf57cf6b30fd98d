import { config } from '../config';

type Send = (name: string, value: number, ...tags: string[]) => void;
let send: Send | undefined;

/**
 * A Datadog distribution metric. In Lambda the Datadog layer provides datadog-lambda-js; with
 * DD_FLUSH_TO_LOG=true it prints metrics as JSON lines. Off when METRICS_ENABLED=false.
 */
export function metric(name: string, value: number, tags: string[] = []): void {
  if (!config().METRICS_ENABLED) return;
  try {
    send ??= (require('datadog-lambda-js') as { sendDistributionMetric: Send }).sendDistributionMetric;
    send(name, value, `stage:${config().STAGE}`, ...tags);
  } catch {
    // Metrics never fail a request.
  }
}
