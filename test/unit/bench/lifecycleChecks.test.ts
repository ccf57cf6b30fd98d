import { Webhook } from 'standardwebhooks';
import { parseLifecycleOptions } from '../../../bench/lifecycle';
import {
  callsAfterCancel,
  checkRetriedDeliveries,
  formatProblems,
  forgeries,
  verifyError,
  type Delivery,
} from '../../../bench/lifecycleChecks';

const SECRET = `whsec_${Buffer.from('a'.repeat(32)).toString('base64')}`;
const NEW_SECRET = `whsec_${Buffer.from('b'.repeat(32)).toString('base64')}`;
const ID = 'evt_r1';
const BODY = JSON.stringify({ type: 'enrichment.completed', data: { requestId: 'r1', totalContacts: 3 } });

/** A delivery as the service signs it: `secondsAgo` before now. */
function delivery(secondsAgo: number, secret = SECRET, body = BODY): Delivery {
  const at = new Date(Date.now() - secondsAgo * 1000);
  return {
    at: -secondsAgo,
    body,
    answered: 200,
    headers: {
      'webhook-id': ID,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(ID, at, body),
    },
  };
}

describe('the lifecycle bench: webhook deliveries verified as a receiver verifies them', () => {
  it('passes four attempts with one webhook-id, four timestamps and signatures, each verifying', () => {
    const four = [30, 20, 10, 0].map((s) => delivery(s));
    expect(checkRetriedDeliveries(four, SECRET, { webhookId: ID, attempts: 4 })).toEqual([]);
  });

  it('finds a missing attempt, a reused timestamp, another id and an attempt that does not verify', () => {
    const [a, b, c] = [30, 20, 10].map((s) => delivery(s));
    expect(checkRetriedDeliveries([a, b, c], SECRET, { webhookId: ID, attempts: 4 })).toEqual(['3 deliveries, not 4']);
    expect(checkRetriedDeliveries([a, a], SECRET, { webhookId: ID, attempts: 2 })).toEqual([
      '1 distinct webhook-timestamps in 2',
      '1 distinct webhook-signatures in 2',
    ]);
    const other = { ...b, headers: { ...b.headers, 'webhook-id': 'evt_other' } };
    expect(checkRetriedDeliveries([a, other], SECRET, { webhookId: ID, attempts: 2 })[0]).toBe(
      'webhook-ids evt_r1, evt_other, not evt_r1 on every attempt',
    );
    const wrong = delivery(5, NEW_SECRET);
    expect(checkRetriedDeliveries([a, wrong], SECRET, { webhookId: ID, attempts: 2 })).toEqual([
      'attempt 2 does not verify: No matching signature found',
    ]);
  });

  it('refuses the three forgeries of a delivery, and would report one that verified', () => {
    const d = delivery(0);
    expect(verifyError(SECRET, d.body, d.headers)).toBeUndefined();
    expect(forgeries(d, SECRET, NEW_SECRET)).toEqual([
      { name: 'tampered body', refusedWith: 'No matching signature found' },
      { name: 'timestamp 6 min old', refusedWith: 'Message timestamp too old' },
      { name: 'rotated-out secret', refusedWith: 'No matching signature found' },
    ]);
    // A "new" secret that is the old one: the rotated-out signature verifies, and the check says so.
    expect(forgeries(d, SECRET, SECRET)[2]).toEqual({ name: 'rotated-out secret', refusedWith: undefined });
  });
});

describe('the lifecycle bench: when the provider calls of a cancelled request stopped', () => {
  it('counts the calls after the cancel, when the count last grew and how long it has stayed', () => {
    const samples = [0, 10, 20, 30, 34, 36, 36, 36, 36].map((calls, at) => ({ at, calls }));
    expect(callsAfterCancel(samples, 3.5)).toEqual({ atCancel: 30, afterCancel: 6, lastGrowthAfter: 1.5, flatFor: 3 });
  });

  it('says 0 s when nothing grew after the cancel, and a count still growing at the end has stayed 0 s', () => {
    expect(
      callsAfterCancel(
        [0, 5, 5, 5].map((calls, at) => ({ at, calls })),
        1.5,
      ),
    ).toEqual({
      atCancel: 5,
      afterCancel: 0,
      lastGrowthAfter: 0,
      flatFor: 1,
    });
    expect(
      callsAfterCancel(
        [0, 5, 9].map((calls, at) => ({ at, calls })),
        1,
      ),
    ).toMatchObject({
      afterCancel: 4,
      flatFor: 0,
    });
  });
});

describe('the lifecycle bench: the NDJSON and CSV downloads hold the JSON rows', () => {
  const rows = [
    { first_name: 'Ann', last_name: 'Lee, Jr', company_domain: 'a.com', enrichment_status: 'enriched' },
    { first_name: 'Bo', last_name: 'Ng', company_domain: 'b.com', enrichment_status: 'cancelled' },
  ];
  const ndjson = `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
  const csv =
    'first_name,last_name,company_domain,enrichment_status\nAnn,"Lee, Jr",a.com,enriched\nBo,Ng,b.com,cancelled\n';

  it('passes the same rows in the three formats', () => {
    expect(formatProblems(rows, ndjson, csv)).toEqual([]);
  });

  it('finds a missing line, a record out of order and another status', () => {
    expect(formatProblems(rows, `${JSON.stringify(rows[0])}\n`, csv)).toEqual(['NDJSON has 1 lines, JSON 2 rows']);
    const swapped =
      'first_name,last_name,company_domain,enrichment_status\nBo,Ng,b.com,cancelled\nAnn,"Lee, Jr",a.com,enriched\n';
    expect(formatProblems(rows, ndjson, swapped)).toHaveLength(8);
    expect(formatProblems(rows, ndjson, csv.replace('b.com,cancelled', 'b.com,enriched'))).toEqual([
      'CSV record 1 enrichment_status "enriched" ≠ "cancelled"',
    ]);
  });
});

describe('npm run bench -- --lifecycle options', () => {
  it('runs every scenario at full size by default', () => {
    expect(parseLifecycleOptions([])).toEqual({
      scenarios: ['webhook-retries', 'webhook-down', 'webhook-410', 'cancel'],
      scale: 1,
      workers: 8,
      downSeconds: 60,
      cancelAfterBatches: 20,
      timeoutSeconds: 1200,
      json: false,
      logs: false,
    });
  });

  it('takes some scenarios, a scale and a shorter outage, and refuses an unknown scenario or a bad number', () => {
    expect(
      parseLifecycleOptions(['--scenarios', 'cancel,webhook-410', '--scale', '0.1', '--down-seconds', '20']),
    ).toMatchObject({ scenarios: ['cancel', 'webhook-410'], scale: 0.1, downSeconds: 20 });
    expect(() => parseLifecycleOptions(['--scenarios', 'webhook,cancel'])).toThrow(
      'unknown scenario(s) webhook; known: webhook-retries, webhook-down, webhook-410, cancel',
    );
    expect(() => parseLifecycleOptions(['--scale', '0'])).toThrow('--scale must be a positive number, got 0');
  });
});
