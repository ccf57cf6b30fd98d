import { createEnrichment, type CreateDeps } from '../../../src/core/createEnrichment';
import { ValidationError } from '../../../src/core/errors';
import { renderInput } from '../../../src/core/inputFile';
import type { EnrichField } from '../../../src/schemas/contact';
import { runIntake } from '../../../src/core/intake';
import {
  intakeDepsFor,
  ManualClock,
  MemoryIntakeQueue,
  MemoryObjectStore,
  MemoryQueue,
  MemoryStatusStore,
  recordingLogger,
  type Journal,
} from '../../support/fakes';
import { makeContacts } from '../../support/factories';

const ID = '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f';

function setup(overrides: Partial<CreateDeps> = {}) {
  const journal: Journal = [];
  const store = new MemoryObjectStore(journal);
  const status = new MemoryStatusStore(journal);
  const queue = new MemoryQueue(journal);
  const clock = new ManualClock(new Date('2024-05-01T12:00:00.000Z'));
  const log = recordingLogger();
  const deps: CreateDeps = {
    store,
    status,
    queue,
    clock,
    log,
    intakeQueue: new MemoryIntakeQueue(journal),
    bucket: 'unit-bucket',
    batchSize: 100,
    deadlineSeconds: 3600,
    ttlDays: 30,
    newId: () => ID,
    ...overrides,
  };
  return { deps, store, status, queue, log, journal };
}

