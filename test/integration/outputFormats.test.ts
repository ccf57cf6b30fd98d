import { apiEvent, makeContacts, scatteredIndexes } from '../support/factories';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { downloadFn, workerFn } from '../support/functions';
import { expectCsvMatches, expectOutput, parseNdjson, csvColumns } from '../support/output';
import { startTestService, type TestService } from '../support/service';
import type { Contact, OutputRow } from '../../src/schemas/contact';

const FIELDS = ['job_title', 'professional_email'];

/** GET /enrichment/{id}/download?format=… through the download function (its own role), then the presigned URL. */
async function download(requestId: string, format?: string) {
  const redirect = await downloadFn()(
    apiEvent({
      httpMethod: 'GET',
      pathParameters: { id: requestId },
      queryStringParameters: format ? { format } : null,
    }),
  );
  if (redirect.statusCode !== 302) return { redirect };
  const res = await fetch(String(redirect.headers!.location));
  return { redirect, res, text: await res.text() };
}

describe('output as JSON, NDJSON and CSV, downloaded by format (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startTestService();
  });
  afterEach(() => service.close());

  // The emulator answers with the stored object's content type and ignores the signed response-* overrides
  // (the file name): the unit test of the handler checks those parameters in the URL.
  it('holds the same rows in the same order in all three outputs, each stored with its own content type', async () => {
    const poison = scatteredIndexes(1_250, 12);
    const contacts: Contact[] = makeContacts(1_250, { poison, extra: true });
    Object.assign(contacts[0], { first_name: '=HYPERLINK("http://evil")', last_name: 'O"Neil, Jr', segment: 'a,b' });
    Object.assign(contacts[1], { first_name: 'Zoë', last_name: '李 🙂', segment: '+1' });
    Object.assign(contacts[700], { late_extra: { nested: [1, 2] } }); // a property the first row lacks: other_fields
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.statusCode).toBe(202);
    const id = res.json.requestId;
    service.deliver(service.queueUrl, service.queueArn, workerFn(), { concurrency: 4 });
    expect((await waitForFinal(id)).status).toBe('completed_with_errors');

    const doc = await readOutput(service, id);
    expectOutput(doc, { contacts, fields: FIELDS });
    const rows = doc.enriched_contacts;
    expect(rows.filter((r) => r.enrichment_status === 'failed')).toHaveLength(12);

    const json = await download(id);
    expect(json.res!.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(json.text!)).toEqual(doc);

    const ndjson = await download(id, 'ndjson');
    expect(ndjson.res!.status).toBe(200);
    expect(ndjson.res!.headers.get('content-type')).toBe('application/x-ndjson');
    expect(parseNdjson(ndjson.text!)).toEqual(rows);

    const csv = await download(id, 'csv');
    expect(csv.res!.status).toBe(200);
    expect(csv.res!.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expectCsvMatches(csv.text!, rows as OutputRow[], csvColumns(FIELDS));
    expect(csv.text!.split('\r\n')[0]).toBe(
      `first_name,last_name,company_domain,${FIELDS.join(',')},enrichment_status,failure_reason,source,cachedAt,crm_id,segment,other_fields`,
    );
    expect(csv.text!).toContain(`'=HYPERLINK(""http://evil"")`);
    expect(csv.text!).toContain('Zoë,李 🙂');
  });

  it('before completion: json redirects to the placeholder, ndjson and csv answer 409, an unknown format 400', async () => {
    const res = await submit({ contacts: makeContacts(3), fields_to_enrich: FIELDS });
    const id = res.json.requestId;
    const json = await download(id, 'json');
    expect(json.res!.status).toBe(200);
    expect(JSON.parse(json.text!)).toMatchObject({ requestId: id, status: 'processing', enriched_contacts: [] });
    for (const format of ['ndjson', 'csv']) expect((await download(id, format)).redirect.statusCode).toBe(409);
    expect((await download(id, 'xml')).redirect.statusCode).toBe(400);
  });
});
