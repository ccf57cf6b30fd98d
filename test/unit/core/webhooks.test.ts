import { Webhook } from 'standardwebhooks';
import { httpWebhookSender } from '../../../src/adapters/webhookHttp';
import type {
  WebhookAttemptRecord,
  WebhookAttemptResult,
  WebhookDeliveries,
  WebhookQueue,
  WebhookSecretStore,
} from '../../../src/core/ports';
import {
  deliverWebhook,
  MAX_EVENT_BYTES,
  MAX_RETRY_WAIT_SECONDS,
  retryDelaySeconds,
  webhookEvent,
  webhookIdOf,
  type DeliveryDeps,
} from '../../../src/core/webhooks';
import { rotateWebhookSecrets, secretAnswer } from '../../../src/core/webhookSecrets';
import { newWebhookSecret, signedHeaders, signingSecrets, type WebhookSecrets } from '../../../src/core/webhookSigning';
import { callbackUrlProblem } from '../../../src/core/webhookUrl';
import type { WebhookMessage } from '../../../src/schemas/webhook';
import { ManualClock, recordingLogger, statusRecordOf } from '../../support/fakes';

const ID = '0b9f3a2e-6a8e-4a4e-9d7c-2f1f5b0c7d11';
const body = JSON.stringify({ type: 'enrichment.completed', timestamp: '2024-05-01T12:00:00.000Z', data: {} });

describe('webhook signatures (Standard Webhooks, checked with the standardwebhooks package)', () => {
  const secret = newWebhookSecret();
  const now = new Date();

  it('makes whsec_ secrets of 32 random bytes, each new', () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it('verifies; a tampered body, a timestamp older than 5 minutes and a rotated-out secret do not', () => {
    const headers = signedHeaders(webhookIdOf(ID), body, [secret], now);
    expect(headers['webhook-id']).toBe(`evt_${ID}`);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(secret).verify(body.replace('completed', 'failed'), headers)).toThrow(/signature/i);
    const old = signedHeaders(webhookIdOf(ID), body, [secret], new Date(now.getTime() - 6 * 60_000));
    expect(() => new Webhook(secret).verify(body, old)).toThrow(/timestamp/i);
    const rotatedOut = newWebhookSecret();
    const byNewOnly = signedHeaders(webhookIdOf(ID), body, [newWebhookSecret()], now);
    expect(() => new Webhook(rotatedOut).verify(body, byNewOnly)).toThrow(/signature/i);
  });

  it('signs with both secrets during a rotation overlap (two v1 entries), with the new one only after it', async () => {
    const store = memorySecrets();
    const clock = new ManualClock(new Date());
    const rotated = await rotateWebhookSecrets('owner', { secrets: store, clock, overlapHours: 24 });
    const both = signingSecrets(rotated, clock.now());
    expect(both).toEqual([rotated.current, rotated.previous]);
    const headers = signedHeaders('evt_x', body, both, clock.now());
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const s of both) expect(new Webhook(s).verify(body, headers)).toBeTruthy();
    expect(secretAnswer(rotated, clock.now())).toEqual({
      secret: rotated.current,
      previousSecret: rotated.previous,
      previousSecretExpiresAt: rotated.previousUntil,
    });
    clock.advance(24 * 3_600_000 + 1);
    expect(signingSecrets(rotated, clock.now())).toEqual([rotated.current]);
    expect(secretAnswer(rotated, clock.now())).toEqual({ secret: rotated.current });
    const after = signedHeaders('evt_x', body, signingSecrets(rotated, clock.now()), new Date());
    expect(() => new Webhook(rotated.previous!).verify(body, after)).toThrow(/signature/i);
  });
});

