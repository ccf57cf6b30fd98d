import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { FaultHooks } from '../../src/core/ports';
import { INTAKE_DLQ_MESSAGE } from '../../src/handlers/handleFailedIntake';
import type { Contact } from '../../src/schemas/contact';
import { apiEvent, makeContacts } from '../support/factories';
import {
  crashAt,
  drainedDepth,
  reconcileWith,
  sleep,
  takeAllBatchMessages,
  runIntakeSource,
  runPipeline,
  sendRaw,
  startFaultService,
  statusRecord,
  waitForRecord,
  type SqsHandler,
} from '../support/faults';
import { readOutput, status, submit, waitForFinal } from '../support/flow';
import { downloadFn, intakeDlqFn, intakeFn } from '../support/functions';
import { intakeDeps } from '../../src/handlers/wiring';
import { as, type TestService } from '../support/service';
import { expectedRows, expectOutput } from '../support/output';

const FIELDS = ['professional_email', 'job_title'] as const;
/** A few thousand contacts: 30 batches, sent in groups of 5 batches, checkpoints every 500 contacts. */
const N = 3_000;
const SMALL_STEPS = { checkpointEvery: 500, sendGroupBatches: 5 };

const csvOf = (contacts: Contact[]) =>
  `first_name,last_name,company_domain,crm_id\r\n${contacts.map((c, i) => `${c.first_name},"${c.last_name}",${c.company_domain},crm-${i}`).join('\r\n')}\r\n`;
const ndjsonOf = (contacts: Contact[]) => `${contacts.map((c) => JSON.stringify(c)).join('\n')}\n`;

async function upload(service: TestService, key: string, body: string, contentType?: string): Promise<string> {
  await service.s3.send(
    new PutObjectCommand({ Bucket: service.bucket, Key: key, Body: body, ContentType: contentType }),
  );
  return `s3://${service.bucket}/${key}`;
}

/** Counts intake invocations. */
function counting(handler: SqsHandler): { handler: SqsHandler; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    handler: (event, context) => {
      calls += 1;
      return handler(event, context);
    },
  };
}

