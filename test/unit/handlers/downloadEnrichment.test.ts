import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../src/handlers/downloadEnrichment';
import { apiEvent } from '../../support/factories';
import { awsMocks } from './awsMocks';

const aws = awsMocks();
beforeEach(() => aws.reset());
afterAll(() => aws.restore());

const ID = '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b';
const get = (id: string) => handler(apiEvent({ httpMethod: 'GET', path: `/enrichment/${id}/download`, pathParameters: { id } }));

describe('GET /enrichment/{id}/download handler', () => {
  it('redirects (302) to a fresh presigned URL of the output', async () => {
    aws.ddb.on(GetCommand).resolves({
      Item: {
        requestId: ID, status: 'completed', createdAt: 'c', updatedAt: 'u', totalContacts: 1, totalBatches: 1, processedBatches: 1,
        failedBatches: 0, fields: ['job_title'], inputFileKey: `${ID}/input.json`, outputFileKey: `${ID}/output.json`, deadlineAt: 'd', expiresAt: 1,
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
});