describe('the retry ladder', () => {
  const mid = () => 0.5;
  it('grows 4x from the first wait, jittered by at most 10%, each wait at most 5x the one before, capped at 6 h', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelaySeconds(n, 5, mid))).toEqual([5, 20, 80, 320, 1280]);
    expect(retryDelaySeconds(9, 5, mid)).toBe(MAX_RETRY_WAIT_SECONDS);
    for (let n = 2; n <= 12; n++) {
      const longest = retryDelaySeconds(n, 5, () => 1);
      const shortestBefore = retryDelaySeconds(n - 1, 5, () => 0);
      expect(longest).toBeLessThanOrEqual(5 * shortestBefore);
      expect(retryDelaySeconds(n, 5, () => 0)).toBeGreaterThanOrEqual(
        0.9 * Math.min(MAX_RETRY_WAIT_SECONDS, 5 * 4 ** (n - 1)) - 1,
      );
    }
  });

  it('spans more than 24 hours over 12 attempts from 5 s, even with the shortest jitter', () => {
    let total = 0;
    for (let n = 1; n < 12; n++) total += retryDelaySeconds(n, 5, () => 0);
    expect(total).toBeGreaterThan(24 * 3600);
  });

  it('lets a Retry-After win, at least a second and at most 6 h', () => {
    expect(retryDelaySeconds(1, 5, mid, 120_000)).toBe(120);
    expect(retryDelaySeconds(5, 5, mid, 0)).toBe(1);
    expect(retryDelaySeconds(1, 5, mid, 48 * 3_600_000)).toBe(MAX_RETRY_WAIT_SECONDS);
  });
});

describe('callbackUrl SSRF rules', () => {
  const deployed = { allowPrivate: false, allowedPorts: [443] };
  const offline = { allowPrivate: true, allowedPorts: [443] };

  it.each([
    ['http://hooks.example.com/x', /https/],
    ['https://127.0.0.1/x', /loopback/],
    ['https://169.254.169.254/latest/meta-data', /linkLocal/],
    ['https://10.0.0.1/', /private/],
    ['https://[::ffff:10.0.0.1]/', /ipv4Mapped/],
    ['https://[fd00::1]/', /uniqueLocal/],
    ['https://[::1]/', /loopback/],
    ['https://2130706433/', /loopback/],
    ['https://user:pw@example.com/', /user name or password/],
    ['https://example.com:8443/', /port 443/],
    ['https://localhost/', /public host/],
    ['not a url', /absolute URL/],
  ])('refuses %s when deployed', (url, why) => {
    expect(callbackUrlProblem(url, deployed)).toMatch(why);
  });

  it('accepts https to a public name or address on 443, and another port only when the stage allows it', () => {
    expect(callbackUrlProblem('https://hooks.example.com/enrichment?x=1', deployed)).toBeUndefined();
    expect(callbackUrlProblem('https://8.8.8.8/', deployed)).toBeUndefined();
    expect(callbackUrlProblem('https://example.com:8443/', { ...deployed, allowedPorts: [443, 8443] })).toBeUndefined();
  });

  it('allows http://127.0.0.1:<port> offline, never user-info or another scheme', () => {
    expect(callbackUrlProblem('http://127.0.0.1:4010/hook', offline)).toBeUndefined();
    expect(callbackUrlProblem('http://u:p@127.0.0.1:4010/hook', offline)).toMatch(/user name/);
    expect(callbackUrlProblem('ftp://127.0.0.1/', offline)).toMatch(/http/);
  });

  it('at send time refuses a name that resolves to a private address, for every address, and sends nothing', async () => {
    const resolved: string[] = [];
    const sender = httpWebhookSender({
      ...deployed,
      timeoutMs: 2000,
      resolve: async (host) => {
        resolved.push(host);
        return [
          { address: '93.184.216.34', family: 4 },
          { address: '10.0.0.1', family: 4 },
        ];
      },
    });
    const result = await sender.post('https://hooks.example.test/x', {}, body);
    expect(resolved).toEqual(['hooks.example.test']);
    expect(result).toEqual({ kind: 'refused', reason: expect.stringMatching(/10\.0\.0\.1 is not a public address/) });
    expect(await sender.post('https://169.254.169.254/latest/meta-data', {}, body)).toMatchObject({ kind: 'refused' });
  });
});

