import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { handler as createEnrichment, makeHandler as makeCreate } from '../../../src/handlers/createEnrichment';
import { createDeps, uploadDeps } from '../../../src/handlers/wiring';
import { handler as completeUpload, makeHandler as makeCompleteUpload } from '../../../src/handlers/completeUpload';
import { handler as createUpload } from '../../../src/handlers/createUpload';
import { handler as downloadEnrichment } from '../../../src/handlers/downloadEnrichment';
import { ownerIdOf, uploadPrefixOf } from '../../../src/core/owner';
import { handler as getEnrichmentStatus } from '../../../src/handlers/getEnrichmentStatus';
import { handler as cancelEnrichment } from '../../../src/handlers/cancelEnrichment';
import { handler as listEnrichments } from '../../../src/handlers/listEnrichments';
import { handler as mockEnrich } from '../../../src/handlers/mockEnrich';
import { handler as webhookSecret } from '../../../src/handlers/webhookSecret';
import { API_GATEWAY_MAX_BODY_BYTES } from '../../../src/inlineLimits';
import { ServerlessConfig } from '../../../src/local/serverlessConfig';
import { apiEvent, makeContacts } from '../../support/factories';
import { awsMocks } from '../../support/awsMocks';
import { documentedResponse, mismatches, operations, spec } from '../../support/openapiSpec';
import { clearMockKnobs, resetMock } from '../../support/mockKnobs';

/**
 * docs/openapi.yaml against the real handlers: each answer a handler gives (called in-process, AWS mocked) must
 * have a documented status and validate against the spec's schema for it. The answers API Gateway gives by
 * itself (403, 413) are the gateway responses of serverless.yml, which the local edge serves too.
 */
const aws = awsMocks();
beforeEach(() => aws.reset());
afterAll(() => aws.restore());

const ID = '84fe817a-4c6d-48b6-8afa-6493264f8e3e';
/** Which documented answers were seen, to prove at the end that every one was. */
const covered = new Set<string>();

function expectConforms(method: string, path: string, res: APIGatewayProxyResult, expectedStatus: number) {
  expect({ status: res.statusCode, body: res.body.slice(0, 300) }).toMatchObject({ status: expectedStatus });
  expect(mismatches(method, path, res)).toEqual([]);
  covered.add(`${method} ${path} ${res.statusCode}`);
}

const example = (method: string, path: string, name?: string) => {
  const media = spec.paths[path][method.toLowerCase()].requestBody.content['application/json'];
  return name ? media.examples[name].value : media.example;
};

const statusItem = (extra: Record<string, unknown> = {}) => ({
  requestId: ID,
  status: 'processing',
  createdAt: '2026-11-25T16:25:03.921Z',
  updatedAt: '2026-11-25T16:25:04.581Z',
  totalContacts: 250,
  totalBatches: 3,
  processedBatches: 1,
  failedBatches: 0,
  fields: ['job_title'],
  inputFileKey: `${ID}/input.json`,
  outputFileKey: `${ID}/output.json`,
  deadlineAt: '2026-11-25T17:25:03.921Z',
  // 2100-01-01: not expired (from its expiresAt on, a download answers 410).
  expiresAt: 4_102_444_800,
  ...extra,
});

const quietErrors = () => jest.spyOn(console, 'error').mockImplementation(() => undefined);

