import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decode } from '@msgpack/msgpack';

/** A span as dd-trace sends it to the agent (v0.4 traces endpoint); ids as decimal strings. */
export interface ReceivedSpan {
  trace_id: string;
  span_id: string;
  parent_id: string;
  name: string;
  resource: string;
  service: string;
  error: number;
  meta: Record<string, string>;
  metrics: Record<string, number>;
}

/**
 * A stand-in for the Datadog agent's trace intake: dd-trace (DD_TRACE_AGENT_URL) PUTs msgpack-encoded traces to
 * /v0.4/traces; they are decoded (64-bit ids as BigInt, kept as decimal strings) and kept. Every other path
 * (agent discovery, telemetry) answers 200 with an empty object.
 */
export async function startTraceAgent(): Promise<{ url: string; spans: () => ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/v0.4/traces')) {
        const traces = decode(Buffer.concat(chunks), { useBigInt64: true }) as Array<Array<Record<string, unknown>>>;
        for (const span of traces.flat()) {
          // Ids (and start/duration) come as BigInt: kept as decimal strings, so spans stay plain JSON.
          spans.push(
            JSON.parse(
              JSON.stringify(span, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
            ) as ReceivedSpan,
          );
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url?.startsWith('/v0.4/traces') ? '{"rate_by_service":{}}' : '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...spans],
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