describe('deliverWebhook', () => {
  const message = (over: Partial<WebhookMessage> = {}): WebhookMessage => ({
    requestId: ID,
    webhookId: webhookIdOf(ID),
    owner: 'o1',
    url: 'https://hooks.example.com/x',
    attempt: 1,
    event: { type: 'enrichment.completed', timestamp: '2024-05-01T12:00:00.000Z', data: { requestId: ID } },
    ...over,
  });

  function harness(answers: WebhookAttemptResult[]) {
    const sent: { message: WebhookMessage; delaySeconds?: number }[] = [];
    const dead: WebhookMessage[] = [];
    const recorded: WebhookAttemptRecord[] = [];
    const posts: Record<string, string>[] = [];
    let attempts = 0;
    const queue: WebhookQueue = {
      send: async (m, opts) => void sent.push({ message: m, delaySeconds: opts?.delaySeconds }),
      deadLetter: async (m) => void dead.push(m),
    };
    const deliveries: WebhookDeliveries = {
      markQueued: async () => true,
      claimAttempt: async (_id, attempt) => {
        if (attempt !== attempts + 1) return false;
        attempts = attempt;
        return true;
      },
      recordAttempt: async (_id, _n, r) => void recorded.push(r),
    };
    const secrets = memorySecrets();
    void secrets.create('o1', { current: newWebhookSecret(), createdAt: '2024-05-01T00:00:00.000Z' });
    const deps: DeliveryDeps = {
      queue,
      deliveries,
      secrets,
      sender: {
        post: async (_url, headers) => {
          posts.push(headers);
          return answers.shift() ?? { kind: 'answered', statusCode: 200 };
        },
      },
      clock: new ManualClock(),
      log: recordingLogger(),
      firstRetrySeconds: 5,
      maxAttempts: 3,
      claimStaleMs: 60_000,
      random: () => 0.5,
    };
    return { deps, sent, dead, recorded, posts };
  }

  it('retries a 500 with the ladder, then delivers; a duplicate of a claimed attempt is dropped', async () => {
    const h = harness([{ kind: 'answered', statusCode: 500 }]);
    expect(await deliverWebhook(message(), h.deps)).toBe('retrying');
    expect(h.sent).toEqual([{ message: message({ attempt: 2 }), delaySeconds: 5 }]);
    expect(await deliverWebhook(message(), h.deps)).toBe('duplicate');
    expect(await deliverWebhook(h.sent[0].message, h.deps)).toBe('delivered');
    expect(h.recorded).toEqual([
      { state: 'retrying', lastStatusCode: 500 },
      { state: 'delivered', lastStatusCode: 200, deliveredAt: '2024-05-01T12:00:00.000Z' },
    ]);
    expect(h.posts.map((p) => p['webhook-id'])).toEqual([`evt_${ID}`, `evt_${ID}`]);
  });

  it('stops for good at a 410, a refused address or the last attempt (then the dead-letter queue); a 3xx retries', async () => {
    const gone = harness([{ kind: 'answered', statusCode: 410 }]);
    expect(await deliverWebhook(message(), gone.deps)).toBe('failed');
    expect([gone.sent, gone.dead]).toEqual([[], []]);
    const refused = harness([{ kind: 'refused', reason: 'x resolves to 10.0.0.1' }]);
    expect(await deliverWebhook(message(), refused.deps)).toBe('failed');
    expect(refused.recorded).toEqual([{ state: 'failed', reason: 'x resolves to 10.0.0.1' }]);
    const redirect = harness([{ kind: 'answered', statusCode: 302 }]);
    expect(await deliverWebhook(message(), redirect.deps)).toBe('retrying');
    const spent = harness([{ kind: 'timeout' }, { kind: 'timeout' }, { kind: 'timeout' }]);
    let m = message();
    while ((await deliverWebhook(m, spent.deps)) === 'retrying') m = spent.sent.at(-1)!.message;
    expect(spent.dead).toEqual([{ ...message({ attempt: 3 }), exhausted: true, notBefore: undefined }]);
    expect(spent.recorded.at(-1)).toEqual({ state: 'failed', reason: 'no answer within the timeout' });
  });

  it('chains SQS delays for a wait past 15 minutes: the message comes back until its notBefore', async () => {
    const h = harness([{ kind: 'answered', statusCode: 503, retryAfterMs: 3_600_000 }]);
    await deliverWebhook(message(), h.deps);
    const next = h.sent[0];
    expect(next.delaySeconds).toBe(900);
    expect(next.message.notBefore).toBe(h.deps.clock.now().getTime() + 3_600_000);
    expect(await deliverWebhook(next.message, h.deps)).toBe('waiting');
    expect(h.sent[1]).toEqual({ message: next.message, delaySeconds: 900 });
    (h.deps.clock as ManualClock).advance(3_600_000);
    expect(await deliverWebhook(next.message, h.deps)).toBe('delivered');
  });
});