async function rejection(p: Promise<unknown>): Promise<ValidationError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('createEnrichment: validation writes nothing', () => {
  const good = () => makeContacts(3);
  const cases: Array<[string, unknown, string | undefined]> = [
    ['a non-object body', [1, 2], undefined],
    ['a null body', null, undefined],
    ['missing contacts', { fields_to_enrich: ['professional_email'] }, 'contacts'],
    ['contacts of the wrong type', { contacts: 7, fields_to_enrich: ['professional_email'] }, 'contacts'],
    ['an empty contact list', { contacts: [], fields_to_enrich: ['professional_email'] }, 'contacts'],
    ['missing fields', { contacts: good() }, 'fields_to_enrich'],
    ['empty fields', { contacts: good(), fields_to_enrich: [] }, 'fields_to_enrich'],
    [
      'an unknown field',
      { contacts: good(), fields_to_enrich: ['professional_email', 'shoe_size'] },
      'fields_to_enrich[1]',
    ],
    [
      'a bad domain at index 17',
      {
        contacts: [...makeContacts(17), { first_name: 'A', last_name: 'B', company_domain: 'not a domain' }],
        fields_to_enrich: ['personal_phone'],
      },
      'contacts[17].company_domain',
    ],
    [
      'an empty name',
      {
        contacts: [{ first_name: ' ', last_name: 'B', company_domain: 'a.com' }],
        fields_to_enrich: ['personal_phone'],
      },
      'contacts[0].first_name',
    ],
    [
      'an oversized contact',
      {
        contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'a.com', notes: 'x'.repeat(3000) }],
        fields_to_enrich: ['personal_phone'],
      },
      'contacts[0]',
    ],
    [
      'an S3 reference to another bucket',
      { contacts: 's3://other-bucket/uploads/x.json', fields_to_enrich: ['personal_phone'] },
      'contacts',
    ],
    [
      'an S3 reference outside uploads/',
      { contacts: 's3://unit-bucket/private/x.json', fields_to_enrich: ['personal_phone'] },
      'contacts',
    ],
    [
      'an S3 reference to a missing object',
      { contacts: 'uploads/missing.json', fields_to_enrich: ['personal_phone'] },
      'contacts',
    ],
    [
      'an S3 reference with bad fields',
      { contacts: 'uploads/x.json', fields_to_enrich: ['nope'] },
      'fields_to_enrich[0]',
    ],
    [
      'metadata of 17 pairs',
      {
        contacts: good(),
        fields_to_enrich: ['job_title'],
        metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])),
      },
      'metadata',
    ],
    [
      'a metadata key over 64 characters',
      { contacts: good(), fields_to_enrich: ['job_title'], metadata: { ['k'.repeat(65)]: 'v' } },
      `metadata.${'k'.repeat(65)}`,
    ],
    [
      'a metadata value over 512 characters',
      { contacts: good(), fields_to_enrich: ['job_title'], metadata: { note: 'v'.repeat(513) } },
      'metadata.note',
    ],
    [
      'a metadata value not a string',
      { contacts: good(), fields_to_enrich: ['job_title'], metadata: { count: 3 } },
      'metadata.count',
    ],
    [
      'metadata on an S3 reference, not an object',
      { contacts: 'uploads/x.json', fields_to_enrich: ['job_title'], metadata: ['a'] },
      'metadata',
    ],
  ];

  it.each(cases)('rejects %s', async (_name, body, path) => {
    const { deps, store, status, queue, journal } = setup();
    const err = await rejection(createEnrichment(body, deps));
    if (path) expect(err.errors.map((e) => e.path)).toContain(path);
    expect(store.objects.size).toBe(0);
    expect(status.records.size).toBe(0);
    expect(queue.sent).toHaveLength(0);
    expect(journal).toEqual([]);
  });

  it('reports errors for contacts and fields together', async () => {
    const { deps } = setup();
    const err = await rejection(
      createEnrichment(
        { contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'nope' }], fields_to_enrich: ['x'] },
        deps,
      ),
    );
    expect(err.errors.map((e) => e.path).sort()).toEqual(['contacts[0].company_domain', 'fields_to_enrich[0]']);
  });

  it('names the supported fields for an unknown one', async () => {
    const { deps } = setup();
    const err = await rejection(createEnrichment({ contacts: makeContacts(1), fields_to_enrich: ['shoe_size'] }, deps));
    expect(err.errors[0].message).toMatch(/professional_email, personal_phone, job_title, linkedin_url/);
  });

  it('caps the reported errors at 50', async () => {
    const { deps } = setup();
    const contacts = Array.from({ length: 120 }, () => ({ first_name: 'A', last_name: 'B', company_domain: 'nope' }));
    const err = await rejection(createEnrichment({ contacts, fields_to_enrich: ['professional_email'] }, deps));
    expect(err.errors).toHaveLength(50);
    expect(err.message).toMatch(/120 errors/);
  });

  it('an S3 object that is not JSON, or holds no contacts, ends rejected by its intake: no batch, no input copy', async () => {
    // Referenced uploads are validated asynchronously (src/core/intake.ts): 202 validating, then rejected.
    for (const [body, pattern] of [
      ['{"contacts": [', /ends too early/],
      ['{"contacts": []}', /holds no contacts/],
      ['{"rows": [1]}', /no "contacts" array/],
    ] as const) {
      const { deps, store, status, queue } = setup();
      store.objects.set('uploads/x.json', body);
      expect(
        await createEnrichment({ contacts: 'uploads/x.json', fields_to_enrich: ['job_title'] }, deps),
      ).toMatchObject({ status: 'validating' });
      expect(await runIntake(ID, intakeDepsFor(deps))).toBe('rejected');
      expect(status.only()).toMatchObject({
        status: 'rejected',
        errors: [{ path: 'contacts', message: expect.stringMatching(pattern) }],
      });
      expect([...store.objects.keys()]).toEqual(['uploads/x.json']);
      expect(queue.sent).toHaveLength(0);
    }
  });
});

