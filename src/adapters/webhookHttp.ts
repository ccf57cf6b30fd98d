import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { WebhookAttemptResult, WebhookSender } from '../core/ports';
import { parseRetryAfter } from '../core/retry';
import { addressProblem, callbackUrlProblem, type CallbackRules } from '../core/webhookUrl';

/** The most of an answer's body read (then the connection is dropped): receivers' bodies are not used. */
export const MAX_ANSWER_BYTES = 4096;

export interface SenderOptions extends CallbackRules {
  /** The whole attempt: connect, send, the answer's headers (WEBHOOK_TIMEOUT_MS, 10 s). */
  timeoutMs: number;
  /** Every address of a name (tests replace DNS). */
  resolve?: (host: string) => Promise<LookupAddress[]>;
}

const resolveAll = (host: string): Promise<LookupAddress[]> =>
  new Promise((ok, fail) => dnsLookup(host, { all: true }, (err, addresses) => (err ? fail(err) : ok(addresses))));

class RefusedAddress extends Error {}

/**
 * A socket's DNS look-up that refuses the connection unless every address the name resolves to is public: the
 * socket then connects to an address that was checked (no second look-up a rebinding name could change).
 */
function checkedLookup(resolve: (host: string) => Promise<LookupAddress[]>): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const problem = addresses.length
          ? addresses.map((a) => addressProblem(a.address)).find(Boolean)
          : `${hostname} has no address`;
        if (problem)
          return callback(
            new RefusedAddress(`${hostname} resolves to an address that is not allowed: ${problem}`),
            '',
            4,
          );
        if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        const family = options.family === 6 ? 6 : options.family === 4 ? 4 : undefined;
        const pick = addresses.find((a) => !family || a.family === family) ?? addresses[0];
        callback(null, pick.address, pick.family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 4),
    );
  };
}

/**
 * POSTs webhook events: the URL checked again (scheme, user-info, port, IP literal), every resolved address checked
 * (SSRF rules, unless `allowPrivate`), no redirect followed (node's http never follows one), at most
 * MAX_ANSWER_BYTES of the answer read, `timeoutMs` for the whole attempt.
 */
export function httpWebhookSender(opts: SenderOptions): WebhookSender {
  const lookup = opts.allowPrivate ? undefined : checkedLookup(opts.resolve ?? resolveAll);
  return {
    post(url, headers, body) {
      const problem = callbackUrlProblem(url, opts);
      if (problem) return Promise.resolve({ kind: 'refused', reason: problem });
      const target = new URL(url);
      const client = target.protocol === 'https:' ? https : http;
      return new Promise<WebhookAttemptResult>((resolve) => {
        let settled = false;
        const done = (result: WebhookAttemptResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(result);
        };
        const req = client.request(
          target,
          {
            method: 'POST',
            headers: {
              ...headers,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'user-agent': 'enrichment-service-webhooks',
            },
            ...(lookup ? { lookup } : {}),
            agent: false,
          },
          (res) => {
            const statusCode = res.statusCode ?? 0;
            const retryAfterMs = parseRetryAfter(res.headers['retry-after'] as string | undefined);
            let read = 0;
            res.on('data', (chunk: Buffer) => {
              read += chunk.length;
              if (read >= MAX_ANSWER_BYTES) res.destroy();
            });
            res.on('error', () => undefined);
            done({ kind: 'answered', statusCode, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
            res.on('end', () => req.destroy());
          },
        );
        const timer = setTimeout(() => {
          done({ kind: 'timeout' });
          req.destroy();
        }, opts.timeoutMs);
        req.on('error', (err) =>
          done(
            err instanceof RefusedAddress
              ? { kind: 'refused', reason: err.message }
              : { kind: 'network', reason: (err as NodeJS.ErrnoException).code ?? 'network error' },
          ),
        );
        req.end(body);
      });
    },
  };
}
