import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { LAMBDA_MAX_EVENT_BYTES, proxyEventBytes, TOO_LARGE_MESSAGE } from '../../../src/inlineLimits';
import { startGateway } from '../../../src/local/gateway';
import { freePort } from '../../../src/local/tcpPorts';
import { ServerlessConfig } from '../../../src/local/serverlessConfig';
import { generateContacts } from '../../../src/scripts/lib/contacts';

/** The local API Gateway edge in front of a stub upstream that records what reaches "the functions". */
describe('local API Gateway edge (stub upstream)', () => {
  let upstream: http.Server;
  let gateway: { close(): Promise<void> };
  let port: number;
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(202, { 'content-type': 'application/json', 'x-upstream': 'yes' });
        res.end('{"message":"Request accepted"}');
      });
    });
    upstream.keepAliveTimeout = 7_000; // its answers say `keep-alive: timeout=7`, which is not the edge's to pass on
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = await freePort();
    gateway = await startGateway({
      port,
      target: { host: '127.0.0.1', port: (upstream.address() as AddressInfo).port },
      tooLarge: new ServerlessConfig({ stage: 'local', region: 'us-east-1', env: {} }).tooLargeResponse(),
    });
  });
  afterAll(async () => {
    await gateway.close();
    await new Promise((r) => upstream.close(r));
  });
  beforeEach(() => {
    received.length = 0;
  });

  /** A POST with exactly these headers (plus the Host and Connection that node adds), chunked when no length is given. */
  function send(
    body: string,
    opts: { chunked?: boolean } = {},
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (!opts.chunked) headers['content-length'] = String(Buffer.byteLength(body));
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/enrichment', headers, agent: false },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        },
      );
      req.on('error', reject);
      if (opts.chunked) {
        // Several writes, so the edge has to count a body that announces no length.
        for (let i = 0; i < body.length; i += 1024 * 1024) req.write(body.slice(i, i + 1024 * 1024));
        req.end();
      } else req.end(body);
    });
  }

  it("says 5 s of keep-alive and keeps an idle connection longer, so a client closes first; upstream's own keep-alive is not passed on", async () => {
    // One socket, two requests 6.5 s apart: past the 5 s it advertises and the 1 s node's server adds to its own
    // idle timeout (a 5 s server closes at 6 s), the edge still answers on it.
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    const ask = async () => {
      text = '';
      socket.write('GET /enrichment/x HTTP/1.1\r\nHost: edge\r\n\r\n');
      while (!text.endsWith('\r\n0\r\n\r\n')) await once(socket, 'data'); // the last chunk of a chunked answer
      return text;
    };
    try {
      const first = await ask();
      expect(first).toMatch(/^HTTP\/1\.1 202/);
      expect(first.toLowerCase()).toContain('\r\nconnection: keep-alive\r\n');
      expect(first.toLowerCase().match(/\r\nkeep-alive: [^\r]*/g)).toEqual(['\r\nkeep-alive: timeout=5']);
      expect(first).toContain('x-upstream: yes');
      expect(received[0].headers.connection).toBe('keep-alive'); // upstream answered with its own keep-alive
      await new Promise((r) => setTimeout(r, 6_500));
      expect(socket.readyState).toBe('open');
      expect(await ask()).toMatch(/^HTTP\/1\.1 202/);
    } finally {
      socket.destroy();
    }
  }, 15_000);

  const contactsBody = (megabytes: number) => {
    const parts: string[] = [];
    let bytes = 0;
    for (const c of generateContacts(200_000, { seed: 2 })) {
      const s = JSON.stringify(c);
      parts.push(s);
      bytes += s.length + 1;
      if (bytes >= megabytes * 1024 * 1024) break;
    }
    return `{"contacts":[${parts.join(',')}],"fields_to_enrich":["professional_email"]}`;
  };
  const expectHint = (res: { status: number; headers: http.IncomingHttpHeaders; text: string }) => {
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.text)).toEqual({ message: TOO_LARGE_MESSAGE });
    expect(TOO_LARGE_MESSAGE).toContain('s3://<bucket>/uploads/<key>');
  };

  it('passes a small request through unchanged and returns the function answer', async () => {
    const body = contactsBody(0.01);
    const res = await send(body);
    expect(res).toMatchObject({ status: 202, text: '{"message":"Request accepted"}' });
    expect(res.headers['x-upstream']).toBe('yes');
    expect(received).toHaveLength(1);
    expect(received[0].body).toBe(body);
    expect(received[0].headers['content-type']).toBe('application/json');
  });

  it('answers a 5.5 MB body (under 10 MB, but a Lambda event over 6 MB) with 413 and the upload hint', async () => {
    const body = contactsBody(5.5);
    expect(Buffer.byteLength(body)).toBeGreaterThan(5.5 * 1024 * 1024);
    expectHint(await send(body));
    expect(received).toHaveLength(0);
  });

  it('answers a 9 MB body with 413 and the upload hint, with and without a content-length', async () => {
    const body = contactsBody(9);
    expectHint(await send(body));
    expectHint(await send(body, { chunked: true }));
    expect(received).toHaveLength(0);
  });

  it('answers a body over 10 MB with 413, announced or chunked', async () => {
    const body = 'x'.repeat(10 * 1024 * 1024 + 1);
    expectHint(await send(body));
    expectHint(await send(body, { chunked: true }));
    expect(received).toHaveLength(0);
  });

  it('delivers an event one byte smaller than 6,291,456 bytes and refuses one of 6,291,456', async () => {
    // The headers the edge sees: ours plus node's Host and Connection.
    const headersFor = (body: string) => ({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      host: `127.0.0.1:${port}`,
      connection: 'close',
    });
    const eventOf = (body: string) =>
      proxyEventBytes({ method: 'POST', url: '/enrichment', headers: headersFor(body), body });
    const overhead = eventOf('x'.repeat(5_000_000)) - 5_000_000; // a 7-digit content-length, like the bodies below
    const under = 'x'.repeat(LAMBDA_MAX_EVENT_BYTES - 1 - overhead);
    expect(eventOf(under)).toBe(LAMBDA_MAX_EVENT_BYTES - 1);

    const res = await send(under);
    expect(res.status).toBe(202);
    expect(received).toHaveLength(1);
    // The edge measured what it forwarded: the same headers give the same event size.
    expect(
      proxyEventBytes({ method: 'POST', url: '/enrichment', headers: received[0].headers, body: received[0].body }),
    ).toBe(LAMBDA_MAX_EVENT_BYTES - 1);

    expectHint(await send(`${under}x`));
    expect(received).toHaveLength(1);
  });
});