describe('asynchronous intake of an upload (fauxqs + dynalite, each function with its own role)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startFaultService();
  });
  afterEach(() => service.close());

  it.each([
    ['json', 'uploads/in.json', undefined],
    ['ndjson', 'uploads/in.data', 'application/x-ndjson'],
    ['csv', 'uploads/in.csv', undefined],
  ] as const)(
    '%s: 202 validating at once, then validating → processing → completed, every contact once in input order',
    async (format, key, type) => {
      const contacts = makeContacts(N);
      const body =
        format === 'json' ? JSON.stringify({ contacts }) : format === 'ndjson' ? ndjsonOf(contacts) : csvOf(contacts);
      const res = await submit({ contacts: await upload(service, key, body, type), fields_to_enrich: FIELDS });
      expect(res.statusCode).toBe(202);
      expect(res.json).toEqual({
        message: expect.any(String),
        requestId: expect.any(String),
        downloadUrl: expect.any(String),
        status: 'validating',
      });
      const { requestId } = res.json;
      const first = await status(requestId);
      expect(first.status).toBe('validating');
      expect(first).not.toHaveProperty('totalContacts');
      expect((await downloadFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: requestId } }))).statusCode).toBe(
        409,
      );
      expect(await service.queueDepth()).toBe(0);

      // The intake alone: the request reaches processing with its totals, every batch queued (none counted yet at
      // the move, so no duplicate of the last one).
      runIntakeSource(service, { intake: intakeFn(SMALL_STEPS) });
      const processing = await waitForRecord(requestId, (r) => r.status !== 'validating');
      expect(processing).toMatchObject({
        status: 'processing',
        totalContacts: N,
        totalBatches: 30,
        inputFileKey: key,
        inputFormat: format,
      });
      expect(processing.intake).toBeUndefined();
      expect(await service.queueDepth()).toBe(30);

      runPipeline(service, { concurrency: 4 });
      expect(await waitForFinal(requestId, 60_000)).toMatchObject({
        status: 'completed',
        totalContacts: N,
        totalBatches: 30,
        processedBatches: 30,
        failedBatches: 0,
      });
      const extra = format === 'csv' ? (i: number) => ({ crm_id: `crm-${i}` }) : () => ({});
      expectOutput(
        await readOutput(service, requestId),
        expectedRows(
          contacts.map((c, i) => ({ ...c, ...extra(i) })),
          [...FIELDS],
        ),
      );
      expect(await service.getObjectText(`${requestId}/input.json`)).toBeUndefined();
    },
    90_000,
  );

  it('one bad domain at a far row: rejected with that path, no batch sent, no output', async () => {
    const contacts: Contact[] = makeContacts(N);
    contacts[2_777] = { ...contacts[2_777], company_domain: 'not a domain' };
    const res = await submit({
      contacts: await upload(service, 'uploads/bad.ndjson', ndjsonOf(contacts)),
      fields_to_enrich: FIELDS,
    });
    expect(res.statusCode).toBe(202);
    runIntakeSource(service, { intake: intakeFn(SMALL_STEPS) });
    const final = await waitForFinal(res.json.requestId, 30_000);
    expect(final).toMatchObject({
      status: 'rejected',
      errors: [{ path: 'contacts[2777].company_domain', message: expect.stringMatching(/domain/) }],
    });
    expect(await service.queueDepth()).toBe(0);
    expect(await service.listKeys(`${res.json.requestId}/`)).toEqual([]);
    const download = await downloadFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: res.json.requestId } }));
    expect(download.statusCode).toBe(409);
    expect(JSON.parse(download.body).message).toMatch(/rejected/);
  }, 60_000);

  it('keeps the first 50 errors, in file order, and a parse error names its line', async () => {
    const contacts: Contact[] = makeContacts(N);
    for (let i = 100; i < 2_100; i += 20) contacts[i] = { ...contacts[i], first_name: '' };
    const many = await submit({
      contacts: await upload(service, 'uploads/many.json', JSON.stringify({ contacts })),
      fields_to_enrich: FIELDS,
    });
    const broken = await submit({
      contacts: await upload(service, 'uploads/broken.ndjson', `${ndjsonOf(contacts.slice(0, 10))}{"first_name": \n`),
      fields_to_enrich: FIELDS,
    });
    runIntakeSource(service, { intake: intakeFn(SMALL_STEPS) });
    const manyFinal = await waitForFinal(many.json.requestId, 30_000);
    expect(manyFinal.errors).toHaveLength(50);
    expect(manyFinal.errors!.map((e) => e.path)).toEqual(
      Array.from({ length: 50 }, (_, k) => `contacts[${100 + 20 * k}].first_name`),
    );
    const brokenFinal = await waitForFinal(broken.json.requestId, 30_000);
    expect(brokenFinal).toMatchObject({
      status: 'rejected',
      errors: [{ path: 'contacts', message: expect.stringContaining('line 11, contacts[10]') }],
    });
  }, 60_000);

  it('a stray quote in an unquoted CSV cell: rejected by the first intake run, naming the line, not dead-lettered', async () => {
    const csv = 'first_name,last_name,company_domain,note\nAda,Lovelace,a.com,ok\nTV,Set,b.com,5" screen\n';
    const res = await submit({
      contacts: await upload(service, 'uploads/quote.csv', csv),
      fields_to_enrich: FIELDS,
    });
    const intake = counting(intakeFn());
    runIntakeSource(service, { intake: intake.handler });
    const dlq = service.resources.queues.IntakeDeadLetterQueue;
    service.deliver(dlq.url, dlq.arn, intakeDlqFn(), { functionKey: 'handleFailedIntake', concurrency: 1 });
    const started = Date.now();
    const final = await waitForFinal(res.json.requestId, 30_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(final).toMatchObject({
      status: 'rejected',
      errors: [
        {
          path: 'contacts',
          message: expect.stringMatching(
            /not valid csv: .*double quote.*\(column "note".*RFC 4180.*\(at line 3, contacts\[1\]\)$/,
          ),
        },
      ],
    });
    expect(intake.calls()).toBe(1);
    expect(await drainedDepth(service, dlq.url)).toBe(0);
  }, 60_000);

  it('Latin-1 bytes in a JSON or CSV upload: rejected naming the byte, its offset, the line and the contact', async () => {
    const latin1 = (text: string) => Buffer.from(text, 'latin1'); // é as the single byte 0xE9
    const json = latin1(
      '{"contacts":[{"first_name":"Ada","last_name":"L","company_domain":"a.com"},\n{"first_name":"José","last_name":"L","company_domain":"b.com"}]}',
    );
    const csv = latin1('first_name,last_name,company_domain\nAda,L,a.com\nJosé,L,b.com\n');
    const requests = [];
    for (const [key, body] of [
      ['uploads/latin1.json', json],
      ['uploads/latin1.csv', csv],
    ] as const) {
      await service.s3.send(new PutObjectCommand({ Bucket: service.bucket, Key: key, Body: body }));
      requests.push(await submit({ contacts: `s3://${service.bucket}/${key}`, fields_to_enrich: FIELDS }));
    }
    runIntakeSource(service, { intake: intakeFn() });
    const [jsonFinal, csvFinal] = await Promise.all(requests.map((r) => waitForFinal(r.json.requestId, 30_000)));
    expect(jsonFinal).toMatchObject({
      status: 'rejected',
      errors: [
        {
          path: 'contacts',
          message: `the upload is not valid json: not UTF-8: byte 0xE9 at byte offset ${json.indexOf(0xe9)}; save the file as UTF-8 (at line 2, contacts[1])`,
        },
      ],
    });
    expect(csvFinal).toMatchObject({
      status: 'rejected',
      errors: [
        {
          path: 'contacts',
          message: `the upload is not valid csv: not UTF-8: byte 0xE9 at byte offset ${csv.indexOf(0xe9)}; save the file as UTF-8 (at line 3, contacts[1])`,
        },
      ],
    });
  }, 60_000);

  it.each([
    ['within hold: pass 2 sends what pass 1 held, the upload read once', 0, 0, 1],
    ['more contacts than hold.contacts: pass 2 reads the upload again', -1, 0, 2],
    ['larger than hold.uploadBytes: pass 2 reads the upload again', 0, -1, 2],
  ])(
    '%s; the same batch messages either way',
    async (_, moreContacts, moreBytes, reads) => {
      const key = 'uploads/held.csv';
      const contacts = makeContacts(N).map((c) => ({ ...c, first_name: ` ${c.first_name} ` })); // trimmed in both
      const text = csvOf(contacts);
      const res = await submit({ contacts: await upload(service, key, text), fields_to_enrich: FIELDS });
      const store = intakeDeps(as('intake')).store;
      let opened = 0;
      const counted = {
        ...store,
        getStream: (k: string) => {
          if (k === key) opened += 1;
          return store.getStream(k);
        },
      };
      const hold = { contacts: N + moreContacts, uploadBytes: Buffer.byteLength(text) + moreBytes };
      runIntakeSource(service, { intake: intakeFn({ ...SMALL_STEPS, hold, store: counted }) });
      await waitForRecord(res.json.requestId, (r) => r.status !== 'validating');
      expect(opened).toBe(reads);
      const messages = await takeAllBatchMessages(service);
      expect(messages).toEqual(
        Array.from({ length: 30 }, (_, b) => ({
          requestId: res.json.requestId,
          batchIndex: b,
          fields: [...FIELDS],
          contacts: contacts.slice(b * 100, b * 100 + 100).map((c, i) => ({
            ...c,
            first_name: c.first_name.trim(),
            crm_id: `crm-${b * 100 + i}`,
          })),
        })),
      );
    },
    60_000,
  );

  it('out of time: saves its checkpoint, queues its continuation, and goes on until done', async () => {
    const contacts = makeContacts(N);
    const res = await submit({
      contacts: await upload(service, 'uploads/slow.json', JSON.stringify({ contacts })),
      fields_to_enrich: FIELDS,
    });
    // Each invocation has 10.001 s and keeps 10 s back: it is out of time at its first checkpoint, whatever the
    // machine's speed (with 150 ms to spare, a fast run took in all 3,000 contacts in one invocation).
    const intake = counting(intakeFn({ ...SMALL_STEPS, timeReserveMs: 10_000 }));
    runIntakeSource(service, { intake: intake.handler, timeoutMs: 10_001 });
    await waitForRecord(res.json.requestId, (r) => r.status !== 'validating', 60_000);
    // One checkpoint per invocation at least: 6 steps of 500 contacts to validate, 6 groups of 5 batches to send.
    expect(intake.calls()).toBeGreaterThanOrEqual(12);
    runPipeline(service, { concurrency: 4 });
    expect(await waitForFinal(res.json.requestId, 60_000)).toMatchObject({ status: 'completed', processedBatches: 30 });
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
  }, 90_000);

  it('an intake that keeps failing reaches its dead-letter queue, whose handler ends the request rejected with the reason', async () => {
    const contacts = makeContacts(200);
    const res = await submit({
      contacts: await upload(service, 'uploads/doomed.json', JSON.stringify({ contacts })),
      fields_to_enrich: FIELDS,
    });
    // A crash at a point every run reaches (a checkpoint moves a redelivery past the earlier ones).
    runIntakeSource(service, {
      intake: intakeFn({ faults: crashAt('intake:before-processing', { times: Infinity }) }),
    });
    const dlq = service.resources.queues.IntakeDeadLetterQueue;
    service.deliver(dlq.url, dlq.arn, intakeDlqFn(), { functionKey: 'handleFailedIntake', concurrency: 1 });
    const final = await waitForFinal(res.json.requestId, 30_000);
    expect(final).toMatchObject({ status: 'rejected', errors: [{ path: 'contacts', message: INTAKE_DLQ_MESSAGE }] });
    expect(await drainedDepth(service, dlq.url)).toBe(0);
  }, 60_000);

  it('an upload removed before its intake ends rejected, and malformed intake messages are dropped', async () => {
    const uri = await upload(service, 'uploads/gone.json', JSON.stringify({ contacts: makeContacts(10) }));
    const res = await submit({ contacts: uri, fields_to_enrich: FIELDS });
    await service.s3.send(new DeleteObjectCommand({ Bucket: service.bucket, Key: 'uploads/gone.json' }));
    await sendRaw(service, 'not json', service.resources.queues.IntakeQueue.url);
    runIntakeSource(service);
    expect(await waitForFinal(res.json.requestId, 30_000)).toMatchObject({
      status: 'rejected',
      errors: [{ path: 'contacts', message: expect.stringMatching(/gone/) }],
    });
    expect(await drainedDepth(service, service.resources.queues.IntakeQueue.url)).toBe(0);
  }, 60_000);
});

