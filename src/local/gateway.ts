import http from 'node:http';
import { pipeline } from 'node:stream';

export interface GatewayOptions {
  port: number;
  /** Where serverless offline listens. */
  target: { host: string; port: number };
  /** API Gateway's request body limit. */
  maxBodyBytes: number;
  /** The body and status of the REQUEST_TOO_LARGE gateway response from serverless.yml. */
  tooLarge: { statusCode: number; body: string };
}

/**
 * The edge API Gateway puts in front of the functions: bodies over its limit get the configured
 * gateway response instead of reaching a function; everything else is passed through unchanged.
 */
export async function startGateway(opts: GatewayOptions): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const tooLarge = () => {
      // Drain the rest of the body so the client reads the answer instead of a broken pipe.
      req.unpipe();
      req.resume();
      res.writeHead(opts.tooLarge.statusCode, { 'content-type': 'application/json' });
      res.end(opts.tooLarge.body);
    };
    if (Number(req.headers['content-length'] ?? 0) > opts.maxBodyBytes) return tooLarge();

    let seen = 0;
    const upstream = http.request(
      { ...opts.target, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        pipeline(answer, res, () => undefined);
      },
    );
    upstream.on('error', () => {
      if (res.writableEnded) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Bad gateway: the local functions are not answering' }));
    });
    // Chunked bodies carry no length: count as they stream.
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > opts.maxBodyBytes && !res.headersSent) {
        upstream.destroy();
        tooLarge();
      }
    });
    req.pipe(upstream);
  });
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, resolve);
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
