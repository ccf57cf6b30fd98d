import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { routeMatcher, startGateway } from '../../../src/local/gateway';
import { ServerlessConfig } from '../../../src/local/serverlessConfig';

const sls = new ServerlessConfig({ stage: 'local', region: 'us-east-1', env: {} });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('which function a request goes to (serverless.yml http events)', () => {
  const functionOf = routeMatcher(sls.httpRoutes());
  it('tells the routes apart by method and path template', () => {
    expect(functionOf('POST', '/enrichment')).toBe('createEnrichment');
    expect(functionOf('GET', '/enrichment/abc?x=1')).toBe('getEnrichmentStatus');
    expect(functionOf('GET', '/enrichment/abc/download')).toBe('downloadEnrichment');
    expect(functionOf('POST', '/mock/enrich')).toBe('mockEnrich');
    expect(functionOf('GET', '/enrichment')).toBe('listEnrichments');
    expect(functionOf('DELETE', '/enrichment')).toBeUndefined();
    expect(functionOf('GET', '/enrichment/a/b/c')).toBeUndefined();
  });

  it('prefers a literal path to a template, as API Gateway does, whatever their order in serverless.yml', () => {
    const routes = [
      { functionKey: 'byId', method: 'GET', path: 'enrichment/{id}' },
      { functionKey: 'literal', method: 'GET', path: 'enrichment/webhook-secret' },
    ];
    expect(routeMatcher(routes)('GET', '/enrichment/webhook-secret')).toBe('literal');
    expect(routeMatcher(routes)('GET', '/enrichment/abc')).toBe('byId');
    expect(functionOf('GET', '/enrichment/webhook-secret')).toBe('webhookSecret');
    expect(functionOf('POST', '/enrichment/webhook-secret/rotate')).toBe('webhookSecret');
  });
});

/**
 * The local API edge's limits in front of a stub upstream that holds every request until released: requests per
 * function beyond the concurrency wait at the edge, a request not answered within the timeout gets API Gateway's 504,
 * a client that does not send its body in time gets 408, and the edge listens on 127.0.0.1 unless told otherwise.
 */
describe('local API edge limits (stub upstream)', () => {
  let upstream: http.Server;
  let upstreamPort: number;
  const held: Array<{ url: string; release: () => void }> = [];
  let gateways: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => held.push({ url: req.url!, release: () => res.end(JSON.stringify({ url: req.url })) }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as AddressInfo).port;
  });
  afterEach(async () => {
    for (const h of held.splice(0)) h.release();
    await Promise.all(gateways.map((g) => g.close()));
    gateways = [];
  });
  afterAll(async () => {
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  });

  async function gateway(opts: { concurrency?: number; maxQueued?: number; timeoutMs?: number; host?: string } = {}) {
    const g = await startGateway({
      port: 0,
      target: { host: '127.0.0.1', port: upstreamPort },
      tooLarge: sls.tooLargeResponse(),
      routes: sls.httpRoutes(),
      ...opts,
    });
    gateways.push(g);
    return g;
  }
  const get = (port: number, path: string) =>
    fetch(`http://127.0.0.1:${port}${path}`).then(async (res) => ({ status: res.status, body: await res.text() }));
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  };

  it('listens on 127.0.0.1 by default, and where HOST says otherwise', async () => {
    expect((await gateway()).address.address).toBe('127.0.0.1');
    expect((await gateway({ host: '0.0.0.0' })).address.address).toBe('0.0.0.0');
  });

  it('passes at most `concurrency` requests per function to the functions; the rest wait their turn and are all answered', async () => {
    const { address } = await gateway({ concurrency: 2 });
    const statuses = Array.from({ length: 5 }, (_, i) => get(address.port, `/enrichment/id-${i}`));
    const download = get(address.port, '/enrichment/id-9/download');
    await until(() => held.length >= 3);
    await sleep(100);
    // Two status requests and the download (another function, its own queue); three status requests wait.
    expect(held.map((h) => h.url).sort()).toEqual([
      '/enrichment/id-0',
      '/enrichment/id-1',
      '/enrichment/id-9/download',
    ]);
    while (held.length) {
      held.shift()!.release();
      await sleep(50);
    }
    await until(() => held.length === 0);
    const answers = await Promise.all([...statuses, download]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(answers.map((a) => JSON.parse(a.body).url)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `/enrichment/id-${i}`).concat('/enrichment/id-9/download'),
    );
  });

  it('answers 429 when more than `maxQueued` requests already wait for the function', async () => {
    const { address } = await gateway({ concurrency: 1, maxQueued: 1 });
    const first = get(address.port, '/enrichment/a');
    await until(() => held.length === 1);
    const second = get(address.port, '/enrichment/b');
    await sleep(100);
    expect(await get(address.port, '/enrichment/c')).toEqual({ status: 429, body: '{"message":"Too Many Requests"}' });
    held.shift()!.release();
    await until(() => held.length === 1);
    held.shift()!.release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });

  it("answers API Gateway's 504 when the function has not answered within the timeout, waiting in the queue included", async () => {
    const timeoutMs = 500;
    const { address } = await gateway({ concurrency: 1, timeoutMs });
    const sent = performance.now();
    // When each answer came, and which requests the function was holding then.
    const answered = (path: string) =>
      get(address.port, path).then((a) => ({
        ...a,
        afterMs: performance.now() - sent,
        functionHolds: held.map((h) => h.url),
      }));
    const [inFlight, queued] = await Promise.all([answered('/enrichment/slow'), answered('/enrichment/waiting')]);
    const timeout = { status: 504, body: '{"message":"Endpoint request timed out"}' };
    expect(inFlight).toMatchObject(timeout);
    expect(queued).toMatchObject(timeout);
    // The queued request's clock ran while it waited: it was answered while the function still held the first
    // request (so it never got the slot), by the edge's own timer: not before the timeout (a slow machine only
    // answers later). Libuv's millisecond clock may round a timer's start down by up to 1 ms.
    expect(queued.functionHolds).toEqual(['/enrichment/slow']);
    expect(inFlight.afterMs).toBeGreaterThanOrEqual(timeoutMs - 1);
    expect(queued.afterMs).toBeGreaterThanOrEqual(timeoutMs - 1);
    // The request that timed out while waiting never reaches a function.
    held.shift()!.release();
    await sleep(200);
    expect(held).toHaveLength(0);
  });

  it('answers 408 and closes the connection when a client does not send its whole body within the timeout', async () => {
    const { address } = await gateway({ timeoutMs: 500 });
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      const socket = net.connect(address.port, '127.0.0.1', () =>
        socket.write(
          'POST /enrichment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"contacts":',
        ),
      );
      socket.on('data', (d) => (got += d));
      socket.on('close', () => resolve(got));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(held).toHaveLength(0);
  });
});
