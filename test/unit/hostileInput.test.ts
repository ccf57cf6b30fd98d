import { createEnrichment, type CreateDeps } from '../../src/core/createEnrichment';
import { ValidationError } from '../../src/core/errors';
import { runIntake } from '../../src/core/intake';
import { reconcileRequest, type ReconcileDeps } from '../../src/core/reconcile';
import { SQS_BATCH_MAX_BYTES, groupForSendBatch } from '../../src/core/batching';
import { TRACE_ATTRIBUTE_RESERVE_BYTES } from '../../src/adapters/sqs';
import { handler as createHandler } from '../../src/handlers/createEnrichment';
import { parseJsonBody, requireJsonBody } from '../../src/handlers/http';
import { handler as mockHandler } from '../../src/handlers/mockEnrich';
import { ContactSchema, MAX_CONTACT_BYTES } from '../../src/schemas/contact';
import { BatchMessageSchema, encodedLongerThan, encodeMessageBody, type BatchMessage } from '../../src/schemas/message';
import { RequestIdSchema } from '../../src/schemas/request';
import { MAX_PROPERTY_DEPTH } from '../../src/schemas/text';
import { apiEvent, makeContacts } from '../support/factories';
import { awsMocks } from '../support/awsMocks';
import {
  FakeEnrichmentApi,
  intakeDepsFor,
  ManualClock,
  MemoryIntakeQueue,
  MemoryObjectStore,
  MemoryQueue,
  MemoryStatusStore,
  recordingLogger,
  type Journal,
} from '../support/fakes';

const ID = '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
const contact = (extra: Record<string, unknown> = {}) => ({
  first_name: 'Ada',
  last_name: 'Lovelace',
  company_domain: 'example.com',
  ...extra,
});
/** `[[[…]]]` nested `levels` deep, as text (JSON.parse reads any depth; JSON.stringify of it overflows the stack). */
const deepText = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const deep = (levels: number) => JSON.parse(deepText(levels));

function setup(overrides: Partial<CreateDeps> = {}) {
  const journal: Journal = [];
  const store = new MemoryObjectStore(journal);
  const status = new MemoryStatusStore(journal);
  const queue = new MemoryQueue(journal);
  const deps: CreateDeps = {
    store,
    status,
    queue,
    clock: new ManualClock(),
    log: recordingLogger(),
    intakeQueue: new MemoryIntakeQueue(journal),
    bucket: 'unit-bucket',
    batchSize: 100,
    deadlineSeconds: 3600,
    ttlDays: 30,
    newId: () => ID,
    ...overrides,
  };
  return { deps, store, status, queue, journal };
}

