import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../src/handlers/downloadEnrichment';
import { apiEvent } from '../../support/factories';
import { awsMocks } from '../../support/awsMocks';

const aws = awsMocks();
beforeEach(() => aws.reset());
afterAll(() => aws.restore());

const ID = '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b';
const get = (id: string, format?: string) =>
  handler(
    apiEvent({
      httpMethod: 'GET',
      path: `/enrichment/${id}/download`,
      pathParameters: { id },
      queryStringParameters: format === undefined ? null : { format },
    }),
  );
const item = (status: string) => ({
  requestId: ID,
  status,
  createdAt: 'c',
  updatedAt: 'u',
  totalContacts: 1,
  totalBatches: 1,
  processedBatches: 1,
  failedBatches: 0,
  fields: ['job_title'],
  inputFileKey: `${ID}/input.json`,
  outputFileKey: `${ID}/output.json`,
  deadlineAt: 'd',
  expiresAt: 4_102_444_800,
});

describe('GET /enrichment/{id}/download handler', () => {
  it('redirects (302) to a fresh presigned URL of the output', async () => {
    aws.ddb.on(GetCommand).resolves({
      Item: {
        requestId: ID,
        status: 'completed',
        createdAt: 'c',
        updatedAt: 'u',
        totalContacts: 1,
        totalBatches: 1,
        processedBatches: 1,
        failedBatches: 0,
        fields: ['job_title'],
        inputFileKey: `${ID}/input.json`,
        outputFileKey: `${ID}/output.json`,
        deadlineAt: 'd',
        expiresAt: 4_102_444_800,
      },
    });
    const res = await get(ID);
    expect(res.statusCode).toBe(302);
    expect(res.headers).toMatchObject({ 'cache-control': 'no-store', 'x-enrichment-status': 'completed' });
    const location = new URL(String(res.headers!.location));
    expect(location.hostname).toMatch(/^unit-bucket\.s3\./);
    expect(location.pathname).toBe(`/${ID}/output.json`);
    expect(location.searchParams.get('X-Amz-Signature')).toBeTruthy();
    expect(location.searchParams.get('response-content-disposition')).toContain(`enrichment-${ID}.json`);
    expect(res.body).toBe('');
  });

  it('answers 404 for an unknown id and 400 for a bad one', async () => {
    aws.ddb.on(GetCommand).resolves({});
    expect((await get(ID)).statusCode).toBe(404);
    expect((await get('nope')).statusCode).toBe(400);
  });

  it.each([
    ['json', 'application/json'],
    ['ndjson', 'application/x-ndjson'],
    ['csv', 'text/csv; charset=utf-8'],
  ])('redirects ?format=%s to its own object with its file name and content type (%s)', async (format, contentType) => {
    aws.ddb.on(GetCommand).resolves({ Item: item('completed_with_errors') });
    const res = await get(ID, format);
    expect(res.statusCode).toBe(302);
    const location = new URL(String(res.headers!.location));
    expect(location.pathname).toBe(`/${ID}/output.${format}`);
    expect(location.searchParams.get('response-content-disposition')).toBe(
      `attachment; filename="enrichment-${ID}.${format}"`,
    );
    expect(location.searchParams.get('response-content-type')).toBe(contentType);
  });

  it('answers 400 listing the formats for an unknown one, before any lookup', async () => {
    const res = await get(ID, 'xlsx');
    expect(res.statusCode).toBe(400);
    const body = JSON.parse(res.body);
    expect(body.message).toBe('Unknown format "xlsx". Allowed formats: json, ndjson, csv');
    expect(body.errors).toEqual([{ path: 'format', message: body.message }]);
    expect(aws.ddb.commandCalls(GetCommand)).toHaveLength(0);
    expect((await get(ID, '')).statusCode).toBe(400);
  });

  it('answers 409 for ndjson and csv while the request is processing, and still redirects json to its placeholder', async () => {
    aws.ddb.on(GetCommand).resolves({ Item: item('processing') });
    for (const format of ['ndjson', 'csv']) {
      const res = await get(ID, format);
      expect(res.statusCode).toBe(409);
      expect(res.headers).toMatchObject({ 'x-enrichment-status': 'processing' });
      expect(JSON.parse(res.body).message).toMatch(new RegExp(`${format} output exists once the request is final`));
    }
    const json = await get(ID, 'json');
    expect(json.statusCode).toBe(302);
    expect(new URL(String(json.headers!.location)).pathname).toBe(`/${ID}/output.json`);
  });
});
