import { AsyncLocalStorage } from 'node:async_hooks';
import { activeTraceIds } from './adapters/tracing';
import { config } from './config';
import type { Logger } from './core/ports';

/**
 * Structured JSON logs, one object per line. Callers pass ids and counts, never contact data. Each line carries
 * `service`, `env` and `version` (Datadog's unified service tags), the Lambda invocation's `awsRequestId`, and
 * `dd.trace_id`/`dd.span_id` of the active span (as dd-trace's own log injection writes them), so a log line
 * leads to its trace and back.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type { Logger };

/** What the function wrappers (httpHandler, lambdaHandler in src/handlers) know of the invocation running. */
export interface InvocationFields {
  awsRequestId?: string;
}

const invocation = new AsyncLocalStorage<InvocationFields>();

/** Runs `fn` with the invocation's fields on every line it logs. */
export function withInvocation<T>(fields: InvocationFields, fn: () => T): T {
  return invocation.run(fields, fn);
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

interface Settings {
  threshold: number;
  identity: { service: string; env: string; version: string };
}

/**
 * The level and the service tags from config(). A process without a valid configuration (the local tools, a function
 * about to fail on it) still logs: at info, with the defaults' tags.
 */
function settings(): Settings {
  try {
    const c = config();
    return { threshold: ORDER[c.LOG_LEVEL], identity: { service: c.DD_SERVICE, env: c.DD_ENV, version: c.DD_VERSION } };
  } catch {
    // Not kept: the configuration may be valid by the next line (the local stack sets it per function).
    return {
      threshold: ORDER.info,
      identity: {
        service: 'enrichment-service',
        env: process.env.DD_ENV ?? 'local',
        version: process.env.DD_VERSION ?? 'unknown',
      },
    };
  }
}

export function createLogger(base: Record<string, unknown> = {}): Logger {
  const write = (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (process.env.LOG_SILENT === 'true') return;
    const resolved = settings();
    if (ORDER[level] < resolved.threshold) return;
    const ids = activeTraceIds();
    const entry: Record<string, unknown> = {
      level,
      time: new Date().toISOString(),
      msg,
      ...resolved.identity,
      ...invocation.getStore(),
      ...(ids && { dd: { trace_id: ids.traceId, span_id: ids.spanId } }),
      ...base,
    };
    for (const [k, v] of Object.entries(fields)) entry[k] = errorFields(v);
    const line = JSON.stringify(entry);
    if (level === 'error' || level === 'warn') console.error(line);
    else console.log(line);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }),
  };
}

export const logger = createLogger();