async function rejected(body: unknown, deps: CreateDeps): Promise<ValidationError> {
  const err = await createEnrichment(body, deps).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

describe('characters', () => {
  const unicode = [
    contact({ first_name: 'Zoë 😀', last_name: '𠮷田' }),
    contact({ first_name: 'Ελένη', last_name: '山田', note: 'تجربة 🎉 \t tab\nline' }),
  ];

  it('accepts emoji, CJK outside the BMP and other scripts, unchanged', () => {
    for (const c of unicode) expect(ContactSchema.parse(c)).toEqual(c);
  });

  it('sends message bodies ASCII-safe, and the consumer reads them back unchanged', () => {
    const message: BatchMessage = { requestId: ID, batchIndex: 0, fields: ['professional_email'], contacts: unicode };
    const body = encodeMessageBody(message);
    expect(body).toMatch(/^[\x20-\x7e]*$/);
    expect(body).toContain('\\ud83d\\ude00');
    expect(BatchMessageSchema.parse(JSON.parse(body))).toEqual(message);
  });

  const refused: Array<[string, string]> = [
    ['U+FFFF', 'Ada\uffff'],
    ['U+FFFE', '\ufffeAda'],
    ['U+FDD0 (a noncharacter)', 'A\ufdd0'],
    ['U+1FFFF (a noncharacter outside the BMP)', 'A\u{1ffff}'],
    ['a lone high surrogate', 'Ada\ud83d'],
    ['a lone low surrogate', '\ude00Ada'],
    ['NUL', 'A\u0000da'],
    ['ESC', 'A\u001bda'],
    ['DEL', 'A\u007f'],
    ['a C1 control', 'A\u0085'],
  ];

  it.each(refused)('rejects %s with a 400 naming the path, before anything is written', async (_name, text) => {
    const { deps, journal } = setup();
    const contacts = [...makeContacts(3), contact({ first_name: text })];
    const err = await rejected({ contacts, fields_to_enrich: ['professional_email'] }, deps);
    expect(err.errors).toEqual([
      { path: 'contacts[3].first_name', message: expect.stringMatching(/cannot be stored or sent/) },
    ]);
    expect(journal).toEqual([]);
  });

  it('checks extra properties at any depth, and property names', async () => {
    const { deps, journal } = setup();
    const contacts = [contact({ tags: ['ok', { label: 'x\uffff' }] }), contact({ 'odd\u0001key': 1 })];
    const err = await rejected({ contacts, fields_to_enrich: ['professional_email'] }, deps);
    expect(err.errors.map((e) => e.path)).toEqual(['contacts[0].tags[1].label', 'contacts[1]["odd\\u0001key"]']);
    expect(err.errors[1].message).toMatch(/property name contains U\+0001/);
    expect(journal).toEqual([]);
  });

  it.each([
    ['zero-width space', '\u200b'],
    ['zero-width joiners and a BOM', '\u200d\u200c\ufeff'],
    ['spaces and a word joiner', ' \u2060 \u3000'],
    ['a Hangul filler', '\u3164'],
  ])('rejects a name made only of invisible characters (%s)', async (_name, text) => {
    const { deps, journal } = setup();
    const err = await rejected(
      { contacts: [contact({ last_name: text })], fields_to_enrich: ['professional_email'] },
      deps,
    );
    expect(err.errors.map((e) => e.path)).toEqual(['contacts[0].last_name']);
    expect(journal).toEqual([]);
  });

  it('keeps a name with invisible characters next to visible ones', () => {
    expect(ContactSchema.safeParse(contact({ first_name: 'Ada\u200b' })).success).toBe(true);
  });
});

describe('sizes, measured as sent', () => {
  it('counts a non-ASCII character as its escape in the 2 KB contact limit', async () => {
    // 200 emoji: 800 bytes of UTF-8, 2,400 as sent.
    const { deps, journal } = setup();
    const err = await rejected(
      { contacts: [contact({ note: '😀'.repeat(200) })], fields_to_enrich: ['professional_email'] },
      deps,
    );
    expect(err.errors[0].path).toBe('contacts[0]');
    expect(journal).toEqual([]);
  });

  it('encodedLongerThan (the size check, which skips escaping a short text) agrees with the encoded length', () => {
    const notes = [
      ...Array.from({ length: 400 }, (_, k) => 'é'.repeat(k)),
      ...Array.from({ length: 200 }, (_, k) => '😀'.repeat(k)),
      ...Array.from({ length: 2100 }, (_, k) => 'a'.repeat(k)),
    ];
    // In a contact, and alone: a text all of whose characters escape is where the bound is tight.
    for (const value of notes.flatMap((note) => [contact({ note }), note])) {
      expect([value, encodedLongerThan(value, MAX_CONTACT_BYTES)]).toEqual([
        value,
        encodeMessageBody(value).length > MAX_CONTACT_BYTES,
      ]);
    }
  });

  it('fits 100 contacts at the limit, all emoji, in one SQS message and one SendMessageBatch call', async () => {
    const base = encodeMessageBody(contact({ note: '' })).length;
    const full = contact({ note: '😀'.repeat(Math.floor((MAX_CONTACT_BYTES - base) / 12)) });
    expect(encodeMessageBody(full).length).toBeLessThanOrEqual(MAX_CONTACT_BYTES);
    const { deps, queue } = setup();
    await createEnrichment(
      { contacts: Array.from({ length: 100 }, () => full), fields_to_enrich: ['professional_email', 'job_title'] },
      deps,
    );
    const body = encodeMessageBody(queue.sent[0]);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(SQS_BATCH_MAX_BYTES);
    expect(groupForSendBatch([body])).toEqual([[0]]);
    // With the room the adapter keeps for dd-trace's `_datadog` attribute too.
    expect(Buffer.byteLength(body) + TRACE_ATTRIBUTE_RESERVE_BYTES).toBeLessThanOrEqual(SQS_BATCH_MAX_BYTES);
    expect(groupForSendBatch([body], 10, SQS_BATCH_MAX_BYTES, TRACE_ATTRIBUTE_RESERVE_BYTES)).toEqual([[0]]);
  });
});

describe('depth', () => {
  it(`accepts extra properties nested ${MAX_PROPERTY_DEPTH} levels and rejects ${MAX_PROPERTY_DEPTH + 1}`, () => {
    expect(ContactSchema.safeParse(contact({ data: deep(MAX_PROPERTY_DEPTH) })).success).toBe(true);
    const parsed = ContactSchema.safeParse(contact({ data: deep(MAX_PROPERTY_DEPTH + 1) }));
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]).toMatchObject({
      path: ['data'],
      message: expect.stringMatching(/nested more than 32 levels/),
    });
  });

  it('answers 400, not a stack overflow, for 20,000 levels in an extra property', async () => {
    const { deps, journal } = setup();
    const err = await rejected(
      { contacts: [...makeContacts(2), contact({ data: deep(20_000) })], fields_to_enrich: ['professional_email'] },
      deps,
    );
    expect(err.errors).toEqual([{ path: 'contacts[2].data', message: expect.stringMatching(/nested more than/) }]);
    expect(journal).toEqual([]);
  });

  it('answers 400 for 20,000 levels in fields_to_enrich, naming no more than the type', async () => {
    const { deps, journal } = setup();
    const err = await rejected({ contacts: makeContacts(1), fields_to_enrich: deep(20_000) }, deps);
    expect(err.errors).toEqual([
      { path: 'fields_to_enrich[0]', message: expect.stringMatching(/^Unsupported field an array\./) },
    ]);
    expect(journal).toEqual([]);
  });

  it('rejects 20,000 levels in an uploaded file (its intake), naming the path, sending nothing', async () => {
    const { deps, store, status, queue } = setup();
    store.objects.set(
      'uploads/deep.json',
      `{"contacts":[{"first_name":"A","last_name":"B","company_domain":"a.com","x":${deepText(20_000)}}]}`,
    );
    await createEnrichment({ contacts: 'uploads/deep.json', fields_to_enrich: ['professional_email'] }, deps);
    expect(await runIntake(ID, intakeDepsFor(deps))).toBe('rejected');
    expect(status.only().errors!.map((e) => e.path)).toEqual(['contacts[0].x']);
    expect(queue.sent).toEqual([]);
  });

  it('answers 400 for 20,000 levels in the mock API body (contacts or fields)', async () => {
    for (const body of [
      `{"contacts":[{"first_name":"A","last_name":"B","company_domain":"a.com","x":${deepText(20_000)}}],"fields":["job_title"]}`,
      `{"contacts":[{"first_name":"A","last_name":"B","company_domain":"a.com"}],"fields":${deepText(20_000)}}`,
    ]) {
      const res = await mockHandler(apiEvent({ body }));
      expect(res.statusCode).toBe(400);
    }
  });
});

