import { PutObjectCommand } from '@aws-sdk/client-s3';
import { apiEvent, makeContacts } from '../support/factories';
import { readOutput, submit, waitForFinal } from '../support/flow';
import { startTestService, type TestService } from '../support/service';
import { drainedDepth, runIntakeSource } from '../support/faults';
import { workerFn, downloadFn } from '../support/functions';
import type { EnrichField } from '../../src/schemas/contact';
import { expectedRows, expectOutput, summaryOf } from '../support/output';

const FIELDS: EnrichField[] = ['professional_email', 'personal_phone'];

describe('create → SQS → concurrent workers → output.json (fauxqs + dynalite)', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startTestService();
  });
  afterEach(() => service.close());

  it('enriches every contact once, in order, with only the requested fields and pass-through properties', async () => {
    const contacts = makeContacts(1_050, { extra: true });
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    expect(res.statusCode).toBe(202);
    expect(res.json).toMatchObject({ message: 'Request accepted', totalContacts: 1050, totalBatches: 11 });
    expect(res.json.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.downloadUrl).toBe(`https://api.example.test/dev/enrichment/${res.json.requestId}/download`);

    service.deliver(service.queueUrl, service.queueArn, workerFn(), { concurrency: 4 });
    const final = await waitForFinal(res.json.requestId);
    expect(final).toMatchObject({
      status: 'completed',
      processedBatches: 11,
      failedBatches: 0,
      totalBatches: 11,
      totalContacts: 1050,
    });

    const doc = await readOutput(service, res.json.requestId);
    expect(doc.requestId).toBe(res.json.requestId);
    // The mock API's answer for each contact is known (expectedRows): exactly those rows, in order, each contact
    // with its own answer, only the requested fields, its pass-through properties unchanged.
    const expected = expectedRows(contacts, FIELDS);
    expectOutput(doc, expected);
    // Both outcomes occur, so the check covers the row of a contact the mock does not find as well.
    expect(summaryOf(expected).not_found).toBeGreaterThan(0);
    expect(summaryOf(expected).enriched).toBeGreaterThan(0);
    expect(doc.enriched_contacts[5]).toHaveProperty('crm_id', 'crm-5');
    expect(doc.enriched_contacts[5]).not.toHaveProperty('job_title');
    // The event source deletes an invocation's messages after it returns, which may be after the request is final.
    expect(await drainedDepth(service)).toBe(0);
  });

  it('serves the output through a stable download link that redirects to a presigned URL', async () => {
    const contacts = makeContacts(3);
    const res = await submit({ contacts, fields_to_enrich: ['job_title'] });
    service.deliver(service.queueUrl, service.queueArn, workerFn());
    await waitForFinal(res.json.requestId);
    const redirect = await downloadFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: res.json.requestId } }));
    expect(redirect.statusCode).toBe(302);
    const location = (redirect.headers as Record<string, string>).location;
    expect(location).toContain('X-Amz-Signature=');
    const body = (await (await fetch(location)).json()) as { enriched_contacts: Array<{ first_name: string }> };
    expect(body.enriched_contacts.map((r) => r.first_name)).toEqual(['First0', 'First1', 'First2']);
  });

  it('accepts contacts uploaded to S3 and referenced as s3://bucket/uploads/key', async () => {
    const contacts = makeContacts(2_500);
    const key = 'uploads/batch-test.json';
    await service.s3.send(
      new PutObjectCommand({ Bucket: service.bucket, Key: key, Body: JSON.stringify({ contacts }) }),
    );
    const res = await submit({ contacts: `s3://${service.bucket}/${key}`, fields_to_enrich: FIELDS });
    expect(res.statusCode).toBe(202);
    expect(res.json.status).toBe('validating');
    runIntakeSource(service);
    service.deliver(service.queueUrl, service.queueArn, workerFn(), { concurrency: 4 });
    expect(await waitForFinal(res.json.requestId)).toMatchObject({ status: 'completed', totalBatches: 25 });
    expectOutput(await readOutput(service, res.json.requestId), { contacts, fields: FIELDS });
  });

  it('stores input.json and a placeholder output.json at once, and the status item', async () => {
    const contacts = makeContacts(150);
    const res = await submit({ contacts, fields_to_enrich: FIELDS });
    const input = JSON.parse((await service.getObjectText(`${res.json.requestId}/input.json`))!);
    expect(input.contacts).toEqual(contacts);
    expect(input.fields_to_enrich).toEqual(FIELDS);
    const placeholder = JSON.parse((await service.getObjectText(`${res.json.requestId}/output.json`))!);
    expect(placeholder.enriched_contacts).toEqual([]);
    expect(await service.queueDepth()).toBe(2);
    // The status item, its tombstone (a download after its expiry answers 410) and the dedup item written before
    // anything else (README: Same request twice).
    expect(await service.scanTable()).toBe(3);
  });
});
