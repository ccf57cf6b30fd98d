import {
  GetQueueUrlCommand,
  SendMessageBatchCommand,
  SQSClient,
  type SendMessageBatchCommandInput,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../../src/adapters/clients';
import { queueUrl, resetQueueUrls, sqsBatchQueue } from '../../../src/adapters/sqs';
import { resetConfig } from '../../../src/config';
import type { BatchMessage } from '../../../src/schemas/message';
import { makeContacts } from '../../support/factories';

const URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/unit-queue';
const ID = '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b';
const sqs = mockClient(SQSClient);

function messages(n: number, contactsPer = 2, pad = 0): BatchMessage[] {
  return Array.from({ length: n }, (_, i) => ({
    requestId: ID,
    batchIndex: i,
    fields: ['professional_email'],
    contacts: makeContacts(contactsPer, {
      start: i * contactsPer,
      extra: () => (pad ? { notes: 'x'.repeat(pad) } : {}),
    }),
  }));
}

const sentInputs = () =>
  sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input as SendMessageBatchCommandInput);

beforeEach(() => {
  sqs.reset();
  resetConfig();
  resetClients();
  resetQueueUrls();
  sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: URL });
  sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
    Successful: input.Entries!.map((e) => ({ Id: e.Id!, MessageId: `m-${e.Id}`, MD5OfMessageBody: 'x' })),
    Failed: [],
  }));
  jest.spyOn(Math, 'random').mockReturnValue(0); // no waiting between re-sends
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => sqs.restore());

describe('sqsBatchQueue', () => {
  it('sends every message once, in SendMessageBatch calls of at most 10 entries', async () => {
    const msgs = messages(25);
    await sqsBatchQueue().send(msgs);
    const inputs = sentInputs();
    expect(inputs).toHaveLength(3);
    expect(inputs.every((i) => i.QueueUrl === URL && i.Entries!.length <= 10)).toBe(true);
    const entries = inputs.flatMap((i) => i.Entries!);
    expect(entries.map((e) => e.Id).sort()).toEqual(msgs.map((m) => `b${m.batchIndex}`).sort());
    const bodies = entries.map((e) => JSON.parse(e.MessageBody!)).sort((a, b) => a.batchIndex - b.batchIndex);
    expect(bodies).toEqual(msgs);
    expect(sqs.commandCalls(GetQueueUrlCommand)[0].args[0].input).toEqual({ QueueName: 'unit-queue' });
  });

  it('keeps each call under the 256 KB payload limit', async () => {
    await sqsBatchQueue().send(messages(6, 100, 1_000)); // ~110 KB per message
    const inputs = sentInputs();
    expect(inputs.length).toBeGreaterThanOrEqual(3);
    for (const input of inputs) {
      const bytes = input.Entries!.reduce((s, e) => s + Buffer.byteLength(e.MessageBody!), 0);
      expect(bytes).toBeLessThanOrEqual(262_144);
    }
    expect(inputs.flatMap((i) => i.Entries!)).toHaveLength(6);
  });

  it('re-sends only the entries the call reports as failed', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [0, 1, 2, 4].map((i) => ({ Id: `b${i}`, MessageId: `m${i}`, MD5OfMessageBody: 'x' })),
        Failed: [{ Id: 'b3', SenderFault: false, Code: 'InternalError', Message: 'try again' }],
      })
      .resolvesOnce({ Successful: [{ Id: 'b3', MessageId: 'm3', MD5OfMessageBody: 'x' }], Failed: [] });
    await sqsBatchQueue().send(messages(5));
    const inputs = sentInputs();
    expect(inputs).toHaveLength(2);
    expect(inputs[1].Entries!.map((e) => e.Id)).toEqual(['b3']);
    expect(JSON.parse(inputs[1].Entries![0].MessageBody!).batchIndex).toBe(3);
  });

  it('gives up when entries keep failing', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [], Failed: [{ Id: 'b0', SenderFault: false, Code: 'InternalError' }] });
    await expect(sqsBatchQueue().send(messages(1))).rejects.toThrow(/still failing after 5 attempts/);
    expect(sentInputs()).toHaveLength(5);
  });

  it('throws at once when SQS blames the sender', async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: 'b1', SenderFault: true, Code: 'InvalidMessageContents', Message: 'bad body' }],
    });
    await expect(sqsBatchQueue().send(messages(2))).rejects.toThrow(/b1.*InvalidMessageContents/);
    expect(sentInputs()).toHaveLength(1);
  });

  it('looks the queue URL up once and reuses it', async () => {
    const queue = sqsBatchQueue();
    await queue.send(messages(1));
    await queue.send(messages(1));
    await sqsBatchQueue().send(messages(1));
    expect(sqs.commandCalls(GetQueueUrlCommand)).toHaveLength(1);
    expect(sentInputs()).toHaveLength(3);
  });

  it('does not cache a failed lookup', async () => {
    sqs.on(GetQueueUrlCommand).rejectsOnce(new Error('throttled')).resolves({ QueueUrl: URL });
    await expect(queueUrl('unit-queue')).rejects.toThrow('throttled');
    await expect(queueUrl('unit-queue')).resolves.toBe(URL);
  });

  it('sends nothing for an empty list', async () => {
    await sqsBatchQueue().send([]);
    expect(sqs.calls()).toHaveLength(0);
  });
});