describe('S3 references', () => {
  it.each([
    ['a lone surrogate', 'uploads/x\ud800.json'],
    ['a control character', 'uploads/x\u0000.json'],
    ['U+FFFF', 's3://unit-bucket/uploads/\uffff.json'],
  ])('answers 400 for a key with %s', async (_name, ref) => {
    const { deps, journal } = setup();
    const err = await rejected({ contacts: ref, fields_to_enrich: ['professional_email'] }, deps);
    expect(err.errors).toEqual([{ path: 'contacts', message: expect.stringMatching(/the S3 reference contains/) }]);
    expect(journal).toEqual([]);
  });

  it("answers 400 for a key over S3's 1,024 bytes", async () => {
    const { deps } = setup();
    const err = await rejected(
      { contacts: `uploads/${'k'.repeat(1020)}`, fields_to_enrich: ['professional_email'] },
      deps,
    );
    expect(err.errors[0].message).toMatch(/at most 1024 bytes/);
  });

  it('rejects an uploaded file with "contacts" twice (a stream cannot let the last one win, as JSON.parse does inline)', async () => {
    const text =
      '{"contacts":[{"first_name":"First","last_name":"A","company_domain":"a.com"}],"contacts":[{"first_name":"Last","last_name":"B","company_domain":"b.com"}]}';
    const { deps, store, queue, status } = setup();
    store.objects.set('uploads/dup.json', text);
    await createEnrichment({ contacts: 'uploads/dup.json', fields_to_enrich: ['professional_email'] }, deps);
    expect(await runIntake(ID, intakeDepsFor(deps))).toBe('rejected');
    expect(status.only().errors).toEqual([
      { path: 'contacts', message: expect.stringMatching(/"contacts" is given twice/) },
    ]);
    expect(queue.sent).toEqual([]);
  });
});