describe('createEnrichment: accepted requests', () => {
  const fields: EnrichField[] = ['professional_email', 'personal_phone'];

  it('stores input and placeholder, puts the status record with totals and deadline, and sends one message per 100 contacts', async () => {
    const { deps, store, status, queue, journal } = setup();
    const contacts = makeContacts(250, { extra: (i) => ({ crm_id: `crm-${i}` }) });
    const result = await createEnrichment({ contacts, fields_to_enrich: [...fields, 'professional_email'] }, deps);

    expect(result).toEqual({ requestId: ID, totalContacts: 250, totalBatches: 3 });
    expect(store.json(`${ID}/input.json`)).toEqual({ fields_to_enrich: fields, contacts });
    expect(store.json(`${ID}/output.json`)).toMatchObject({ enriched_contacts: [] });

    expect(status.only()).toEqual({
      requestId: ID,
      status: 'processing',
      createdAt: '2024-05-01T12:00:00.000Z',
      updatedAt: '2024-05-01T12:00:00.000Z',
      totalContacts: 250,
      totalBatches: 3,
      batchSize: 100,
      processedBatches: 0,
      failedBatches: 0,
      fields,
      inputFileKey: `${ID}/input.json`,
      outputFileKey: `${ID}/output.json`,
      deadlineAt: '2024-05-01T13:00:00.000Z',
      expiresAt: Date.parse('2024-05-31T12:00:00.000Z') / 1000,
    });

    expect(queue.sent.map((m) => [m.batchIndex, m.contacts.length, m.requestId])).toEqual([
      [0, 100, ID],
      [1, 100, ID],
      [2, 50, ID],
    ]);
    expect(queue.sent.map((m) => Object.keys(m).sort())).toEqual(
      Array(3).fill(['batchIndex', 'contacts', 'fields', 'requestId']),
    );
    expect(queue.sent.flatMap((m) => m.contacts)).toEqual(contacts); // extra properties travel with the contacts
    expect(queue.sent.every((m) => JSON.stringify(m.fields) === JSON.stringify(fields))).toBe(true);

    // The dedup claim before anything else, stored before the status exists, and the status before any worker can see a message.
    expect(journal).toEqual([
      `status.claimDedup ${ID}`,
      `upload ${ID}/input.json`,
      `put ${ID}/output.json`,
      `status.create ${ID}`,
      'queue.send 3',
    ]);
  });

  it('follows the configured batch size, deadline and retention', async () => {
    const { deps, status, queue } = setup({ batchSize: 7, deadlineSeconds: 60, ttlDays: 1 });
    await createEnrichment({ contacts: makeContacts(15), fields_to_enrich: ['job_title'] }, deps);
    expect(queue.sent.map((m) => m.contacts.length)).toEqual([7, 7, 1]);
    expect(status.only()).toMatchObject({
      totalBatches: 3,
      deadlineAt: '2024-05-01T12:01:00.000Z',
      expiresAt: Date.parse('2024-05-02T12:00:00.000Z') / 1000,
    });
  });

  it('makes a fresh UUID v4 per request by default', async () => {
    const { deps } = setup({ newId: undefined });
    const a = await createEnrichment({ contacts: makeContacts(1), fields_to_enrich: ['job_title'] }, deps);
    const b = await createEnrichment(
      { contacts: makeContacts(1), fields_to_enrich: ['job_title'], dedupe: false },
      deps,
    );
    expect(a.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.requestId).not.toBe(b.requestId);
  });

  it('keeps metadata on the status record, inline and upload-based alike ({} is none); other metadata is another request', async () => {
    const metadata = Object.fromEntries(
      Array.from({ length: 16 }, (_, i) => [`k${i}`.padEnd(64, 'x'), 'é'.repeat(512)]),
    );
    const inline = setup();
    await createEnrichment({ contacts: makeContacts(3), fields_to_enrich: ['job_title'], metadata }, inline.deps);
    expect(inline.status.only().metadata).toEqual(metadata);
    const upload = setup();
    await upload.store.upload('uploads/x.json', renderInput(makeContacts(3), ['job_title']));
    await createEnrichment(
      { contacts: 'uploads/x.json', fields_to_enrich: ['job_title'], metadata: { a: '' } },
      upload.deps,
    );
    expect(upload.status.only().metadata).toEqual({ a: '' });
    const none = setup();
    await createEnrichment({ contacts: makeContacts(3), fields_to_enrich: ['job_title'], metadata: {} }, none.deps);
    expect(none.status.only()).not.toHaveProperty('metadata');

    let n = 0;
    const ids = ['6f1c2d3e-4a5b-4c6d-8e7f-000000000001', '6f1c2d3e-4a5b-4c6d-8e7f-000000000002'];
    const twice = setup({ newId: () => ids[n++] });
    const body = { contacts: makeContacts(3), fields_to_enrich: ['job_title'] as EnrichField[] };
    const first = await createEnrichment({ ...body, metadata: { run: '1' } }, twice.deps, { callerHash: 'c' });
    const second = await createEnrichment({ ...body, metadata: { run: '2' } }, twice.deps, { callerHash: 'c' });
    expect([first.requestId, second.requestId, second.duplicate]).toEqual([...ids, undefined]);
  });

  it('takes contacts from an uploads/ key or an s3:// reference into the service bucket, through the intake', async () => {
    for (const ref of ['uploads/big.json', 's3://unit-bucket/uploads/big.json', '  uploads/big.json  ']) {
      const intakeQueue = new MemoryIntakeQueue();
      const { deps, store, queue, status } = setup({ intakeQueue });
      const contacts = makeContacts(205);
      await store.upload('uploads/big.json', renderInput(contacts, ['job_title']));
      expect(await createEnrichment({ contacts: ref, fields_to_enrich: ['personal_phone'] }, deps)).toEqual({
        requestId: ID,
        status: 'validating',
      });
      expect(status.only()).toMatchObject({
        status: 'validating',
        inputFileKey: 'uploads/big.json',
        inputFormat: 'json',
      });
      expect(queue.sent).toHaveLength(0);
      expect(intakeQueue.sent).toEqual([{ requestId: ID }]);
      expect(await runIntake(ID, intakeDepsFor(deps))).toBe('processing');
      expect(status.only()).toMatchObject({ status: 'processing', totalContacts: 205, totalBatches: 3 });
      // No batch counted yet at the move: no duplicate of the last one (the promotion to come finishes the request).
      expect(queue.sent.map((m) => m.batchIndex)).toEqual([0, 1, 2]);
      expect(queue.sent.flatMap((m) => m.contacts)).toEqual(contacts);
      expect(store.text(`${ID}/input.json`)).toBeUndefined();
    }
  });

  it('sends the last batch once more only when every batch was counted before the move to processing', async () => {
    const intakeQueue = new MemoryIntakeQueue();
    const { deps, store, queue, status } = setup({ intakeQueue });
    const contacts = makeContacts(205);
    await store.upload('uploads/big.json', renderInput(contacts, ['job_title']));
    await createEnrichment({ contacts: 'uploads/big.json', fields_to_enrich: ['personal_phone'] }, deps);
    // The workers count (and promote) all 3 batches while the request is still validating.
    const countAll = async (point: string) => {
      if (point !== 'intake:before-processing') return;
      for (const m of queue.sent) {
        const r = await status.recordBatch(ID, m.batchIndex, 'processed', '2026-01-01T00:00:00.000Z', {
          totalBatches: 3,
          expiresAt: 0,
        });
        if (r && r.shard.done === r.shard.size) await status.promoteShard(r.shard, '2026-01-01T00:00:00.000Z');
      }
    };
    expect(await runIntake(ID, intakeDepsFor(deps, { faults: { at: countAll } }))).toBe('processing');
    expect(status.records.get(ID)).toMatchObject({ status: 'processing', processedBatches: 3 });
    // No worker can finish it now: the duplicate of the last batch makes one do it.
    expect(queue.sent.map((m) => m.batchIndex)).toEqual([0, 1, 2, 2]);
    expect(queue.sent[3].contacts).toEqual(contacts.slice(200));
  });

  it('logs ids and counts but no contact data', async () => {
    const { deps, log } = setup();
    await createEnrichment({ contacts: makeContacts(3), fields_to_enrich: ['professional_email'] }, deps);
    expect(log.entries.length).toBeGreaterThan(0);
    expect(log.entries.some((e) => e.fields.requestId === ID)).toBe(true);
    expect(JSON.stringify(log.entries)).not.toMatch(/First\d|Last\d|example\.com/);
  });
});
