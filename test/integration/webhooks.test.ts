import dns, { type LookupAddress } from 'node:dns';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { resetConfig } from '../../src/config';
import { apiEvent, makeContacts } from '../support/factories';
import { runPipeline } from '../support/faults';
import { status, submit, waitForFinal } from '../support/flow';
import { deliverWebhookFn, webhookSecretFn } from '../support/functions';
import { startTestService, type TestService } from '../support/service';

const KEY = { 'x-api-key': 'webhook-test-key-0123456789' };
const FIELDS = ['professional_email'];

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver on 127.0.0.1 that answers each POST with the next status of `answers` (then 200). */
async function receiver(answers: number[]) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const code = answers.shift() ?? 200;
      // Retry-After: 1 keeps this file quick; the ladder itself is unit-tested (test/unit/core/webhooks.test.ts).
      res.writeHead(code, code >= 500 ? { 'retry-after': '1' } : {});
      res.end('x'.repeat(10_000));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A name that resolves to a private address (the DNS case of the SSRF rules). */
const PRIVATE_NAME = 'hooks.private-example.com';
const PRIVATE_ADDRESS = '10.0.0.1';

/**
 * Name resolution answers PRIVATE_ADDRESS for PRIVATE_NAME (there is no DNS here); every other name as before. The
 * delivery's own checks (src/adapters/webhookHttp.ts) see that answer and nothing else is replaced.
 */
function resolvePrivateName() {
  const real = dns.lookup;
  return jest.spyOn(dns, 'lookup').mockImplementation(((
    host: string,
    options: dns.LookupOptions | ((...a: unknown[]) => void),
    callback?: (...a: unknown[]) => void,
  ) => {
    if (host !== PRIVATE_NAME) return (real as (...a: unknown[]) => void)(host, options, callback);
    const cb = (typeof options === 'function' ? options : callback)!;
    const all = typeof options === 'object' && options.all;
    process.nextTick(() => (all ? cb(null, [{ address: PRIVATE_ADDRESS, family: 4 }]) : cb(null, PRIVATE_ADDRESS, 4)));
  }) as unknown as typeof dns.lookup);
}

/**
 * A guard for when the code is broken: a socket to PRIVATE_NAME that would connect to PRIVATE_ADDRESS connects to
 * 127.0.0.1 instead (this machine's traffic never leaves it), so that a connection the rules should have prevented
 * reaches `receiverCount`'s server and is counted. The address check itself runs unchanged, before this mapping.
 */
function keepPrivateNameLocal() {
  const local = (a: string | LookupAddress[]) =>
    Array.isArray(a)
      ? a.map((x) => (x.address === PRIVATE_ADDRESS ? { address: '127.0.0.1', family: 4 } : x))
      : a === PRIVATE_ADDRESS
        ? '127.0.0.1'
        : a;
  const connect = net.Socket.prototype.connect;
  return jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (
    this: net.Socket,
    ...args: unknown[]
  ) {
    // net.createConnection passes its normalized [options, callback]; tls.connect passes the options.
    const options = (Array.isArray(args[0]) ? args[0][0] : args[0]) as net.TcpNetConnectOpts | undefined;
    if (options && typeof options === 'object' && options.host === PRIVATE_NAME) {
      const lookup = (options.lookup ?? dns.lookup) as (...a: unknown[]) => void;
      options.lookup = ((host: string, opts: unknown, cb: (e: unknown, a: unknown, f?: number) => void) =>
        lookup(host, opts, (err: unknown, address: string | LookupAddress[], family?: number) =>
          cb(err, address === undefined ? address : local(address), family),
        )) as net.LookupFunction;
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  });
}