describe('reconcile of a referenced request reads the upload itself, in its format (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startFaultService({ RECONCILE_STALL_SECONDS: '1' });
  });
  afterEach(() => service.close());

  it('the lost batch messages of a CSV upload are re-sent from the CSV file; no input.json exists', async () => {
    const contacts = makeContacts(1_000);
    const csv = `first_name,last_name,company_domain\n${contacts.map((c) => `${c.first_name},${c.last_name},${c.company_domain}`).join('\n')}\n`;
    const res = await submit({ contacts: await upload(service, 'uploads/lost.csv', csv), fields_to_enrich: FIELDS });
    const source = runIntakeSource(service);
    await waitForRecord(res.json.requestId, (r) => r.status === 'processing');
    await source.stop();
    // Every batch message lost: only reconcile can bring them back, and it has only the CSV upload to read.
    expect(await takeAllBatchMessages(service)).toHaveLength(10);
    await sleep(1_200);
    const report = (await reconcileWith()()).reconciled;
    expect(report).toEqual([
      expect.objectContaining({
        requestId: res.json.requestId,
        action: 'resent',
        resentBatches: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      }),
    ]);
    runPipeline(service, { concurrency: 4 });
    expect(await waitForFinal(res.json.requestId, 30_000)).toMatchObject({ status: 'completed', processedBatches: 10 });
    expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
    expect(await service.getObjectText(`${res.json.requestId}/input.json`)).toBeUndefined();
  }, 60_000);
});

