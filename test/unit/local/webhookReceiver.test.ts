import { Webhook } from 'standardwebhooks';
import { startWebhookReceiver } from '../../../src/local/webhookReceiver';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const OTHER = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

async function post(url: string, secret: string, body: string, tamper = false) {
  const id = 'evt_1';
  const timestamp = new Date();
  const signature = new Webhook(secret).sign(id, timestamp, body);
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signature,
    },
    body: tamper ? body.replace('completed', 'failed') : body,
  });
  return res.status;
}

describe("the demo's webhook receiver", () => {
  it('answers 400 to a delivery that does not verify (another secret, a tampered body) and 204 to one that does', async () => {
    const receiver = await startWebhookReceiver(SECRET);
    try {
      const body = JSON.stringify({ type: 'enrichment.completed', timestamp: 't', data: { status: 'completed' } });
      expect(await post(receiver.url, OTHER, body)).toBe(400);
      expect(await post(receiver.url, SECRET, body, true)).toBe(400);
      expect(receiver.rejected).toHaveLength(2);
      expect(await post(receiver.url, SECRET, body)).toBe(204);
      await expect(receiver.next(1000)).resolves.toEqual({ id: 'evt_1', event: JSON.parse(body) });
    } finally {
      await receiver.close();
    }
  });

  it('next() gives up after its timeout when nothing verified arrives', async () => {
    const receiver = await startWebhookReceiver(SECRET);
    try {
      await expect(receiver.next(50)).rejects.toThrow(/no verified webhook within 50 ms/);
    } finally {
      await receiver.close();
    }
  });
});
