import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../src/handlers/createEnrichment';
import {
  API_GATEWAY_MAX_BODY_BYTES,
  lambdaEventBytes,
  LAMBDA_MAX_EVENT_BYTES,
  TOO_LARGE_MESSAGE,
} from '../../../src/inlineLimits';
import { generateContacts } from '../../../src/scripts/lib/contacts';
import { apiEvent, makeContacts } from '../../support/factories';
import { awsMocks } from '../../support/awsMocks';

const aws = awsMocks();
beforeEach(() => aws.reset());
afterAll(() => aws.restore());

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function post(body: unknown, extra: Parameters<typeof apiEvent>[0] = {}) {
  const res = await handler(apiEvent({ body: typeof body === 'string' ? body : JSON.stringify(body), ...extra }));
  return { ...res, json: res.body ? JSON.parse(res.body) : undefined };
}

const bodyText = (input: { Body?: unknown }) =>
  typeof input.Body === 'string' ? input.Body : Buffer.from(input.Body as Uint8Array).toString('utf8');

describe('POST /enrichment handler', () => {
  it('answers 202 with the request id and download URL after writing input, placeholder, status and messages', async () => {
    const contacts = makeContacts(250);
    const res = await post({ contacts, fields_to_enrich: ['professional_email', 'personal_phone'] });

    expect(res.statusCode).toBe(202);
    expect(res.headers).toMatchObject({ 'content-type': 'application/json' });
    expect(res.json).toEqual({
      message: 'Request accepted',
      requestId: expect.stringMatching(UUID_V4),
      downloadUrl: `https://api.example.test/dev/enrichment/${res.json.requestId}/download`,
      totalContacts: 250,
      totalBatches: 3,
    });
    const id = res.json.requestId;

    const puts = aws.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => [p.Bucket, p.Key]).sort()).toEqual([
      ['unit-bucket', `${id}/input.json`],
      ['unit-bucket', `${id}/output.json`],
    ]);
    expect(JSON.parse(bodyText(puts.find((p) => p.Key === `${id}/input.json`)!)).contacts).toEqual(contacts);
    expect(JSON.parse(bodyText(puts.find((p) => p.Key === `${id}/output.json`)!))).toMatchObject({
      enriched_contacts: [],
    });

    // The dedup item first (a conditional put), then the request's tombstone (a download answers 410 after its
    // expiry), then the status item.
    const [dedup, tombstone, status] = aws.ddb.commandCalls(PutCommand).map((c) => c.args[0].input);
    expect(aws.ddb.commandCalls(PutCommand)).toHaveLength(3);
    expect(tombstone).toEqual({
      TableName: 'unit-table',
      Item: { requestId: `gone#${id}`, requestExpiresAt: status.Item!.expiresAt, expiresAt: expect.any(Number) },
    });
    const items = [dedup, status];
    expect(items[0]).toMatchObject({
      TableName: 'unit-table',
      ConditionExpression: 'attribute_not_exists(requestId) OR expiresAt < :now',
      Item: {
        requestId: expect.stringMatching(/^dedup#[0-9a-f]{64}$/),
        kind: 'dedup',
        forRequestId: id,
        bodyHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    expect(items[1]).toMatchObject({
      TableName: 'unit-table',
      ConditionExpression: 'attribute_not_exists(requestId)',
      Item: {
        requestId: id,
        status: 'processing',
        totalContacts: 250,
        totalBatches: 3,
        processedBatches: 0,
        outputFileKey: `${id}/output.json`,
      },
    });
    expect(items[1].Item!.createdAt).toEqual(expect.any(String));
    expect(items[0].Item!.expiresAt).toBe(items[1].Item!.expiresAt);

    const entries = aws.sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!);
    expect(entries.map((e) => JSON.parse(e.MessageBody!).batchIndex).sort()).toEqual([0, 1, 2]);
    expect(entries.flatMap((e) => JSON.parse(e.MessageBody!).contacts)).toHaveLength(250);
  });

  it('accepts a base64-encoded body', async () => {
    const body = Buffer.from(JSON.stringify({ contacts: makeContacts(2), fields_to_enrich: ['job_title'] })).toString(
      'base64',
    );
    const res = await post(body, { isBase64Encoded: true });
    expect(res.statusCode).toBe(202);
  });

  it.each([
    ['invalid JSON', '{"contacts": [', /not valid JSON/, undefined],
    ['an empty body', '', /body is empty/, undefined],
    [
      'an empty contact list',
      { contacts: [], fields_to_enrich: ['professional_email'] },
      /Invalid request/,
      'contacts',
    ],
    [
      'a bad field name',
      { contacts: makeContacts(2), fields_to_enrich: ['shoe_size'] },
      /Invalid request/,
      'fields_to_enrich[0]',
    ],
    [
      'a bad domain at 17',
      {
        contacts: [...makeContacts(17), { first_name: 'A', last_name: 'B', company_domain: 'nope' }],
        fields_to_enrich: ['job_title'],
      },
      /Invalid request/,
      'contacts[17].company_domain',
    ],
    [
      'contacts of the wrong type',
      { contacts: { a: 1 }, fields_to_enrich: ['job_title'] },
      /Invalid request/,
      'contacts',
    ],
  ])('answers 400 for %s and sends no AWS command', async (_name, body, message, path) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json.message).toMatch(message);
    if (path) {
      expect(res.json.errors).toEqual(expect.arrayContaining([{ path, message: expect.any(String) }]));
    }
    expect(aws.allCalls()).toHaveLength(0);
  });

  it('answers 413 pointing to the S3 path for a body over 10 MB, before parsing it', async () => {
    expect(API_GATEWAY_MAX_BODY_BYTES).toBe(10 * 1024 * 1024);
    const res = await post('x'.repeat(API_GATEWAY_MAX_BODY_BYTES + 1));
    expect(res.statusCode).toBe(413);
    expect(res.json.message).toMatch(/S3/);
    expect(res.json.message).toMatch(/s3:\/\//);
    expect(aws.allCalls()).toHaveLength(0);
  });

  it('answers 413 with the S3 hint for an event of 6 MB or more (5.5 MB of contacts), and takes one a byte smaller', async () => {
    expect(LAMBDA_MAX_EVENT_BYTES).toBe(6_291_456);
    // Escaping the contacts' quotes into the event adds about 15%: 5.5 MB of contacts make a 6.3 MB event.
    const body = JSON.stringify({
      contacts: [...generateContacts(71_500, { seed: 1 })],
      fields_to_enrich: ['job_title'],
    });
    expect(Buffer.byteLength(body)).toBeGreaterThan(5.5 * 1024 * 1024);
    expect(Buffer.byteLength(body)).toBeLessThan(5.6 * 1024 * 1024);
    const over = await post(body);
    expect(over.statusCode).toBe(413);
    expect(over.json.message).toBe(TOO_LARGE_MESSAGE);
    expect(aws.allCalls()).toHaveLength(0);

    // Exactly at the boundary: the same event a byte smaller than the limit reaches validation (400: no fields).
    const base = apiEvent({ body: '' });
    const room = LAMBDA_MAX_EVENT_BYTES - 1 - lambdaEventBytes(base);
    const fits = await handler(apiEvent({ body: 'x'.repeat(room) }));
    expect(lambdaEventBytes(apiEvent({ body: 'x'.repeat(room) }))).toBe(LAMBDA_MAX_EVENT_BYTES - 1);
    expect(fits.statusCode).toBe(400);
    const atLimit = await handler(apiEvent({ body: 'x'.repeat(room + 1) }));
    expect(atLimit.statusCode).toBe(413);
  });

  it('answers 500 with a generic message and the correlation id, and no stack, when DynamoDB fails', async () => {
    const secret = new Error('ddb exploded at /var/task/src/adapters/statusTable.ts:22');
    aws.ddb.on(PutCommand).rejects(secret);
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    process.env.LOG_SILENT = 'false';
    try {
      const res = await post(
        { contacts: makeContacts(3), fields_to_enrich: ['job_title'] },
        {
          requestContext: { requestId: 'corr-123', domainName: 'x', stage: 'dev' } as never,
        },
      );
      expect(res.statusCode).toBe(500);
      expect(res.json).toEqual({ message: 'Internal server error', correlationId: 'corr-123' });
      expect(res.body).not.toMatch(/exploded|statusTable|\.ts:\d+|stack/);
      expect(aws.sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
      // The log line carries the detail and the same correlation id, but no contact data.
      const logged = errors.mock.calls.map((c) => String(c[0])).join('\n');
      expect(logged).toContain('corr-123');
      expect(logged).toContain('ddb exploded');
      expect(logged).not.toMatch(/First\d|Last\d|company\d/);
    } finally {
      process.env.LOG_SILENT = 'true';
      errors.mockRestore();
    }
  });
});