describe('a crash at each intake step, then redelivery from the checkpoint: every contact exactly once (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startFaultService();
  });
  afterEach(() => service.close());

  it.each(['intake:after-validation', 'intake:midway-sending', 'intake:before-processing'])(
    'crashes once at %s',
    async (point) => {
      const contacts = makeContacts(N, { extra: true });
      const res = await submit({
        contacts: await upload(service, 'uploads/crash.json', JSON.stringify({ contacts })),
        fields_to_enrich: FIELDS,
      });
      const hook = crashAt(point);
      const faults: FaultHooks = hook;
      runIntakeSource(service, { intake: intakeFn({ ...SMALL_STEPS, faults }) });
      runPipeline(service, { concurrency: 4 });
      const final = await waitForFinal(res.json.requestId, 60_000);
      expect(hook.crashes).toBe(1);
      expect(final).toMatchObject({
        status: 'completed',
        totalContacts: N,
        totalBatches: 30,
        processedBatches: 30,
        failedBatches: 0,
      });
      expect([...((await statusRecord(res.json.requestId)).doneBatches ?? [])].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 30 }, (_, i) => i),
      );
      expectOutput(await readOutput(service, res.json.requestId), expectedRows(contacts, [...FIELDS]));
      expect(await drainedDepth(service, service.dlqUrl)).toBe(0);
    },
    90_000,
  );
});
