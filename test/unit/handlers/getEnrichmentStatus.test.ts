import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../src/handlers/getEnrichmentStatus';
import { statusRecordOf } from '../../support/fakes';
import type { StatusRecord } from '../../../src/schemas/status';
import { apiEvent } from '../../support/factories';
import { awsMocks } from '../../support/awsMocks';
import { resetConfig } from '../../../src/config';

const aws = awsMocks();
beforeEach(() => aws.reset());
afterAll(() => aws.restore());

const ID = '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b';
const item: StatusRecord = statusRecordOf(ID, {
  updatedAt: '2024-05-01T12:00:05.000Z',
  processedBatches: 2,
  doneBatches: new Set([0, 1]),
});

async function get(id: string | undefined) {
  const res = await handler(apiEvent({ httpMethod: 'GET', pathParameters: id === undefined ? null : { id } }));
  return { ...res, json: JSON.parse(res.body) };
}

describe('GET /enrichment/{id} handler', () => {
  it('answers 200 with the documented fields', async () => {
    aws.ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({ Item: item });
    const res = await get(ID);
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'no-store' });
    expect(res.json).toEqual({
      requestId: ID,
      status: 'processing',
      createdAt: item.createdAt,
      updatedAt: item.updatedAt,
      expiresAt: '2024-06-01T12:00:00.000Z',
      totalContacts: 250,
      totalBatches: 3,
      processedBatches: 2,
      failedBatches: 0,
      outputFileKey: `${ID}/output.json`,
      downloadUrl: `https://api.example.test/dev/enrichment/${ID}/download`,
    });
    expect(aws.ddb.commandCalls(GetCommand)[0].args[0].input).toMatchObject({
      TableName: 'unit-table',
      Key: { requestId: ID },
      ConsistentRead: true,
    });
  });

  it('includes the summary once final', async () => {
    aws.ddb.on(GetCommand).resolves({
      Item: {
        ...item,
        status: 'completed',
        completedAt: '2024-05-01T12:01:00.000Z',
        enrichedContacts: 240,
        notFoundContacts: 10,
        failedContacts: 0,
      },
    });
    const res = await get(ID);
    expect(res.json).toMatchObject({
      status: 'completed',
      completedAt: '2024-05-01T12:01:00.000Z',
      summary: { enriched: 240, not_found: 10, failed: 0 },
    });
  });

  describe('usage', () => {
    const counts = {
      providerCalls: 2,
      contactsSent: 200,
      cacheHits: 0,
      matches: 40,
      notFound: 160,
      failed: 0,
      rateLimitWaitMs: 35,
    };
    beforeEach(() => {
      process.env.PROVIDER_PRICE_PER_MATCH = '0.05';
      resetConfig();
    });
    afterEach(() => {
      delete process.env.PROVIDER_PRICE_PER_MATCH;
      resetConfig();
    });

    it('while processing: the running usage of the recorded batches, priced at PROVIDER_PRICE_PER_MATCH', async () => {
      aws.ddb.on(GetCommand).resolves({
        Item: {
          ...item,
          uCalls: 2,
          uContacts: 200,
          uMatches: 40,
          uNotFound: 160,
          uWaitMs: 35,
        },
      });
      expect((await get(ID)).json.usage).toEqual({ ...counts, estimatedCost: 2 });
    });

    it('once final: the usage the assembly stored, with its cost', async () => {
      aws.ddb.on(GetCommand).resolves({
        Item: { ...item, status: 'completed', usage: { ...counts, estimatedCost: 4 }, uMatches: 1 },
      });
      expect((await get(ID)).json.usage).toEqual({ ...counts, estimatedCost: 4 });
    });
  });

  it('says what a processing request waits for while the provider gate is open, from one read of its item', async () => {
    aws.ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({ Item: item });
    const since = Date.parse('2024-05-01T12:00:03.000Z');
    aws.ddb.on(GetCommand, { Key: { requestId: 'provider#gate' } }).resolves({
      Item: { requestId: 'provider#gate', openUntil: Date.now() + 60_000, reason: 'credits', since },
    });
    const res = await get(ID);
    expect(res.json).toMatchObject({ waitingFor: 'provider_credits', waitingSince: '2024-05-01T12:00:03.000Z' });
    const gateRead = aws.ddb.commandCalls(GetCommand).find((c) => c.args[0].input.Key?.requestId === 'provider#gate');
    expect(gateRead?.args[0].input.ConsistentRead).toBeFalsy();
  });

  it('says nothing when the gate is closed, when the request is final (no gate read), or when the read fails', async () => {
    aws.ddb.on(GetCommand, { Key: { requestId: ID } }).resolves({ Item: item });
    aws.ddb.on(GetCommand, { Key: { requestId: 'provider#gate' } }).resolves({ Item: { requestId: 'provider#gate' } });
    expect((await get(ID)).json).not.toHaveProperty('waitingFor');
    aws.ddb.on(GetCommand, { Key: { requestId: 'provider#gate' } }).rejects(new Error('throttled'));
    const failed = await get(ID);
    expect(failed.statusCode).toBe(200);
    expect(failed.json).not.toHaveProperty('waitingFor');
    aws.reset();
    aws.ddb.on(GetCommand).resolves({ Item: { ...item, status: 'completed', completedAt: item.updatedAt } });
    await get(ID);
    expect(aws.ddb.commandCalls(GetCommand)).toHaveLength(1);
  });

  it('answers 404 for an unknown id', async () => {
    aws.ddb.on(GetCommand).resolves({});
    const res = await get(ID);
    expect(res.statusCode).toBe(404);
    expect(res.json.message).toContain(ID);
  });

  it.each(['not-a-uuid', '0d9c6d1e-6f7c-1b8e-9a57-0a4d7e0c1f2b', '', undefined])(
    'answers 400 for the id %p without reading the table',
    async (id) => {
      const res = await get(id);
      expect(res.statusCode).toBe(400);
      expect(res.json.errors).toEqual([{ path: 'id', message: expect.any(String) }]);
      expect(aws.allCalls()).toHaveLength(0);
    },
  );

  it('answers 500 with a correlation id when DynamoDB fails', async () => {
    aws.ddb.on(GetCommand).rejects(new Error('secret failure'));
    const res = await get(ID);
    expect(res.statusCode).toBe(500);
    expect(res.json).toEqual({ message: 'Internal server error', correlationId: 'test-request' });
  });
});