describe('a failure after the first write', () => {
  it('answers 202 when the batch messages cannot be sent, and reconcile re-sends them from input.json', async () => {
    const failing = { send: jest.fn().mockRejectedValue(new Error('SQS unavailable')) };
    const { deps, store, status } = setup({ queue: failing });
    const contacts = makeContacts(250, { extra: (i) => ({ note: i === 7 ? 'Zoë 😀' : '𠮷田' }) });
    const result = await createEnrichment({ contacts, fields_to_enrich: ['professional_email'] }, deps);
    expect(result).toEqual({ requestId: ID, totalContacts: 250, totalBatches: 3 });
    expect(status.only().status).toBe('processing');

    const queue = new MemoryQueue();
    const clock = new ManualClock();
    const reconcileDeps = {
      store,
      status,
      queue,
      clock,
      log: recordingLogger(),
      batchSize: 100,
      stallSeconds: 300,
      api: new FakeEnrichmentApi(),
    } as unknown as ReconcileDeps;
    clock.advance(301_000);
    const report = await reconcileRequest(status.only(), reconcileDeps);
    expect(report.resentBatches).toEqual([0, 1, 2]);
    expect(queue.sent.flatMap((m) => m.contacts)).toEqual(contacts);
  });
});

describe('HTTP edge of POST /enrichment', () => {
  const aws = awsMocks();
  beforeEach(() => aws.reset());
  afterAll(() => aws.restore());
  const body = JSON.stringify({ contacts: makeContacts(1), fields_to_enrich: ['professional_email'] });

  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON;charset="UTF-8"',
    'application/vnd.api+json',
  ])('accepts content-type %s', (type) =>
    expect(() => requireJsonBody({ headers: { 'Content-Type': type } })).not.toThrow(),
  );

  it('accepts a request without a content-type (read as JSON)', () => {
    expect(() => requireJsonBody({ headers: {} })).not.toThrow();
  });

  it.each([
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=latin1',
    'application/jsonp',
  ])('answers 415 for content-type %s, writing nothing', async (type) => {
    const res = await createHandler(apiEvent({ body, headers: { 'content-type': type } }));
    expect(res.statusCode).toBe(415);
    expect(JSON.parse(res.body).message).toMatch(/application\/json/);
    expect(aws.s3.calls()).toHaveLength(0);
    expect(aws.sqs.calls()).toHaveLength(0);
  });

  it('refuses a gzip body with 415 and echoes none of its bytes', async () => {
    const gz = require('node:zlib').gzipSync(body).toString('binary');
    const res = await createHandler(
      apiEvent({ body: gz, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } }),
    );
    expect(res.statusCode).toBe(415);
    expect(JSON.parse(res.body).message).toMatch(/Content-Encoding "gzip" is not supported/);
    expect(res.body).toMatch(/^[\x20-\x7e]*$/);
  });

  it('never echoes raw bytes or more than 100 characters of a body that is not JSON', () => {
    const err = (() => {
      try {
        parseJsonBody({ body: `\x1f\x8b\x08\u0000${'\u00ff'.repeat(500)}`, isBase64Encoded: false });
      } catch (e) {
        return e as ValidationError;
      }
    })()!;
    expect(err.message).toMatch(/^Request body is not valid JSON: /);
    expect(err.message).toMatch(/^[\x20-\x7e]*$/);
  });
});

