import { config } from '../config';
import { METRICS } from '../core/metricNames';
import type { Metrics } from '../core/ports';

type Send = (name: string, value: number, ...tags: string[]) => void;
type WriteLine = (name: string, value: number, time: Date, tags: string[]) => void;
let send: Send | undefined;
let writeLine: WriteLine | undefined;

/**
 * Datadog distribution metrics through datadog-lambda-js (provided in Lambda by the Datadog layer). Under
 * Datadog's handler wrapper (deployed: DD_LAMBDA_HANDLER is set) its metrics listener sends them, or prints
 * them with DD_FLUSH_TO_LOG=true. Without the wrapper (the offline stack) there is no listener and the library
 * would only queue them in memory (and drop them when its queue is full): with DD_FLUSH_TO_LOG=true they are printed here, in the library's own line
 * format (`{"e":…,"m":…,"t":[…],"v":…}`); otherwise dropped. Off when METRICS_ENABLED=false.
 * Every point carries env, service, version and stage. Metrics never fail a request.
 */
export const datadogMetrics: Metrics = {
  emit(metric, value, tags = {}) {
    const c = config();
    if (!c.METRICS_ENABLED) return;
    try {
      const all = [
        `env:${c.DD_ENV}`,
        `service:${c.DD_SERVICE}`,
        `version:${c.DD_VERSION}`,
        `stage:${c.STAGE}`,
        ...Object.entries(tags).map(([k, v]) => `${k}:${v}`),
      ];
      const name = METRICS[metric].name;
      if (c.DD_LAMBDA_HANDLER) {
        send ??= (require('datadog-lambda-js') as { sendDistributionMetric: Send }).sendDistributionMetric;
        send(name, value, ...all);
      } else if (c.DD_FLUSH_TO_LOG) {
        writeLine ??= (require('datadog-lambda-js/dist/metrics/metric-log') as { writeMetricToStdout: WriteLine })
          .writeMetricToStdout;
        writeLine(name, value, new Date(), all);
      }
    } catch {
      // Metrics never fail a request.
    }
  },
};
