import { PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchGetCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockEnrichContact } from '../../../src/handlers/mockData';
import { makeHandler } from '../../../src/handlers/processBatch';
import { forEachBatchMessage } from '../../../src/handlers/sqsRecords';
import type { BatchMessage } from '../../../src/schemas/message';
import type { StatusRecord } from '../../../src/schemas/status';
import { statusRecordOf } from '../../support/fakes';
import { awsMocks } from '../../support/awsMocks';
import { makeContacts, sqsEvent } from '../../support/factories';
import { type StubServer, startStubServer } from '../../support/stubServer';

const R1 = '11111111-1111-4111-8111-111111111111';
const R2 = '22222222-2222-4222-8222-222222222222';
const R3 = '33333333-3333-4333-8333-333333333333';

const message = (requestId: string, batchIndex = 0, over: Partial<BatchMessage> = {}): BatchMessage => ({
  requestId,
  batchIndex,
  fields: ['professional_email'],
  contacts: makeContacts(3, { start: batchIndex * 3 }),
  ...over,
});

describe('forEachBatchMessage', () => {
  it('drops malformed messages, lists failing ones, and lets neighbours succeed', async () => {
    const handled: Array<[string, number]> = [];
    const res = await forEachBatchMessage(
      sqsEvent([
        { messageId: 'ok-1', body: JSON.stringify(message(R1)) },
        { messageId: 'not-json', body: '{"requestId":' },
        { messageId: 'bad-shape', body: JSON.stringify({ ...message(R1), contacts: [] }) },
        { messageId: 'fails', body: JSON.stringify(message(R2)), receiveCount: 3 },
        { messageId: 'ok-2', body: JSON.stringify(message(R3)), receiveCount: 2 },
      ]),
      async (m, receiveCount) => {
        handled.push([m.requestId, receiveCount]);
        if (m.requestId === R2) throw new Error('transient');
      },
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'fails' }] });
    expect(handled.sort()).toEqual([
      [R1, 1],
      [R2, 3],
      [R3, 2],
    ]);
  });

  it('reports no failures for an empty event', async () => {
    expect(await forEachBatchMessage(sqsEvent([]), async () => undefined)).toEqual({ batchItemFailures: [] });
  });
});

describe('processBatch handler (aws-sdk-client-mock, stubbed enrichment API)', () => {
  const aws = awsMocks();
  // The enrichment API: a local server answering as the mock does (the adapter calls it over node:http).
  let api: StubServer;
  const apiUrl = process.env.ENRICHMENT_API_URL;

  const status = (requestId: string, over: Partial<StatusRecord> = {}): StatusRecord =>
    statusRecordOf(requestId, { totalContacts: 6, totalBatches: 2, ...over });

  beforeAll(async () => {
    api = await startStubServer((_req, body, res) => {
      const { contacts, fields } = JSON.parse(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ results: contacts.map((c: never) => mockEnrichContact(c, fields)) }));
    });
  });
  beforeEach(() => {
    process.env.ENRICHMENT_API_URL = `${api.base}/mock/enrich`;
    aws.reset();
    api.received.length = 0;
  });
  afterAll(async () => {
    aws.restore();
    await api.close();
    process.env.ENRICHMENT_API_URL = apiUrl;
  });

  it('processes one record, lists the one whose status read fails, and drops the malformed one', async () => {
    aws.ddb.on(GetCommand, { Key: { requestId: R1 } }).resolves({ Item: status(R1) });
    aws.ddb.on(GetCommand, { Key: { requestId: R2 } }).rejects(new Error('DynamoDB unavailable'));
    aws.ddb.on(GetCommand, { Key: { requestId: R3 } }).resolves({ Item: status(R3, { status: 'completed' }) });
    // The worker reads the status item and the batch's shard in one call.
    const items: Record<string, Record<string, unknown>> = {
      [R1]: status(R1),
      [R3]: status(R3, { status: 'completed' }),
    };
    aws.ddb
      .on(BatchGetCommand)
      .callsFake(async (input: { RequestItems: Record<string, { Keys: Array<{ requestId: string }> }> }) => {
        const keys = input.RequestItems['unit-table'].Keys;
        if (keys.some((k) => k.requestId === R2)) throw new Error('DynamoDB unavailable');
        return { Responses: { 'unit-table': keys.flatMap((k) => items[k.requestId] ?? []) } };
      });
    aws.ddb
      .on(UpdateCommand)
      .resolves({ Attributes: { requestId: `shard#${R1}#0`, done: new Set([1]), processed: 1 } });

    const res = await makeHandler()(
      sqsEvent([
        { messageId: 'm1', body: JSON.stringify(message(R1, 1)) },
        { messageId: 'm2', body: JSON.stringify(message(R2)) },
        { messageId: 'm3', body: 'garbage' },
        { messageId: 'm4', body: JSON.stringify(message(R3)) },
      ]),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });

    // Only R1 reached the API; the finished request R3 was skipped.
    expect(api.received.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /mock/enrich']);

    const puts = aws.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([`${R1}/batches/000001.json`]);
    const stored = JSON.parse(String(puts[0].Body));
    expect(stored).toMatchObject({ requestId: R1, batchIndex: 1 });
    expect(stored.rows.map((r: { first_name: string }) => r.first_name)).toEqual(['First3', 'First4', 'First5']);

    const updates = aws.ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates).toHaveLength(1);
    expect(updates[0].Key).toEqual({ requestId: `shard#${R1}#0` });
    expect(updates[0].ExpressionAttributeValues).toMatchObject({ ':off': 1 });
  });

  it("gives the core the Lambda context's remaining time: with less left than WORKER_TIME_RESERVE_MS it calls nothing, keeps its progress and lists the record", async () => {
    aws.ddb.on(GetCommand).resolves({ Item: status(R1) });
    aws.ddb
      .on(UpdateCommand)
      .resolves({ Attributes: { requestId: `shard#${R1}#0`, done: new Set([0]), processed: 1 } });
    const context = { getRemainingTimeInMillis: () => 4_000 }; // the default reserve is 5 s
    const res = await makeHandler()(sqsEvent([{ messageId: 'm1', body: JSON.stringify(message(R1)) }]), context);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(api.received).toHaveLength(0);
    const puts = aws.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([`${R1}/batches/000000.progress.json`]);
    expect(aws.ddb.commandCalls(UpdateCommand)).toHaveLength(0);

    // With time to spare the same record goes through.
    const ok = await makeHandler()(sqsEvent([{ messageId: 'm1', body: JSON.stringify(message(R1)) }]), {
      getRemainingTimeInMillis: () => 60_000,
    });
    expect(ok.batchItemFailures).toEqual([]);
    expect(api.received).toHaveLength(1);
  });

  it('lists a record whose result write fails, so SQS redelivers it', async () => {
    aws.ddb.on(GetCommand).resolves({ Item: status(R1) });
    aws.s3.on(PutObjectCommand).rejects(new Error('SlowDown'));
    const res = await makeHandler()(sqsEvent([{ messageId: 'm1', body: JSON.stringify(message(R1)) }]));
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(aws.ddb.commandCalls(UpdateCommand)).toHaveLength(0); // nothing counted
  });
});