describe('POST /enrichment: a body that is not UTF-8 is a 400 naming where, never enriched under a corrupted name', () => {
  const aws = awsMocks();
  beforeEach(() => aws.reset());
  afterAll(() => aws.restore());
  const prefix = '{"fields_to_enrich":["professional_email"],"contacts":[{"first_name":"Jos';
  const latin1 = Buffer.concat([
    Buffer.from(prefix),
    Buffer.from([0xe9]),
    Buffer.from('","last_name":"L","company_domain":"a.com"}]}'),
  ]);

  it('base64 (as API Gateway passes a binary body): decoded strictly, the byte and its offset named', async () => {
    const res = await createHandler(apiEvent({ body: latin1.toString('base64'), isBase64Encoded: true }));
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({
      message: `Request body is not UTF-8: byte 0xE9 at byte offset ${prefix.length}; send it as UTF-8`,
      errors: [{ path: '(body)' }],
    });
    expect(aws.s3.calls()).toHaveLength(0);
  });

  it('text (as API Gateway passes a JSON body, the bad bytes already replaced by U+FFFD): the offset of the first', async () => {
    const asGiven = latin1.toString('utf8'); // what API Gateway (and serverless-offline) hand the function
    expect(asGiven).toContain('Jos\ufffd');
    const res = await createHandler(apiEvent({ body: asGiven }));
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).message).toBe(
      `Request body is not UTF-8: byte offset ${prefix.length} holds U+FFFD, what API Gateway puts for bytes that are not UTF-8; send the body as UTF-8 (a U+FFFD meant as such can be sent escaped, as \\ufffd)`,
    );
    expect(aws.s3.calls()).toHaveLength(0);
  });

  it('U+FFFD sent escaped, or as its UTF-8 bytes in a base64 body, is a character like any other', () => {
    const text = `${prefix}\\ufffd"}]}`;
    expect(parseJsonBody({ body: text, isBase64Encoded: false }, { refuseReplacementChar: true })).toMatchObject({
      contacts: [{ first_name: 'Jos\ufffd' }],
    });
    const bytes = Buffer.from(`${prefix}\ufffd"}]}`).toString('base64');
    expect(parseJsonBody({ body: bytes, isBase64Encoded: true }, { refuseReplacementChar: true })).toMatchObject({
      contacts: [{ first_name: 'Jos\ufffd' }],
    });
  });
});

describe('echoed input stays short', () => {
  const long = 'Q'.repeat(5_000);
  it.each<[string, unknown]>([
    ['an unknown field', { contacts: makeContacts(1), fields_to_enrich: [long] }],
    ['a property name', { contacts: [contact({ [`${long}\u0001`]: 1 })], fields_to_enrich: ['professional_email'] }],
    ['a missing upload', { contacts: `uploads/${long}`.slice(0, 1000), fields_to_enrich: ['professional_email'] }],
  ])('in the answer to %s', async (_name, body) => {
    const { deps } = setup();
    const err = await rejected(body, deps);
    const text = JSON.stringify({ message: err.message, errors: err.errors });
    expect(text).not.toMatch(/Q{101}/);
  });
});

describe('request ids and __proto__', () => {
  it('reads an uppercase UUID as the lowercase id', () => {
    expect(RequestIdSchema.parse(ID.toUpperCase())).toBe(ID);
  });

  it('drops a __proto__ key of a contact and leaves its prototype alone', () => {
    const parsed = ContactSchema.parse(
      JSON.parse('{"first_name":"A","last_name":"B","company_domain":"a.com","__proto__":{"polluted":1},"kept":2}'),
    );
    expect(Object.keys(parsed)).toEqual(['first_name', 'last_name', 'company_domain', 'kept']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect((parsed as Record<string, unknown>).polluted).toBeUndefined();
  });
});
