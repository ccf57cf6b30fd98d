import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A delivery the receiver verified: its `webhook-id` and the event. */
export interface VerifiedWebhook {
  id: string;
  event: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** The most of a body the receiver reads (an event is under 20 KB). */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * A completion-webhook receiver on 127.0.0.1, as a user would write one (README: Webhooks): each POST is verified with
 * standardwebhooks' `Webhook.verify` (signature and a ±5 min timestamp) and answered 204, or 400 when it does not
 * verify. `next()` resolves with the first verified delivery.
 */
export async function startWebhookReceiver(secret: string) {
  const webhook = new Webhook(secret);
  const rejected: string[] = [];
  let resolveNext: (v: VerifiedWebhook) => void = () => {};
  const first = new Promise<VerifiedWebhook>((resolve) => {
    resolveNext = resolve;
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      try {
        const body = Buffer.concat(chunks).toString('utf8');
        const event = webhook.verify(body, req.headers as Record<string, string>) as VerifiedWebhook['event'];
        res.writeHead(204).end();
        resolveNext({ id: String(req.headers['webhook-id']), event });
      } catch (err) {
        rejected.push(err instanceof Error ? err.message : String(err));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    /** Why each delivery that did not verify was refused. */
    rejected,
    /** The first verified delivery; rejects after `timeoutMs`. */
    next(timeoutMs: number): Promise<VerifiedWebhook> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no verified webhook within ${timeoutMs} ms`)), timeoutMs);
      });
      return Promise.race([first, timeout]).finally(() => clearTimeout(timer));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
