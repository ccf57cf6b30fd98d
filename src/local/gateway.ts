import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { API_GATEWAY_MAX_BODY_BYTES, checkInline } from '../inlineLimits';

/** API Gateway's integration timeout for REST APIs: a request not answered within it gets a 504. */
const INTEGRATION_TIMEOUT_MS = 29_000;
/** API Gateway's answers when a request waits too long or too many wait (its own messages). */
const TIMED_OUT = JSON.stringify({ message: 'Endpoint request timed out' });
const THROTTLED = JSON.stringify({ message: 'Too Many Requests' });

/** An HTTP event of a function in serverless.yml: `enrichment/{id}`, method `get` (or `any`). */
export interface Route {
  functionKey: string;
  method: string;
  path: string;
}

export interface GatewayOptions {
  port: number;
  /** The address to listen on (HOST); 127.0.0.1 unless told otherwise. */
  host?: string;
  /** Where serverless offline listens. */
  target: { host: string; port: number };
  /** The body and status of the REQUEST_TOO_LARGE gateway response from serverless.yml. */
  tooLarge: { statusCode: number; body: string };
  /** The API keys of the stage's usage plan: every route needs one in x-api-key. None: no key needed. */
  apiKeys?: ReadonlySet<string>;
  /** The body and status of the INVALID_API_KEY gateway response from serverless.yml. */
  invalidApiKey?: { statusCode: number; body: string };
  /** The functions behind the API, to queue each function's requests on its own (a request matching none shares one queue). */
  routes?: Route[];
  /**
   * Requests each function handles at once, like a reserved concurrency (LOCAL_API_CONCURRENCY, default 16): serverless
   * offline starts a worker thread, kept for the stack's life, for every call that finds no idle one. More wait their turn.
   */
  concurrency?: number;
  /** Requests that may wait per function (LOCAL_API_QUEUE, default 1000); beyond it the edge answers 429, as API Gateway throttles. */
  maxQueued?: number;
  /** The integration timeout (waiting included) and the time a client has to send its whole request; 29 s as API Gateway's. */
  timeoutMs?: number;
}

/** Runs at most `max` tasks at once; the rest wait in order. `run` answers false when `maxQueued` already wait. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}

  run(task: () => Promise<void>): boolean {
    if (this.active >= this.max && this.waiting.length >= this.maxQueued) return false;
    const start = () => {
      this.active++;
      void task().finally(() => {
        this.active--;
        this.waiting.shift()?.();
      });
    };
    if (this.active < this.max) start();
    else this.waiting.push(start);
    return true;
  }
}

/** The function a request goes to: the route whose method and path template match (`{id}` one segment, `{proxy+}` the rest). */
export function routeMatcher(routes: Route[]): (method: string, url: string) => string | undefined {
  const compiled = routes.map((r, index) => ({
    index,
    key: r.functionKey,
    method: r.method.toUpperCase(),
    re: new RegExp(
      `^/${r.path
        .replace(/^\//, '')
        .replace(/\{[^}]+\+\}/g, '.+')
        .replace(/\{[^}]+\}/g, '[^/]+')}/?$`,
    ),
  }));
  // As API Gateway: a path of literal segments wins over a template (GET /enrichment/webhook-secret is not {id}).
  const variables = (r: Route) => (r.path.match(/\{/g) ?? []).length;
  compiled.sort((a, b) => variables(routes[a.index]) - variables(routes[b.index]));
  return (method, url) => {
    const path = url.split('?')[0];
    return compiled.find((r) => (r.method === 'ANY' || r.method === method.toUpperCase()) && r.re.test(path))?.key;
  };
}

/**
 * Idle client connections: the edge says 5 s (`Keep-Alive: timeout=5`, as node's default did) and keeps them 65 s,
 * so a client that honours the hint closes one first. Before, the margin was 2 s (fetch drops an idle socket 1 s
 * before the advertised time, node's server 1 s after it): a client whose timer ran later than that could reuse a
 * connection the edge was closing, and a POST then fails ("fetch failed", nodejs/undici#3141).
 */
const KEEP_ALIVE = { advertisedSeconds: 5, keptMs: 65_000 };

/** The upstream connection's own headers (hop-by-hop, RFC 9110 7.6.1) are not the client connection's. */
function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const { connection: _connection, 'keep-alive': _keepAlive, ...rest } = headers;
  return rest;
}

