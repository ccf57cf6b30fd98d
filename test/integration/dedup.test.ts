import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { makeHandler as makeCreate } from '../../src/handlers/createEnrichment';
import { createDeps } from '../../src/handlers/wiring';
import { apiEvent, makeContacts } from '../support/factories';
import { submit, waitForFinal } from '../support/flow';
import { workerFn } from '../support/functions';
import { as, startTestService, type TestService } from '../support/service';

const FIELDS = ['professional_email', 'job_title'];
const KEY_A = { 'x-api-key': 'client-a-key' };
const KEY_B = { 'x-api-key': 'client-b-key' };

describe('the same request twice is one job (fauxqs + dynalite, conditional writes through the IAM edge)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startTestService();
  });
  afterEach(() => service.close());

  /** Everything the service holds: objects (uploads aside), table items, messages. */
  const snapshot = async () => ({
    objects: (await service.listKeys()).filter((k) => !k.startsWith('uploads/')).sort(),
    items: ((await service.ddb.send(new ScanCommand({ TableName: service.table }))).Items ?? [])
      .map((i) => i.requestId.S!)
      .sort(),
    messages: await service.queueDepth(),
  });

  it('the same 10k-contact body posted twice: the same requestId, 200 "duplicate", one set of batch messages, nothing new written', async () => {
    const body = { contacts: makeContacts(10_000, { extra: true }), fields_to_enrich: FIELDS };
    const first = await submit(body, KEY_A);
    expect(first.statusCode).toBe(202);
    const requestId: string = first.json.requestId;
    const after = await snapshot();
    expect(after.messages).toBe(100);
    // The status item, its tombstone and one dedup item (sorting a matcher beside a string would depend on the UUID).
    expect(after.items).toHaveLength(3);
    expect(after.items).toContain(requestId);
    expect(after.items).toContain(`gone#${requestId}`);
    expect(after.items.find((item: string) => !item.endsWith(requestId))).toMatch(/^dedup#[0-9a-f]{64}$/);

    const again = await submit(body, KEY_A);
    expect(again.statusCode).toBe(200);
    expect(again.json).toEqual({
      message: 'Duplicate request: already accepted',
      requestId,
      downloadUrl: first.json.downloadUrl,
      totalContacts: 10_000,
      totalBatches: 100,
      status: 'processing',
      duplicate: true,
    });
    expect(await snapshot()).toEqual(after);
  }, 60_000);

  it('20 identical posts at once create exactly one job', async () => {
    const body = { contacts: makeContacts(10_000), fields_to_enrich: FIELDS };
    const results = await Promise.all(Array.from({ length: 20 }, () => submit(body, KEY_A)));
    expect(results.filter((r) => r.statusCode === 202)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 200 && r.json.duplicate === true)).toHaveLength(19);
    expect(new Set(results.map((r) => r.json.requestId)).size).toBe(1);
    const { items, messages, objects } = await snapshot();
    expect(items).toHaveLength(3); // one dedup item, one status item, its tombstone
    expect(messages).toBe(100);
    expect(objects).toHaveLength(2); // one input.json, one placeholder output.json
  }, 60_000);

  it('the same Idempotency-Key with a different body answers 422 and writes nothing', async () => {
    const first = await submit(
      { contacts: makeContacts(150), fields_to_enrich: FIELDS },
      { ...KEY_A, 'Idempotency-Key': 'order-42' },
    );
    expect(first.statusCode).toBe(202);
    const before = await snapshot();
    const other = await submit(
      { contacts: makeContacts(151), fields_to_enrich: FIELDS },
      { ...KEY_A, 'idempotency-key': 'order-42' },
    );
    expect(other.statusCode).toBe(422);
    expect(other.json.message).toMatch(/Idempotency-Key was already used for a different request/);
    expect(await snapshot()).toEqual(before);
    // The same key and body is a duplicate; a malformed key is a 400.
    const retry = await submit(
      { contacts: makeContacts(150), fields_to_enrich: FIELDS },
      { ...KEY_A, 'Idempotency-Key': 'order-42' },
    );
    expect(retry).toMatchObject({ statusCode: 200, json: { requestId: first.json.requestId, duplicate: true } });
    const bad = await submit(
      { contacts: makeContacts(150), fields_to_enrich: FIELDS },
      { ...KEY_A, 'Idempotency-Key': 'x'.repeat(256) },
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json.errors).toEqual([expect.objectContaining({ path: 'Idempotency-Key (header)' })]);
    expect(await snapshot()).toEqual(before);
  });

  it('"dedupe": false makes a second job; another API key never sees the first key\'s request', async () => {
    const body = { contacts: makeContacts(250), fields_to_enrich: FIELDS };
    const first = await submit(body, KEY_A);
    const optedOut = await submit({ ...body, dedupe: false }, KEY_A);
    const otherClient = await submit(body, KEY_B);
    expect([first.statusCode, optedOut.statusCode, otherClient.statusCode]).toEqual([202, 202, 202]);
    expect(new Set([first.json.requestId, optedOut.json.requestId, otherClient.json.requestId]).size).toBe(3);
    expect(await service.queueDepth()).toBe(9);
    // The duplicate answer keeps pointing at the original once it has finished.
    service.deliver(service.queueUrl, service.queueArn, workerFn(), { concurrency: 4 });
    await waitForFinal(first.json.requestId, 60_000, KEY_A);
    expect((await submit(body, KEY_A)).json).toMatchObject({
      requestId: first.json.requestId,
      status: 'completed',
      duplicate: true,
    });
  });

  it('a create that fails after its claim (S3 down) releases it: the retry is a new job, not a duplicate of nothing', async () => {
    const body = { contacts: makeContacts(150), fields_to_enrich: FIELDS };
    const broken = makeCreate(() => {
      const deps = createDeps(as('createEnrichment'));
      return { ...deps, store: { ...deps.store, upload: async () => Promise.reject(new Error('S3 is down')) } };
    });
    const failed = await broken(apiEvent({ body: JSON.stringify(body), headers: KEY_A }));
    expect(failed.statusCode).toBe(500);
    const retry = await submit(body, KEY_A);
    expect(retry.statusCode).toBe(202);
    expect(retry.json.duplicate).toBeUndefined();
    expect(await service.queueDepth()).toBe(2);
  });
});
