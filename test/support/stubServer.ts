import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a stub server received, its body read whole. */
export interface StubRequest {
  method?: string;
  url?: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface StubServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  base: string;
  /** Every request so far, oldest first; a test empties it with `received.length = 0`. */
  received: StubRequest[];
  close(): Promise<void>;
}

/**
 * A local HTTP server standing in for an external API in adapter tests: it records each request and answers it
 * with `answer`, which the test swaps between cases.
 */
export async function startStubServer(
  answer: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void,
): Promise<StubServer> {
  const received: StubRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      answer(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