/**
 * The edge API Gateway puts in front of the functions. It reads the whole body (as API Gateway does
 * before it invokes a function); a body over API Gateway's limit, or one whose Lambda proxy event
 * would be over Lambda's invocation limit, gets the configured gateway response instead of reaching
 * a function. Everything else is passed through unchanged, at most `concurrency` requests per function
 * at a time, and answered 504 if the function has not answered within the integration timeout.
 */
export async function startGateway(opts: GatewayOptions): Promise<{ close(): Promise<void>; address: AddressInfo }> {
  const timeoutMs = opts.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const functionOf = routeMatcher(opts.routes ?? []);
  const limiters = new Map<string, Limiter>();
  const limiterOf = (key: string) => {
    if (!limiters.has(key)) limiters.set(key, new Limiter(opts.concurrency ?? 8, opts.maxQueued ?? 1000));
    return limiters.get(key)!;
  };

  // A client that has not sent its whole request within the timeout gets 408 and the connection closed (Node's
  // request timeout, checked this often).
  const server = http.createServer({ connectionsCheckingInterval: Math.min(1000, timeoutMs / 4) }, (req, res) => {
    if (res.shouldKeepAlive) res.setHeader('keep-alive', `timeout=${KEEP_ALIVE.advertisedSeconds}`);
    const refuse = (response: { statusCode: number; body: string }) => {
      // Drain the rest of the body so the client reads the answer instead of a broken pipe.
      req.removeAllListeners('data');
      req.resume();
      res.writeHead(response.statusCode, { 'content-type': 'application/json' });
      res.end(response.body);
    };
    const tooLarge = () => refuse(opts.tooLarge);
    // API Gateway checks the key before anything else (a usage plan's key, x-api-key).
    const key = req.headers['x-api-key'];
    if (opts.apiKeys && !(typeof key === 'string' && opts.apiKeys.has(key))) {
      return refuse(opts.invalidApiKey ?? { statusCode: 403, body: '{"message":"Forbidden"}' });
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
      const request = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: body.toString('utf8'),
      };
      if (!checkInline(request).ok) return tooLarge();
      const timer = setTimeout(() => answer(res, 504, TIMED_OUT), timeoutMs);
      res.once('close', () => clearTimeout(timer));
      const queued = limiterOf(functionOf(request.method, request.url) ?? '').run(() => forward(req, res, body, timer));
      if (!queued) answer(res, 429, THROTTLED);
    });
  });

  const answer = (res: http.ServerResponse, status: number, body: string) => {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };

  /** Passes the request on; settles when the function has answered, so that its slot stays taken until then. */
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, timer: NodeJS.Timeout) =>
    new Promise<void>((resolve) => {
      // Answered meanwhile (timed out in the queue) or the client is gone: the function is not called.
      if (res.writableEnded || res.destroyed) return resolve();
      const upstream = http.request(
        { ...opts.target, method: req.method, path: req.url, headers: req.headers },
        (reply) => {
          reply.once('close', resolve);
          if (res.writableEnded || res.destroyed) return void reply.resume();
          clearTimeout(timer); // the function has answered in time; its body may take as long as the client reads
          res.writeHead(reply.statusCode ?? 502, endToEnd(reply.headers));
          pipeline(reply, res, () => undefined);
        },
      );
      upstream.on('error', () => {
        resolve();
        if (res.writableEnded) return;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Bad gateway: the local functions are not answering' }));
      });
      upstream.end(body);
    });

  server.requestTimeout = timeoutMs;
  server.headersTimeout = Math.min(server.headersTimeout, timeoutMs);
  server.keepAliveTimeout = KEEP_ALIVE.keptMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', resolve);
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
