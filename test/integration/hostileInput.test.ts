import { PutObjectCommand } from '@aws-sdk/client-s3';
import { apiEvent, makeContacts } from '../support/factories';
import { expectOnlyStatusAndDedupItems, readOutput, submit, waitForFinal } from '../support/flow';
import { runIntakeSource } from '../support/faults';
import { createFn, statusFn, workerFn } from '../support/functions';
import { startTestService, type TestService } from '../support/service';

const FIELDS = ['professional_email', 'job_title'];
const deepText = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

describe('unusual input that must work (fauxqs + dynalite, the real SQS path)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(() => service.close());

  describe('contacts in any script', () => {
    it('enriches emoji, CJK outside the BMP and other scripts, and gives them back unchanged in output.json', async () => {
      const unusual = [
        { first_name: 'Zoë 😀', last_name: '𠮷田', company_domain: 'example.com', note: '👩‍👩‍👧 family, 🇫🇷 flag' },
        {
          first_name: 'Ελένη',
          last_name: 'Παπαδοπούλου',
          company_domain: 'example.gr',
          tags: ['café', { 'clé 🔑': 'väl\tue\nnext' }],
        },
        { first_name: 'محمد', last_name: 'علي', company_domain: 'example.ae' },
        { first_name: 'Ada\u200b', last_name: 'Lovelace', company_domain: 'example.org' },
      ];
      const contacts = [...makeContacts(150).slice(0, 97), ...unusual];
      const res = await submit({ contacts, fields_to_enrich: FIELDS });
      expect(res.statusCode).toBe(202);

      service.deliver(service.queueUrl, service.queueArn, workerFn());
      const final = await waitForFinal(res.json.requestId);
      expect(final).toMatchObject({ status: 'completed', failedBatches: 0, totalContacts: 101 });

      const doc = await readOutput(service, res.json.requestId);
      const rows = doc.enriched_contacts.slice(97);
      rows.forEach((row, i) => {
        expect(row).toMatchObject(unusual[i]);
        expect(['enriched', 'not_found']).toContain(row.enrichment_status);
      });
    });
  });

  it('finds a request by its id in uppercase', async () => {
    const res = await submit({ contacts: makeContacts(1), fields_to_enrich: FIELDS });
    const status = await statusFn()(
      apiEvent({ httpMethod: 'GET', pathParameters: { id: res.json.requestId.toUpperCase() } }),
    );
    expect(status.statusCode).toBe(200);
    expect(JSON.parse(status.body).requestId).toBe(res.json.requestId);
  });
});

describe('hostile input gets 400/415 and writes nothing (fauxqs + dynalite)', () => {
  let service: TestService;
  afterAll(() => service.close());

  describe('rejections', () => {
    beforeAll(async () => {
      service = await startTestService();
      const put = (Key: string, Body: string) =>
        service.s3.send(new PutObjectCommand({ Bucket: service.bucket, Key, Body }));
      await put(
        'uploads/deep.json',
        `{"contacts":[{"first_name":"A","last_name":"B","company_domain":"a.com","x":${deepText(20_000)}}]}`,
      );
      await put(
        'uploads/nonchar.json',
        JSON.stringify({ contacts: [{ first_name: 'A', last_name: 'B\uffff', company_domain: 'a.com' }] }),
      );
    });

    afterEach(async () => {
      // Nothing written anywhere: only the test's own uploads are in the bucket.
      expect((await service.listKeys()).filter((k) => !k.startsWith('uploads/'))).toEqual([]);
      expect(await service.scanTable()).toBe(0);
      expect(await service.queueDepth()).toBe(0);
    });

    const good = makeContacts(99);
    const cases: Array<[string, string | object, number, string]> = [
      [
        'a name with U+FFFF among 99 good contacts',
        {
          contacts: [...good, { first_name: 'Ada\uffff', last_name: 'L', company_domain: 'a.com' }],
          fields_to_enrich: FIELDS,
        },
        400,
        'contacts[99].first_name',
      ],
      [
        'a lone surrogate in an extra property',
        {
          contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'a.com', note: 'x\ud83d' }],
          fields_to_enrich: FIELDS,
        },
        400,
        'contacts[0].note',
      ],
      [
        'a name of zero-width spaces',
        {
          contacts: [{ first_name: '\u200b\u200b', last_name: 'B', company_domain: 'a.com' }],
          fields_to_enrich: FIELDS,
        },
        400,
        'contacts[0].first_name',
      ],
      [
        'a 40 KB body nested 20,000 levels in an extra property',
        `{"contacts":[{"first_name":"A","last_name":"B","company_domain":"a.com","x":${deepText(20_000)}}],"fields_to_enrich":["job_title"]}`,
        400,
        'contacts[0].x',
      ],
      [
        'fields_to_enrich nested 20,000 levels',
        `{"contacts":[{"first_name":"A","last_name":"B","company_domain":"a.com"}],"fields_to_enrich":${deepText(20_000)}}`,
        400,
        'fields_to_enrich[0]',
      ],
      [
        'an S3 reference with a lone surrogate',
        { contacts: 'uploads/x\ud800.json', fields_to_enrich: FIELDS },
        400,
        'contacts',
      ],
    ];

    it.each(cases)('rejects %s', async (_name, body, code, path) => {
      const res = await submit(body);
      expect(res.statusCode).toBe(code);
      expect(res.json.errors.map((e: { path: string }) => e.path)).toContain(path);
    });

    // An upload's contents are checked by its intake: 202 validating, then rejected with the 400's errors[].
    it.each([
      ['an upload nested 20,000 levels', 'uploads/deep.json', 'contacts[0].x'],
      ['an upload with U+FFFF', 'uploads/nonchar.json', 'contacts[0].last_name'],
    ])('rejects %s through its intake', async (_name, key, path) => {
      const res = await submit({ contacts: key, fields_to_enrich: FIELDS });
      expect(res.statusCode).toBe(202);
      const source = runIntakeSource(service);
      try {
        const final = await waitForFinal(res.json.requestId, 20_000);
        expect(final.status).toBe('rejected');
        expect(final.errors!.map((e) => e.path)).toContain(path);
      } finally {
        await source.stop();
      }
      await expectOnlyStatusAndDedupItems(service, res.json.requestId);
    });

    it('answers 415 to a body that is not JSON or is gzip-encoded', async () => {
      const body = JSON.stringify({ contacts: makeContacts(1), fields_to_enrich: FIELDS });
      for (const headers of [
        { 'content-type': 'text/plain' },
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      ]) {
        const res = await createFn()(apiEvent({ body, headers }));
        expect(res.statusCode).toBe(415);
      }
    });
  });
});
