import { PutObjectCommand } from '@aws-sdk/client-s3';
import { apiEvent, makeContacts } from '../support/factories';
import { expectOnlyStatusAndDedupItems, submit, waitForFinal } from '../support/flow';
import { startTestService, type TestService } from '../support/service';
import { runIntakeSource } from '../support/faults';
import { statusFn, downloadFn } from '../support/functions';

const valid = () => ({ contacts: makeContacts(3), fields_to_enrich: ['professional_email'] });

describe('bad input gets a clear 4xx and writes nothing (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
    await service.s3.send(
      new PutObjectCommand({ Bucket: service.bucket, Key: 'uploads/bad.json', Body: '{"contacts": [{"first_name": 1' }),
    );
    await service.s3.send(
      new PutObjectCommand({
        Bucket: service.bucket,
        Key: 'uploads/invalid-contact.json',
        Body: JSON.stringify({ contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'nope' }] }),
      }),
    );
    await service.s3.send(
      new PutObjectCommand({ Bucket: service.bucket, Key: 'uploads/empty.json', Body: '{"contacts": []}' }),
    );
  });
  afterAll(() => service.close());

  afterEach(async () => {
    // Nothing written anywhere: only the test's own uploads are in the bucket.
    expect((await service.listKeys()).filter((k) => !k.startsWith('uploads/'))).toEqual([]);
    expect(await service.scanTable()).toBe(0);
    expect(await service.queueDepth()).toBe(0);
  });

  const cases: Array<[string, unknown, number, RegExp, string | null]> = [
    ['invalid JSON', '{"contacts": [', 400, /not valid JSON/, null],
    ['an empty body', '', 400, /body is empty/, null],
    ['a JSON array body', '[]', 400, /JSON object/, null],
    ['contacts missing', { fields_to_enrich: ['professional_email'] }, 400, /Invalid request/, 'contacts'],
    [
      'contacts of the wrong type',
      { contacts: 42, fields_to_enrich: ['professional_email'] },
      400,
      /Invalid request/,
      'contacts',
    ],
    [
      'an empty contact list',
      { contacts: [], fields_to_enrich: ['professional_email'] },
      400,
      /Invalid request/,
      'contacts',
    ],
    ['fields_to_enrich missing', { contacts: makeContacts(2) }, 400, /Invalid request/, 'fields_to_enrich'],
    [
      'an empty fields list',
      { contacts: makeContacts(2), fields_to_enrich: [] },
      400,
      /Invalid request/,
      'fields_to_enrich',
    ],
    [
      'an unknown field name',
      { contacts: makeContacts(2), fields_to_enrich: ['shoe_size'] },
      400,
      /Invalid request/,
      'fields_to_enrich[0]',
    ],
    [
      'a bad domain deep in the list',
      {
        contacts: [...makeContacts(17), { first_name: 'A', last_name: 'B', company_domain: 'not a domain' }],
        fields_to_enrich: ['professional_email'],
      },
      400,
      /Invalid request/,
      'contacts[17].company_domain',
    ],
    [
      'an empty last name',
      {
        contacts: [{ first_name: 'A', last_name: '  ', company_domain: 'a.com' }],
        fields_to_enrich: ['professional_email'],
      },
      400,
      /Invalid request/,
      'contacts[0].last_name',
    ],
    [
      'a contact that is not an object',
      { contacts: ['x'], fields_to_enrich: ['professional_email'] },
      400,
      /Invalid request/,
      'contacts[0]',
    ],
    [
      'an oversized contact',
      {
        contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'a.com', notes: 'x'.repeat(3000) }],
        fields_to_enrich: ['professional_email'],
      },
      400,
      /Invalid request/,
      'contacts[0]',
    ],
    [
      'an S3 reference to another bucket',
      { contacts: 's3://someone-elses-bucket/uploads/x.json', fields_to_enrich: ['professional_email'] },
      400,
      /Invalid request/,
      'contacts',
    ],
    [
      'an S3 reference to a missing object',
      { contacts: 'uploads/missing.json', fields_to_enrich: ['professional_email'] },
      400,
      /Invalid request/,
      'contacts',
    ],
  ];

  it.each(cases)('rejects %s', async (_name, body, code, message, path) => {
    const res = await submit(body);
    expect(res.statusCode).toBe(code);
    expect(res.json.message).toMatch(message);
    if (path) expect(res.json.errors.map((e: { path: string }) => e.path)).toContain(path);
    expect(JSON.stringify(res.json)).not.toMatch(/at .*\.ts:\d+/); // no stack traces
  });

  // An upload's contents are validated by its intake (README: API): 202 validating, then rejected with the
  // same errors[] a 400 has; no batch sent, no output, only the status item written.
  it.each([
    ['an S3 object that is not JSON', 'uploads/bad.json', 'contacts'],
    ['an S3 object with an invalid contact', 'uploads/invalid-contact.json', 'contacts[0].company_domain'],
    ['an S3 object with no contacts', 'uploads/empty.json', 'contacts'],
  ])('rejects %s through its intake', async (_name, key, path) => {
    const res = await submit({ contacts: key, fields_to_enrich: ['professional_email'] });
    expect(res.statusCode).toBe(202);
    expect(res.json.status).toBe('validating');
    const source = runIntakeSource(service);
    try {
      const final = await waitForFinal(res.json.requestId, 20_000);
      expect(final.status).toBe('rejected');
      expect(final.errors!.map((e) => e.path)).toContain(path);
      expect(JSON.stringify(final)).not.toMatch(/at .*\.ts:\d+/);
    } finally {
      await source.stop();
    }
    await expectOnlyStatusAndDedupItems(service, res.json.requestId);
  });

  it('lists the supported fields when a field name is unknown', async () => {
    const res = await submit({ ...valid(), fields_to_enrich: ['professional_email', 'shoe_size'] });
    expect(res.json.errors[0].message).toMatch(/professional_email, personal_phone, job_title, linkedin_url/);
  });

  it('rejects a body over 10 MB with 413 pointing to the S3 path', async () => {
    const body = JSON.stringify({
      contacts: makeContacts(1),
      fields_to_enrich: ['professional_email'],
      pad: 'x'.repeat(10 * 1024 * 1024),
    });
    const res = await submit(body);
    expect(res.statusCode).toBe(413);
    expect(res.json.message).toMatch(/s3:\/\//);
  });

  it('answers 400 for a status id that is not a UUID and 404 for an unknown one', async () => {
    const bad = await statusFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: 'abc' } }));
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).errors[0].path).toBe('id');
    const unknown = await statusFn()(
      apiEvent({ httpMethod: 'GET', pathParameters: { id: '3f1c2a9e-6b7d-4c8e-9f0a-1b2c3d4e5f60' } }),
    );
    expect(unknown.statusCode).toBe(404);
    const dl = await downloadFn()(
      apiEvent({ httpMethod: 'GET', pathParameters: { id: '3f1c2a9e-6b7d-4c8e-9f0a-1b2c3d4e5f60' } }),
    );
    expect(dl.statusCode).toBe(404);
  });
});
