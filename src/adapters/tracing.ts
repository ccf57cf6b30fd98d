import { AsyncLocalStorage } from 'node:async_hooks';
import type { Span, Tracer } from '../core/ports';

/**
 * The Tracer port on dd-trace. dd-trace is never imported here: the Datadog Lambda layer (or `node -r dd-trace/init`)
 * loads and initialises it before our code, and it registers itself as `global._ddtrace`. Without it (tests, scripts,
 * DD_TRACE_ENABLED=false) every span is a no-op that just runs its function.
 */
interface DdSpanContext {
  toTraceId(): string;
  toSpanId(): string;
}
interface DdSpan extends Span {
  context(): DdSpanContext;
}
interface DdTracer {
  trace<T>(
    name: string,
    options: { tags?: Record<string, unknown>; childOf?: DdSpanContext },
    fn: (span: DdSpan) => T,
  ): T;
  scope(): { active(): DdSpan | null };
  extract(format: 'text_map', carrier: Record<string, string>): DdSpanContext | null;
}

function ddTracer(): DdTracer | undefined {
  if (process.env.DD_TRACE_ENABLED === 'false') return undefined;
  return (globalThis as { _ddtrace?: DdTracer })._ddtrace;
}

const noSpan: Span = { setTag: () => undefined };

/** The parent a message's first span takes (the trace context that came with the SQS message), if any. */
const messageParent = new AsyncLocalStorage<DdSpanContext>();

export const ddTracing: Tracer = {
  span(name, tags, fn) {
    const dd = ddTracer();
    if (!dd) return fn(noSpan);
    const childOf = messageParent.getStore();
    const defined = Object.fromEntries(Object.entries(tags).filter(([, v]) => v !== undefined));
    const start = () => dd.trace(name, { tags: defined, ...(childOf ? { childOf } : {}) }, (span) => fn(span));
    // Only the first span takes the message's context: the spans under it are children of the active span.
    return childOf ? messageParent.exit(start) : start();
  },
};

/** The active span's ids as Datadog's log/trace correlation expects them (decimal strings), if a span is active. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const active = ddTracer()?.scope().active();
  if (!active) return undefined;
  const context = active.context();
  return { traceId: context.toTraceId(), spanId: context.toSpanId() };
}

/** An SQS record's message attributes, as Lambda delivers them. */
type RecordAttributes = Record<string, { stringValue?: string } | undefined> | undefined;

/**
 * Runs `fn` so that its first span continues the trace the message came with. dd-trace's aws-sdk integration put
 * that context in the `_datadog` message attribute when the message was sent; in Lambda, datadog-lambda-js has
 * already made the invocation's span a child of it (one record per event here), and then the active span is kept.
 * The message's own context is taken when no span is active or the active one is in another trace.
 */
export function withMessageContext<T>(attributes: RecordAttributes, fn: () => Promise<T>): Promise<T> {
  const dd = ddTracer();
  const carrier = dd && parseCarrier(attributes?._datadog?.stringValue);
  const parent = carrier && dd.extract('text_map', carrier);
  if (!dd || !parent) return fn();
  const active = dd.scope().active();
  if (active && active.context().toTraceId() === parent.toTraceId()) return fn();
  return messageParent.run(parent, fn);
}

function parseCarrier(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}
