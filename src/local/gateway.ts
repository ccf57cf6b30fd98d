import http from 'node:http';
import { pipeline } from 'node:stream';
import { API_GATEWAY_MAX_BODY_BYTES, checkInline } from '../inlineLimits';

export interface GatewayOptions {
  port: number;
  /** Where serverless offline listens. */
  target: { host: string; port: number };
  /** The body and status of the REQUEST_TOO_LARGE gateway response from serverless.yml. */
  tooLarge: { statusCode: number; body: string };
  /** The API keys of the stage's usage plan: every route needs one in x-api-key. None: no key needed. */
  apiKeys?: ReadonlySet<string>;
  /** The body and status of the INVALID_API_KEY gateway response from serverless.yml. */
  invalidApiKey?: { statusCode: number; body: string };
}

/**
 * The edge API Gateway puts in front of the functions. It reads the whole body (as API Gateway does
 * before it invokes a function); a body over API Gateway's limit, or one whose Lambda proxy event
 * would be over Lambda's invocation limit, gets the configured gateway response instead of reaching
 * a function. Everything else is passed through unchanged.
 */
export async function startGateway(opts: GatewayOptions): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const answer = (response: { statusCode: number; body: string }) => {
      // Drain the rest of the body so the client reads the answer instead of a broken pipe.
      req.removeAllListeners('data');
      req.resume();
      res.writeHead(response.statusCode, { 'content-type': 'application/json' });
      res.end(response.body);
    };
    const tooLarge = () => answer(opts.tooLarge);
    // API Gateway checks the key before anything else (a usage plan's key, x-api-key).
    const key = req.headers['x-api-key'];
    if (opts.apiKeys && !(typeof key === 'string' && opts.apiKeys.has(key))) {
      return answer(opts.invalidApiKey ?? { statusCode: 403, body: '{"message":"Forbidden"}' });
    }
    if (Number(req.headers['content-length'] ?? 0) > API_GATEWAY_MAX_BODY_BYTES) return tooLarge();

    const chunks: Buffer[] = [];
    let seen = 0;
    // Chunked bodies carry no length: count as they arrive.
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > API_GATEWAY_MAX_BODY_BYTES) return tooLarge();
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      const body = Buffer.concat(chunks);
      const request = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: body.toString('utf8') };
      if (!checkInline(request).ok) return tooLarge();
      forward(req, res, body);
    });
  });

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const upstream = http.request({ ...opts.target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      pipeline(answer, res, () => undefined);
    });
    upstream.on('error', () => {
      if (res.writableEnded) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Bad gateway: the local functions are not answering' }));
    });
    upstream.end(body);
  };

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