describe('the webhook event', () => {
  it('is thin: ids, status, counts, link and usage, under 20 KB even for a rejection with long errors', () => {
    const webhook = {
      url: 'https://h.example.com',
      downloadUrl: 'https://api/x/download',
      state: 'pending' as const,
      attempts: 0,
    };
    const done = webhookEvent(
      statusRecordOf(ID, {
        status: 'completed_with_errors',
        completedAt: '2024-05-01T12:00:00.000Z',
        enrichedContacts: 8,
        notFoundContacts: 1,
        failedContacts: 1,
        webhook,
      }),
    )!;
    expect(done).toMatchObject({
      type: 'enrichment.completed_with_errors',
      timestamp: '2024-05-01T12:00:00.000Z',
      data: {
        requestId: ID,
        status: 'completed_with_errors',
        summary: { enriched: 8, not_found: 1, failed: 1 },
        downloadUrl: 'https://api/x/download',
      },
    });
    const errors = Array.from({ length: 50 }, (_, i) => ({ path: `contacts[${i}]`, message: 'x'.repeat(5000) }));
    const rejected = webhookEvent(statusRecordOf(ID, { status: 'rejected', errors, webhook }))!;
    expect(rejected.type).toBe('enrichment.rejected');
    expect(Buffer.byteLength(JSON.stringify(rejected))).toBeLessThan(MAX_EVENT_BYTES);
    expect(webhookEvent(statusRecordOf(ID, { status: 'processing', webhook }))).toBeUndefined();
    // A cancelled request sends its event too, with its counts.
    const cancelled = webhookEvent(
      statusRecordOf(ID, {
        status: 'cancelled',
        completedAt: '2024-05-01T12:00:00.000Z',
        enrichedContacts: 4,
        notFoundContacts: 1,
        failedContacts: 0,
        cancelledContacts: 5,
        metadata: { campaign: 'q4' },
        webhook,
      }),
    )!;
    // With its counts, the cancelled ones included, and the caller's metadata.
    expect(cancelled).toMatchObject({
      type: 'enrichment.cancelled',
      data: {
        status: 'cancelled',
        summary: { enriched: 4, not_found: 1, failed: 0, cancelled: 5 },
        metadata: { campaign: 'q4' },
      },
    });
  });
});

function memorySecrets(): WebhookSecretStore {
  const items = new Map<string, WebhookSecrets>();
  const put = (owner: string, secrets: WebhookSecrets) => {
    items.set(owner, secrets);
    return true;
  };
  return {
    get: async (owner) => items.get(owner),
    create: async (owner, s) => !items.has(owner) && put(owner, s),
    replace: async (owner, s, expected) => items.get(owner)?.current === expected && put(owner, s),
  };
}