describe('docs/openapi.yaml matches the handlers', () => {
  describe('POST /enrichment', () => {
    const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      createEnrichment(apiEvent({ body, headers }));

    it("202 for the spec's inline example (emoji and CJK names included)", async () => {
      expectConforms('POST', '/enrichment', await post(JSON.stringify(example('POST', '/enrichment', 'inline'))), 202);
    });

    it("202 for the spec's S3 reference example", async () => {
      // Checked with HeadObject only: the intake function reads the body later (the 202 says `validating`).
      const file = JSON.stringify({ contacts: makeContacts(150) });
      aws.s3
        .on(HeadObjectCommand)
        .resolves({ ContentLength: file.length, ETag: '"abc"', ContentType: 'application/json' });
      aws.s3.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([file]), ContentLength: file.length }));
      expectConforms(
        'POST',
        '/enrichment',
        await post(JSON.stringify(example('POST', '/enrichment', 's3Reference'))),
        202,
      );
    });

    it.each([
      ['not JSON', '{"contacts": ['],
      ['an empty body', ''],
      [
        'a bad domain',
        JSON.stringify({
          contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'nope' }],
          fields_to_enrich: ['job_title'],
        }),
      ],
      ['an unknown field', JSON.stringify({ contacts: makeContacts(1), fields_to_enrich: ['shoe_size'] })],
      [
        'more than 50 errors',
        JSON.stringify({ contacts: Array.from({ length: 80 }, () => ({})), fields_to_enrich: ['job_title'] }),
      ],
      ['a missing upload', JSON.stringify({ contacts: 'uploads/missing.json', fields_to_enrich: ['job_title'] })],
    ])('400 for %s', async (_name, body) => {
      aws.s3
        .on(GetObjectCommand)
        .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
      aws.s3
        .on(HeadObjectCommand)
        .rejects(Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }));
      expectConforms('POST', '/enrichment', await post(body), 400);
    });

    it('413 for a body over 10 MB', async () => {
      expectConforms('POST', '/enrichment', await post('x'.repeat(API_GATEWAY_MAX_BODY_BYTES + 1)), 413);
    });

    it.each([
      ['text/plain', { 'content-type': 'text/plain' }],
      ['content-encoding gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
    ])('415 for %s', async (_name, headers) => {
      expectConforms(
        'POST',
        '/enrichment',
        await post(JSON.stringify(example('POST', '/enrichment', 'inline')), headers),
        415,
      );
    });

    describe('the same request twice (a table held in memory, with its conditional writes)', () => {
      const KEY = { 'content-type': 'application/json', 'x-api-key': 'contract-test-key-0123456789' };
      beforeEach(() => {
        const items = new Map<string, Record<string, unknown>>();
        aws.ddb
          .on(PutCommand)
          .callsFake(
            async (input: {
              Item: Record<string, unknown>;
              ConditionExpression?: string;
              ExpressionAttributeValues?: Record<string, unknown>;
            }) => {
              const current = items.get(String(input.Item.requestId));
              const condition = input.ConditionExpression ?? '';
              const values = input.ExpressionAttributeValues ?? {};
              const free =
                !current ||
                (condition.includes('expiresAt < :now') && Number(current.expiresAt) < Number(values[':now']));
              const ok = condition.startsWith('attribute_not_exists')
                ? free
                : condition.startsWith('forRequestId')
                  ? current?.forRequestId === Object.values(values)[0]
                  : true;
              if (!ok)
                throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
              items.set(String(input.Item.requestId), input.Item);
              return {};
            },
          );
        aws.ddb
          .on(GetCommand)
          .callsFake(async (input: { Key: { requestId: string } }) => ({ Item: items.get(input.Key.requestId) }));
      });

      it('200 with "duplicate": true for a repeat', async () => {
        const body = JSON.stringify(example('POST', '/enrichment', 'inline'));
        expect((await post(body, KEY)).statusCode).toBe(202);
        expectConforms('POST', '/enrichment', await post(body, KEY), 200);
      });

      it('422 for an Idempotency-Key used before with another body', async () => {
        const keyed = { ...KEY, 'idempotency-key': 'order-42' };
        expect((await post(JSON.stringify(example('POST', '/enrichment', 'inline')), keyed)).statusCode).toBe(202);
        expectConforms(
          'POST',
          '/enrichment',
          await post(JSON.stringify({ contacts: makeContacts(2), fields_to_enrich: ['job_title'] }), keyed),
          422,
        );
      });

      it('409 while the same request is still being accepted by another call', async () => {
        // The first call's input upload takes a while; the second finds its claim and no request yet.
        aws.s3.on(PutObjectCommand).callsFake(() => new Promise((resolve) => setTimeout(() => resolve({}), 300)));
        const impatient = makeCreate(() => ({ ...createDeps(), dedupWaitMs: 20 }));
        const body = JSON.stringify(example('POST', '/enrichment', 'inline'));
        const first = post(body, KEY);
        await new Promise((r) => setTimeout(r, 50));
        expectConforms('POST', '/enrichment', await impatient(apiEvent({ body, headers: KEY })), 409);
        expect((await first).statusCode).toBe(202);
      });
    });

    it('500 with a correlation id when DynamoDB fails', async () => {
      aws.ddb.on(PutCommand).rejects(new Error('boom'));
      const errors = quietErrors();
      try {
        expectConforms(
          'POST',
          '/enrichment',
          await post(JSON.stringify(example('POST', '/enrichment', 'inline'))),
          500,
        );
      } finally {
        errors.mockRestore();
      }
    });
  });

  describe('GET /enrichment/{id}/download?format=', () => {
    const get = (format: string) =>
      downloadEnrichment(
        apiEvent({
          httpMethod: 'GET',
          path: `/enrichment/${ID}/download`,
          pathParameters: { id: ID },
          queryStringParameters: { format },
        }),
      );
    const documentedFormats = () =>
      spec.paths['/enrichment/{id}/download'].get.parameters.find((p: { name: string }) => p.name === 'format').schema
        .enum;

    it.each(['json', 'ndjson', 'csv'])('302 for format=%s of a finished request', async (format) => {
      aws.ddb.on(GetCommand).resolves({
        Item: statusItem({ status: 'completed', processedBatches: 3, completedAt: '2026-11-25T16:26:00.000Z' }),
      });
      expectConforms('GET', '/enrichment/{id}/download', await get(format), 302);
    });

    it('409 for csv while the request is processing', async () => {
      aws.ddb.on(GetCommand).resolves({ Item: statusItem() });
      expectConforms('GET', '/enrichment/{id}/download', await get('csv'), 409);
    });

    it('400 for a format not documented, naming exactly the documented ones', async () => {
      const res = await get('xlsx');
      expectConforms('GET', '/enrichment/{id}/download', res, 400);
      expect(JSON.parse(res.body).message).toBe(
        `Unknown format "xlsx". Allowed formats: ${documentedFormats().join(', ')}`,
      );
    });
  });

  describe('completion webhooks', () => {
    it("202 for the spec's example with a callbackUrl; 400 for one to a private address, nothing written", async () => {
      const body = example('POST', '/enrichment', 'withCallback');
      const headers = { 'content-type': 'application/json' };
      aws.ddb.on(GetCommand).resolves({}); // no signing secret yet: the create call makes it
      expectConforms(
        'POST',
        '/enrichment',
        await createEnrichment(apiEvent({ body: JSON.stringify(body), headers })),
        202,
      );
      aws.ddb.reset();
      const refused = await createEnrichment(
        apiEvent({ body: JSON.stringify({ ...body, callbackUrl: 'https://10.0.0.1/hook' }), headers }),
      );
      expectConforms('POST', '/enrichment', refused, 400);
      expect(JSON.parse(refused.body).errors).toEqual([
        {
          path: 'callbackUrl',
          message: 'callbackUrl must point to a public address: 10.0.0.1 is not a public address (private)',
        },
      ]);
      expect(aws.ddb.calls()).toHaveLength(0);
    });

    it('200 for a status with its webhook delivered', async () => {
      aws.ddb.on(GetCommand).resolves({
        Item: statusItem({
          status: 'completed',
          completedAt: '2026-11-25T16:26:00.000Z',
          enrichedContacts: 250,
          webhook: {
            url: 'https://hooks.example.com/x',
            downloadUrl: 'https://api.example.test/dev/enrichment/x/download',
            state: 'delivered',
            attempts: 4,
            lastStatusCode: 200,
            deliveredAt: '2026-11-25T16:27:00.000Z',
          },
        }),
      });
      const res = await getEnrichmentStatus(apiEvent({ httpMethod: 'GET', pathParameters: { id: ID } }));
      expectConforms('GET', '/enrichment/{id}', res, 200);
      expect(JSON.parse(res.body).webhook).toEqual({
        state: 'delivered',
        attempts: 4,
        lastStatusCode: 200,
        deliveredAt: '2026-11-25T16:27:00.000Z',
      });
    });

    it('200 for the secret (made on first use) and for a rotation (with the previous one); 500 when the table fails', async () => {
      const get = (path: string, method: string) => webhookSecret(apiEvent({ httpMethod: method, path }));
      aws.ddb.on(GetCommand).resolves({});
      expectConforms('GET', '/enrichment/webhook-secret', await get('/enrichment/webhook-secret', 'GET'), 200);
      aws.ddb
        .on(GetCommand)
        .resolves({ Item: { current: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+BDi3xKbThk=', createdAt: 'x' } });
      const rotated = await get('/enrichment/webhook-secret/rotate', 'POST');
      expectConforms('POST', '/enrichment/webhook-secret/rotate', rotated, 200);
      expect(JSON.parse(rotated.body).previousSecret).toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+BDi3xKbThk=');
      quietErrors();
      aws.ddb.on(GetCommand).rejects(new Error('DynamoDB is down'));
      expectConforms('GET', '/enrichment/webhook-secret', await get('/enrichment/webhook-secret', 'GET'), 500);
      expectConforms(
        'POST',
        '/enrichment/webhook-secret/rotate',
        await get('/enrichment/webhook-secret/rotate', 'POST'),
        500,
      );
    });
  });

  describe.each([
    ['/enrichment/{id}', getEnrichmentStatus, 200],
    ['/enrichment/{id}/download', downloadEnrichment, 302],
  ] as const)('GET %s', (path, handler, ok) => {
    const get = (id: string) =>
      handler(apiEvent({ httpMethod: 'GET', path: path.replace('{id}', id), pathParameters: { id } }));

    it(`${ok} for a request still processing`, async () => {
      aws.ddb.on(GetCommand).resolves({ Item: statusItem() });
      expectConforms('GET', path, await get(ID), ok);
    });

    it(`${ok} for a finished request (uppercase id)`, async () => {
      aws.ddb.on(GetCommand).resolves({
        Item: statusItem({
          status: 'completed_with_errors',
          processedBatches: 3,
          completedAt: '2026-11-25T16:26:00.000Z',
          enrichedContacts: 200,
          notFoundContacts: 40,
          failedContacts: 10,
        }),
      });
      expectConforms('GET', path, await get(ID.toUpperCase()), ok);
    });

    it(`${ok} for a request with its usage: running while processing, final once finished`, async () => {
      const counts = {
        providerCalls: 3,
        contactsSent: 260,
        cacheHits: 40,
        matches: 150,
        notFound: 59,
        failed: 1,
        rateLimitWaitMs: 1_200,
      };
      aws.ddb.on(GetCommand).resolves({
        Item: statusItem({ uCalls: 2, uContacts: 200, uMatches: 120, uNotFound: 80 }),
      });
      const running = await get(ID);
      expectConforms('GET', path, running, ok);
      if (ok === 200) expect(JSON.parse(running.body).usage).toMatchObject({ providerCalls: 2, estimatedCost: 0 });
      aws.ddb.on(GetCommand).resolves({
        Item: statusItem({
          status: 'completed_with_errors',
          processedBatches: 3,
          completedAt: '2026-11-25T16:26:00.000Z',
          enrichedContacts: 190,
          notFoundContacts: 59,
          failedContacts: 1,
          usage: { ...counts, estimatedCost: 4.2 },
        }),
      });
      const final = await get(ID);
      expectConforms('GET', path, final, ok);
      if (ok === 200) expect(JSON.parse(final.body).usage).toEqual({ ...counts, estimatedCost: 4.2 });
    });

    it(`${path.endsWith('download') ? 409 : 200} for an upload still validating (no totals, no output yet)`, async () => {
      aws.ddb.on(GetCommand).resolves({
        Item: statusItem({
          status: 'validating',
          totalContacts: 0,
          totalBatches: 0,
          processedBatches: 0,
          inputFileKey: 'uploads/o/x.csv',
          inputFormat: 'csv',
          intake: { phase: 'validate', contactsValidated: 5000, batchesSent: 0 },
        }),
      });
      const res = await get(ID);
      expectConforms('GET', path, res, path.endsWith('download') ? 409 : 200);
      if (ok === 200) expect(JSON.parse(res.body)).not.toHaveProperty('totalContacts');
    });

    it(`${path.endsWith('download') ? 409 : 200} for a rejected upload (its errors in the status)`, async () => {
      const errors = [
        {
          path: 'contacts[777777].company_domain',
          message: 'company_domain must be a domain name such as example.com',
        },
      ];
      aws.ddb.on(GetCommand).resolves({
        Item: statusItem({
          status: 'rejected',
          totalContacts: 0,
          totalBatches: 0,
          processedBatches: 0,
          errors,
          completedAt: '2026-11-25T16:26:00.000Z',
        }),
      });
      const res = await get(ID);
      expectConforms('GET', path, res, path.endsWith('download') ? 409 : 200);
      if (!path.endsWith('download')) expect(JSON.parse(res.body)).toMatchObject({ status: 'rejected', errors });
    });

    it('400 for an id that is not a UUID', async () => {
      expectConforms('GET', path, await get('not-a-uuid'), 400);
    });

    it('404 for an unknown id', async () => {
      aws.ddb.on(GetCommand).resolves({});
      expectConforms('GET', path, await get(ID), 404);
    });

    it('500 with a correlation id when DynamoDB fails', async () => {
      aws.ddb.on(GetCommand).rejects(new Error('boom'));
      const errors = quietErrors();
      try {
        expectConforms('GET', path, await get(ID), 500);
      } finally {
        errors.mockRestore();
      }
    });
  });

  describe('GET /enrichment/{id} while the provider gate is open', () => {
    it("200 for a processing request waiting for the provider's credits (waitingFor, waitingSince)", async () => {
      aws.ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({ Item: statusItem() });
      aws.ddb.on(GetCommand, { Key: { requestId: 'provider#gate' } }).resolves({
        Item: { requestId: 'provider#gate', openUntil: Date.now() + 60_000, reason: 'credits', since: Date.now() },
      });
      const res = await getEnrichmentStatus(
        apiEvent({ httpMethod: 'GET', path: `/enrichment/${ID}`, pathParameters: { id: ID } }),
      );
      expectConforms('GET', '/enrichment/{id}', res, 200);
      expect(JSON.parse(res.body)).toMatchObject({ waitingFor: 'provider_credits' });
    });
  });

  describe('direct uploads', () => {
    const KEY = 'contract-test-key';
    const headers = { 'content-type': 'application/json', 'x-api-key': KEY };
    const own = `${uploadPrefixOf(ownerIdOf(KEY))}0b6c3f0e-6a57-4a1b-9d7f-2f1f7c1a9e11.json`;
    const start = (body: string, h: Record<string, string> = headers) =>
      createUpload(apiEvent({ body, headers: h, path: '/enrichment/uploads' }));
    const finish = (body: unknown, key = KEY) =>
      completeUpload(
        apiEvent({
          body: JSON.stringify(body),
          headers: { ...headers, 'x-api-key': key },
          pathParameters: { uploadId: 'up-1' },
        }),
      );
    const parts = [{ partNumber: 1, etag: '"9b2cf535f27731c974343645a3985328"' }];
    /** The record POST /enrichment/uploads wrote for a 1-part upload of 1234 bytes at `own`. */
    const uploadRecord = (extra: Record<string, unknown> = {}) => ({
      Item: {
        requestId: 'upload#x',
        kind: 'upload',
        key: own,
        owner: ownerIdOf(KEY),
        size: 1234,
        parts: 1,
        format: 'json',
        createdAt: '2026-11-25T16:25:03.921Z',
        expiresAt: 1_800_000_000,
        state: 'open',
        ...extra,
      },
    });
    beforeEach(() => {
      aws.ddb.on(GetCommand).resolves(uploadRecord());
      aws.ddb.on(UpdateCommand).resolves({});
    });
    const s3Error = (name: string, status: number) =>
      new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

    it("201 for the spec's example", async () => {
      aws.s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
      expectConforms(
        'POST',
        '/enrichment/uploads',
        await start(JSON.stringify(example('POST', '/enrichment/uploads'))),
        201,
      );
    });

    it.each([
      ['a size over the maximum', { size: 3 * 1024 ** 3 }],
      ['a size of 0', { size: 0 }],
      ['an unknown format', { size: 10, format: 'xml' }],
    ])('400 for %s', async (_name, body) => {
      expectConforms('POST', '/enrichment/uploads', await start(JSON.stringify(body)), 400);
    });

    it('415 for a body that is not JSON', async () => {
      expectConforms(
        'POST',
        '/enrichment/uploads',
        await start('size=1', { ...headers, 'content-type': 'text/plain' }),
        415,
      );
      expectConforms(
        'POST',
        '/enrichment/uploads/{uploadId}/complete',
        await completeUpload(
          apiEvent({
            body: 'x',
            headers: { ...headers, 'content-type': 'text/plain' },
            pathParameters: { uploadId: 'up-1' },
          }),
        ),
        415,
      );
    });

    it('500 with a correlation id when S3 fails', async () => {
      quietErrors();
      aws.s3.on(CreateMultipartUploadCommand).rejects(new Error('S3 down'));
      expectConforms('POST', '/enrichment/uploads', await start(JSON.stringify({ size: 10 })), 500);
      aws.s3.on(CompleteMultipartUploadCommand).rejects(new Error('S3 down'));
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', await finish({ key: own, parts }), 500);
    });

    it("200 for the caller's upload; 400 for parts S3 refuses or an object over the maximum; 404 for another key's", async () => {
      aws.s3.on(CompleteMultipartUploadCommand).resolves({});
      aws.s3.on(HeadObjectCommand).resolves({ ContentLength: 1234 });
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', await finish({ key: own, parts }), 200);
      expectConforms(
        'POST',
        '/enrichment/uploads/{uploadId}/complete',
        await finish({ key: own, parts }, 'another-key'),
        404,
      );
      aws.s3.on(HeadObjectCommand).resolves({ ContentLength: 3 * 1024 ** 3 });
      aws.s3.on(DeleteObjectCommand).resolves({});
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', await finish({ key: own, parts }), 400);
      aws.s3.on(CompleteMultipartUploadCommand).rejects(s3Error('InvalidPart', 400));
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', await finish({ key: own, parts }), 400);
      aws.s3.on(CompleteMultipartUploadCommand).rejects(s3Error('NoSuchUpload', 404));
      aws.s3.on(HeadObjectCommand).rejects(s3Error('NotFound', 404));
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', await finish({ key: own, parts }), 404);
    });

    it('400 for part numbers other than 1..N or an object of another size than declared; 404 for an upload without a record', async () => {
      const spliced = await finish({ key: own, parts: [...parts, { partNumber: 3, etag: '"e"' }] });
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', spliced, 400);
      expect(JSON.parse(spliced.body).errors).toEqual([
        { path: 'parts', message: 'parts must be part 1 alone: part 3 is not one of them' },
      ]);
      aws.s3.on(CompleteMultipartUploadCommand).resolves({});
      aws.s3.on(HeadObjectCommand).resolves({ ContentLength: 1235 });
      aws.s3.on(DeleteObjectCommand).resolves({});
      const missized = await finish({ key: own, parts });
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', missized, 400);
      expect(JSON.parse(missized.body).errors).toEqual([
        { path: 'size', message: 'the upload holds 1,235 bytes but 1,234 were declared' },
      ]);
      aws.ddb.on(GetCommand).resolves({});
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', await finish({ key: own, parts }), 404);
    });

    it('409 while another call is still completing the upload', async () => {
      aws.ddb.on(GetCommand).resolves(uploadRecord({ state: 'completing', claimedAt: new Date().toISOString() }));
      aws.ddb
        .on(UpdateCommand)
        .rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
      const impatient = makeCompleteUpload(() => ({ ...uploadDeps(), completeWaitMs: 0 }));
      const res = await impatient(
        apiEvent({ body: JSON.stringify({ key: own, parts }), headers, pathParameters: { uploadId: 'up-1' } }),
      );
      expectConforms('POST', '/enrichment/uploads/{uploadId}/complete', res, 409);
    });
  });

  describe('POST /mock/enrich', () => {
    beforeEach(resetMock);
    afterAll(clearMockKnobs);
    const call = (body: unknown) =>
      mockEnrich(apiEvent({ path: '/mock/enrich', body: typeof body === 'string' ? body : JSON.stringify(body) }));

    it("200 for the spec's example, with a per-contact error result", async () => {
      const res = await call(example('POST', '/mock/enrich'));
      expectConforms('POST', '/mock/enrich', res, 200);
      expect(JSON.parse(res.body).results[1]).toEqual({
        enrichment_status: 'error',
        error: 'company_domain cannot be enriched',
      });
    });

    it('200 with every kind of result: enriched, not_found and error, for every field', async () => {
      const contacts = [
        ...makeContacts(100).slice(0, 99),
        { first_name: 'Eve', last_name: 'Broken', company_domain: 'acme.invalid' },
      ];
      const res = await call({
        contacts,
        fields: ['professional_email', 'personal_phone', 'job_title', 'linkedin_url'],
      });
      expectConforms('POST', '/mock/enrich', res, 200);
      expect(
        new Set(JSON.parse(res.body).results.map((r: { enrichment_status: string }) => r.enrichment_status)),
      ).toEqual(new Set(['enriched', 'not_found', 'error']));
    });

    it.each([
      ['101 contacts', { contacts: makeContacts(101), fields: ['job_title'] }],
      ['not JSON', '{'],
      ['an unknown field', { contacts: makeContacts(1), fields: ['shoe_size'] }],
    ])('400 for %s', async (_name, body) => {
      expectConforms('POST', '/mock/enrich', await call(body), 400);
    });

    it('429 with Retry-After when throttling (MOCK_THROTTLE_RATE)', async () => {
      process.env.MOCK_THROTTLE_RATE = '1';
      expectConforms('POST', '/mock/enrich', await call(example('POST', '/mock/enrich')), 429);
    });

    it.each([
      ['an injected failure (MOCK_FAILURE_RATE)', 'MOCK_FAILURE_RATE', '1'],
      ['a .invalid contact with MOCK_INVALID_MODE=call', 'MOCK_INVALID_MODE', 'call'],
    ])('500 for %s', async (_name, knob, value) => {
      process.env[knob] = value;
      expectConforms('POST', '/mock/enrich', await call(example('POST', '/mock/enrich')), 500);
    });

    it('402 when the credits (MOCK_CREDITS) do not cover the matches', async () => {
      process.env.MOCK_CREDITS = '0';
      expectConforms('POST', '/mock/enrich', await call(example('POST', '/mock/enrich')), 402);
    });
  });

  describe('the mock as a provider: POST /mock/v5/person/bulk, GET /mock/stats, POST /mock/credits, POST /mock/outage', () => {
    beforeEach(resetMock);
    afterAll(clearMockKnobs);
    const send = (path: string, body?: unknown, httpMethod = 'POST') =>
      mockEnrich(
        apiEvent({
          path,
          httpMethod,
          body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
        }),
      );
    const bulk = (n: number) => ({
      requests: [
        ...makeContacts(n).map((c) => ({
          params: { first_name: c.first_name, last_name: c.last_name, company: c.company_domain },
        })),
        { params: { first_name: 'Eve', last_name: 'Broken', company: 'acme.invalid' }, metadata: { index: n } },
      ],
    });

    it('bulk: 200 with records 200, 404 and 400; 400 for a bad call; 402 without credits; 500 in an outage', async () => {
      const ok = await send('/mock/v5/person/bulk', bulk(40));
      expectConforms('POST', '/mock/v5/person/bulk', ok, 200);
      expect(new Set(JSON.parse(ok.body).map((r: { status: number }) => r.status))).toEqual(new Set([200, 404, 400]));
      expectConforms('POST', '/mock/v5/person/bulk', await send('/mock/v5/person/bulk', '{'), 400);
      expectConforms('POST', '/mock/v5/person/bulk', await send('/mock/v5/person/bulk', { requests: [] }), 400);
      process.env.MOCK_CREDITS = '0';
      expectConforms('POST', '/mock/v5/person/bulk', await send('/mock/v5/person/bulk', bulk(5)), 402);
      delete process.env.MOCK_CREDITS;
      expectConforms('POST', '/mock/outage', await send('/mock/outage', { seconds: 60 }), 200);
      expectConforms('POST', '/mock/v5/person/bulk', await send('/mock/v5/person/bulk', bulk(5)), 500);
    });

    it('stats, credits and outage', async () => {
      expectConforms('GET', '/mock/stats', await send('/mock/stats', undefined, 'GET'), 200);
      expectConforms('POST', '/mock/credits', await send('/mock/credits', { add: 5 }), 409);
      process.env.MOCK_CREDITS = '10';
      expectConforms('POST', '/mock/credits', await send('/mock/credits', { add: 5 }), 200);
      expectConforms('GET', '/mock/stats', await send('/mock/stats', undefined, 'GET'), 200);
      expectConforms('POST', '/mock/credits', await send('/mock/credits', { add: 0 }), 400);
      expectConforms('POST', '/mock/outage', await send('/mock/outage', { seconds: -1 }), 400);
    });
  });

  describe('POST /enrichment/{id}/cancel', () => {
    const path = '/enrichment/{id}/cancel';
    const post = (id: string) =>
      cancelEnrichment(apiEvent({ httpMethod: 'POST', path: path.replace('{id}', id), pathParameters: { id } }));
    const final = (status: string, extra: Record<string, unknown> = {}) =>
      statusItem({
        status,
        processedBatches: 3,
        completedAt: '2026-11-25T16:26:00.000Z',
        enrichedContacts: 100,
        notFoundContacts: 30,
        failedContacts: 0,
        ...extra,
      });

    it('202 with the status, now cancelling, for a running request (and again while it is cancelling)', async () => {
      aws.ddb
        .on(GetCommand)
        .resolvesOnce({ Item: statusItem() })
        .resolves({ Item: statusItem({ cancelRequestedAt: '2026-11-25T16:25:05.000Z' }) });
      aws.ddb.on(UpdateCommand).resolves({});
      const res = await post(ID);
      expectConforms('POST', path, res, 202);
      expect(JSON.parse(res.body).status).toBe('cancelling');
      expectConforms('POST', path, await post(ID), 202);
    });

    it('200 for a request cancelled already, with its cancelled count and usage', async () => {
      aws.ddb.on(GetCommand).resolves({
        Item: final('cancelled', {
          cancelledContacts: 120,
          cancelRequestedAt: '2026-11-25T16:25:05.000Z',
          usage: {
            providerCalls: 2,
            contactsSent: 200,
            cacheHits: 0,
            matches: 100,
            notFound: 30,
            failed: 0,
            cancelled: 120,
            rateLimitWaitMs: 0,
            estimatedCost: 0,
          },
        }),
      });
      const res = await post(ID);
      expectConforms('POST', path, res, 200);
      expect(JSON.parse(res.body).summary).toEqual({ enriched: 100, not_found: 30, failed: 0, cancelled: 120 });
    });

    it('409 naming the status of a request final otherwise; 404 for none; 400 for an id that is not a UUID', async () => {
      aws.ddb.on(GetCommand).resolves({ Item: final('completed') });
      const res = await post(ID);
      expectConforms('POST', path, res, 409);
      expect(JSON.parse(res.body).message).toContain('completed');
      aws.ddb.on(GetCommand).resolves({});
      expectConforms('POST', path, await post(ID), 404);
      expectConforms('POST', path, await post('not-a-uuid'), 400);
    });

    it('500 with a correlation id when DynamoDB fails', async () => {
      aws.ddb.on(GetCommand).resolves({ Item: statusItem() });
      aws.ddb.on(UpdateCommand).rejects(new Error('boom'));
      const errors = quietErrors();
      try {
        expectConforms('POST', path, await post(ID), 500);
      } finally {
        errors.mockRestore();
      }
    });
  });

  describe('GET /enrichment', () => {
    const list = (query: Record<string, string> | null = null, key = 'key-a-0123456789abcdef') =>
      listEnrichments(
        apiEvent({
          httpMethod: 'GET',
          path: '/enrichment',
          queryStringParameters: query,
          headers: { 'x-api-key': key },
        }),
      );
    const listed = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const requestId = `84fe817a-4c6d-48b6-8afa-${String(6493264 + i).padStart(12, '0')}`;
        const createdAt = `2026-11-25T16:${String(59 - i).padStart(2, '0')}:03.921Z`;
        return statusItem({
          requestId,
          createdAt,
          status: 'completed',
          completedAt: createdAt,
          enrichedContacts: 250,
          notFoundContacts: 0,
          failedContacts: 0,
          metadata: { campaign: 'q4' },
          listOwner: 'o',
          listSort: `${createdAt}#${requestId}`,
        });
      });

    it('200 with a cursor when another page follows, and without on the last page', async () => {
      aws.ddb.on(QueryCommand).resolves({ Items: listed(3), ScannedCount: 3 });
      const first = await list({ limit: '2' });
      expectConforms('GET', '/enrichment', first, 200);
      const page = JSON.parse(first.body);
      expect([page.requests.length, typeof page.cursor]).toEqual([2, 'string']);
      expect(page.requests[0].metadata).toEqual({ campaign: 'q4' });
      aws.ddb.on(QueryCommand).resolves({ Items: listed(1), ScannedCount: 1 });
      const last = await list({ limit: '2', cursor: page.cursor });
      expectConforms('GET', '/enrichment', last, 200);
      expect(JSON.parse(last.body).cursor).toBeUndefined();
    });

    it.each([
      ['limit=0', { limit: '0' }],
      ['limit=101', { limit: '101' }],
      ['an unknown status', { status: 'done' }],
      ['a cursor that does not decode', { cursor: 'nope' }],
    ])('400 for %s', async (_name, query) => {
      expectConforms('GET', '/enrichment', await list(query), 400);
    });

    it("400 for another key's cursor", async () => {
      aws.ddb.on(QueryCommand).resolves({ Items: listed(3), ScannedCount: 3 });
      const { cursor } = JSON.parse((await list({ limit: '1' })).body);
      const res = await list({ cursor }, 'key-b-0123456789abcdef');
      expectConforms('GET', '/enrichment', res, 400);
      expect(JSON.parse(res.body).errors[0].message).toMatch(/^cursor belongs to another API key/);
    });

    it('500 with a correlation id when DynamoDB fails', async () => {
      aws.ddb.on(QueryCommand).rejects(new Error('boom'));
      const errors = quietErrors();
      try {
        expectConforms('GET', '/enrichment', await list(), 500);
      } finally {
        errors.mockRestore();
      }
    });
  });

  describe('GET /enrichment/{id}/download of an expired request', () => {
    const get = () =>
      downloadEnrichment(
        apiEvent({ httpMethod: 'GET', path: `/enrichment/${ID}/download`, pathParameters: { id: ID } }),
      );

    it('410 while its status item is still there (the TTL deletes late)', async () => {
      aws.ddb.on(GetCommand).resolves({ Item: statusItem({ status: 'completed', expiresAt: 1_764_000_000 }) });
      expectConforms('GET', '/enrichment/{id}/download', await get(), 410);
    });

    it('410 once the status item is gone, from its tombstone', async () => {
      aws.ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({});
      aws.ddb
        .on(GetCommand, { Key: { requestId: `gone#${ID}` } })
        .resolves({ Item: { requestId: `gone#${ID}`, requestExpiresAt: 1_764_000_000, expiresAt: 1_771_776_000 } });
      const res = await get();
      expectConforms('GET', '/enrichment/{id}/download', res, 410);
      expect(JSON.parse(res.body).message).toBe(
        `Request ${ID} expired at 2025-11-24T16:00:00.000Z: its outputs and status are deleted after RESULT_TTL_DAYS; submit the contacts again`,
      );
    });
  });

  describe('the answers API Gateway gives itself (serverless.yml gateway responses, served by the local edge too)', () => {
    const stack = new ServerlessConfig({ stage: 'local', region: 'us-east-1', env: {} });
    const asResult = (r: { statusCode: number; body: string }): APIGatewayProxyResult => ({
      ...r,
      headers: { 'content-type': 'application/json' },
    });

    it('403 for a missing or unknown key, on every operation', () => {
      for (const { method, path } of operations())
        expectConforms(method, path, asResult(stack.invalidApiKeyResponse()), 403);
    });

    it('413 for a request too large to send inline, on the operations that take a body', () => {
      for (const { method, path } of operations().filter((o) => o.op.requestBody))
        expectConforms(method, path, asResult(stack.tooLargeResponse()), 413);
    });
  });

  it("every operation needs the x-api-key key, and the spec's routes are serverless.yml's", () => {
    expect(spec.components.securitySchemes.ApiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-api-key' });
    expect(spec.security).toEqual([{ ApiKey: [] }]);
    for (const { op } of operations()) expect(op.security ?? spec.security).toEqual([{ ApiKey: [] }]);
    const routes = new ServerlessConfig({ stage: 'local', region: 'us-east-1', env: {} }).httpRoutes();
    const asKeys = (list: Array<{ method: string; path: string }>) =>
      list.map((r) => `${r.method.toUpperCase()} /${r.path.replace(/^\//, '')}`).sort();
    expect(asKeys(operations())).toEqual(asKeys(routes));
  });

  it('every documented answer was produced above, except those only API Gateway gives (429, 504)', () => {
    const gatewayOnly = (method: string, path: string, status: string) =>
      status === '504' || (status === '429' && !(method === 'POST' && path === '/mock/enrich'));
    const documented = operations().flatMap(({ method, path, statuses }) => statuses.map((s) => ({ method, path, s })));
    const missing = documented.filter(
      ({ method, path, s }) => !gatewayOnly(method, path, s) && !covered.has(`${method} ${path} ${s}`),
    );
    expect(missing).toEqual([]);
    expect(documentedResponse('GET', '/enrichment/{id}/download', 302)?.headers.Location.required).toBe(true);
  });
});