/** A TCP server on 127.0.0.1 that only counts the connections it gets. */
async function connectionCounter() {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    count: () => count,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Polls the status until its webhook is in a final state. */
async function webhookSettled(requestId: string) {
  for (let i = 0; i < 600; i++) {
    const s = await status(requestId, KEY);
    if (s.webhook?.state === 'delivered' || s.webhook?.state === 'failed') return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the webhook never settled');
}

describe('completion webhooks: signed, retried, delivered by their own function (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_FIRST_RETRY_SECONDS: '1' });
    runPipeline(service);
    const q = service.resources.queues.WebhookQueue;
    service.deliver(q.url, q.arn, deliverWebhookFn(), { functionKey: 'deliverWebhook', concurrency: 2 });
  });
  afterAll(() => service.close());

  it('retries 500s with a new timestamp and signature each time, the same webhook-id, and shows delivered after 4 attempts', async () => {
    const hook = await receiver([500, 500, 500]);
    try {
      const res = await submit({ contacts: makeContacts(150), fields_to_enrich: FIELDS, callbackUrl: hook.url }, KEY);
      expect(res.statusCode).toBe(202);
      const { requestId } = res.json;
      expect((await status(requestId, KEY)).webhook).toEqual({ state: 'pending', attempts: 0 });
      await waitForFinal(requestId, 60_000, KEY);
      const settled = await webhookSettled(requestId);
      expect(settled.webhook).toEqual({
        state: 'delivered',
        attempts: 4,
        lastStatusCode: 200,
        deliveredAt: expect.any(String),
      });
      expect(hook.got).toHaveLength(4);
      const secret = JSON.parse((await webhookSecretFn()(apiEvent({ httpMethod: 'GET', headers: KEY }))).body).secret;
      expect(secret).toMatch(/^whsec_/);
      expect(new Set(hook.got.map((g) => g.headers['webhook-id']))).toEqual(new Set([`evt_${requestId}`]));
      expect(new Set(hook.got.map((g) => g.headers['webhook-timestamp'])).size).toBe(4);
      expect(new Set(hook.got.map((g) => g.headers['webhook-signature'])).size).toBe(4);
      for (const g of hook.got) {
        const event = new Webhook(secret).verify(g.body, g.headers as Record<string, string>);
        expect(event).toMatchObject({
          type: 'enrichment.completed',
          data: { requestId, status: 'completed', totalContacts: 150, summary: settled.summary },
        });
      }
      expect(Buffer.byteLength(hook.got[0].body)).toBeLessThan(20 * 1024);
    } finally {
      await hook.close();
    }
  }, 90_000);

  it('makes one attempt only to a receiver that answers 410', async () => {
    const hook = await receiver([410]);
    try {
      const res = await submit({ contacts: makeContacts(20), fields_to_enrich: FIELDS, callbackUrl: hook.url }, KEY);
      const settled = await webhookSettled(res.json.requestId);
      expect(settled.webhook).toEqual({
        state: 'failed',
        attempts: 1,
        lastStatusCode: 410,
        reason: 'the receiver answered 410 Gone',
      });
      expect(hook.got).toHaveLength(1);
      expect(await service.queueDepth(service.resources.queues.WebhookQueue.url)).toBe(0);
    } finally {
      await hook.close();
    }
  }, 60_000);

  it('refuses (400) callbackUrls against the deployed SSRF rules and writes nothing for them', async () => {
    const before = await service.scanTable();
    process.env.WEBHOOK_ALLOW_PRIVATE = 'false';
    resetConfig();
    try {
      for (const callbackUrl of [
        'http://hooks.example.com/x',
        'https://127.0.0.1/x',
        'https://169.254.169.254/latest/meta-data',
        'https://[::ffff:10.0.0.1]/',
        'https://user:pw@example.com/',
        'https://example.com:8443/',
      ]) {
        const res = await submit({ contacts: makeContacts(2), fields_to_enrich: FIELDS, callbackUrl }, KEY);
        expect([callbackUrl, res.statusCode, res.json.errors?.[0]?.path]).toEqual([callbackUrl, 400, 'callbackUrl']);
      }
    } finally {
      process.env.WEBHOOK_ALLOW_PRIVATE = 'true';
      resetConfig();
    }
    expect(await service.scanTable()).toBe(before);
  });

  it('sends nothing to a name that resolves to a private address (WEBHOOK_ALLOW_PRIVATE=false) and puts the reason on the status', async () => {
    const counter = await connectionCounter();
    const resolver = resolvePrivateName();
    const guard = keepPrivateNameLocal();
    const ports = process.env.WEBHOOK_ALLOWED_PORTS;
    process.env.WEBHOOK_ALLOW_PRIVATE = 'false';
    process.env.WEBHOOK_ALLOWED_PORTS = `443,${counter.port}`;
    resetConfig();
    try {
      // A name passes at create (its addresses are checked at each delivery, after resolution).
      const callbackUrl = `https://${PRIVATE_NAME}:${counter.port}/hook`;
      const body = { contacts: makeContacts(20), fields_to_enrich: FIELDS, callbackUrl, dedupe: false };
      const res = await submit(body, KEY);
      expect(res.statusCode).toBe(202);
      const { requestId } = res.json;
      await waitForFinal(requestId, 60_000, KEY);
      let s = await status(requestId, KEY);
      for (let i = 0; i < 600 && !['retrying', 'delivered', 'failed'].includes(s.webhook?.state ?? ''); i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = await status(requestId, KEY);
      }
      expect(resolver.mock.calls.some(([host]) => host === PRIVATE_NAME)).toBe(true);
      expect(s.webhook).toEqual({
        state: 'failed',
        attempts: 1,
        reason: `${PRIVATE_NAME} resolves to an address that is not allowed: ${PRIVATE_ADDRESS} is not a public address (private)`,
      });
      expect(counter.count()).toBe(0);
      expect(await service.queueDepth(service.resources.queues.WebhookQueue.url)).toBe(0);
    } finally {
      process.env.WEBHOOK_ALLOW_PRIVATE = 'true';
      if (ports === undefined) delete process.env.WEBHOOK_ALLOWED_PORTS;
      else process.env.WEBHOOK_ALLOWED_PORTS = ports;
      resetConfig();
      guard.mockRestore();
      resolver.mockRestore();
      await counter.close();
    }
  }, 90_000);

  it('rotates the secret: the previous one is answered beside the new one during the overlap', async () => {
    const first = JSON.parse((await webhookSecretFn()(apiEvent({ httpMethod: 'GET', headers: KEY }))).body);
    const res = await webhookSecretFn()(apiEvent({ httpMethod: 'POST', headers: KEY }));
    expect(res.statusCode).toBe(200);
    const rotated = JSON.parse(res.body);
    expect(rotated).toEqual({
      secret: expect.stringMatching(/^whsec_/),
      previousSecret: first.secret,
      previousSecretExpiresAt: expect.any(String),
    });
    expect(rotated.secret).not.toBe(first.secret);
    expect(JSON.parse((await webhookSecretFn()(apiEvent({ httpMethod: 'GET', headers: KEY }))).body)).toEqual(rotated);
  });
});
