/**
 * The emulators' floor (issue 19): the AWS calls the pipeline makes, with no work around them, through the same SDK
 * clients the functions use (src/adapters/clients.ts), at the bench's concurrency (--workers), from a process of their
 * own (bench/role.ts, role=floor) as the functions are: the emulators and their CPU stay in the bench's process.
 *
 *   npm run bench -- --floor --sizes ''              # the floor alone: calls/s and ms per call per operation
 *   npm run bench -- --floor --sizes 50000 --standin-sizes '' --intake-standin-sizes '' --rmw-sizes '' --cache-sizes ''
 *                                                    # and the share of each whole job's time it accounts for
 *   --floor-calls N                                  # calls per operation (default 1000)
 *
 * Payloads as the pipeline's: batch messages of 100 contacts, 10 to a SendMessageBatch; receives of 10 and their
 * DeleteMessageBatch; the shard UpdateItem (ADD to the done set, conditional, ALL_NEW); the lookup BatchGetItem (a
 * status item and a shard); the cache's BatchGetItem of 100 keys (misses, as on a cold cache) and BatchWriteItem of
 * 25 items; a batch result's PutObject and GetObject (100 rows, ~21 KB, CRC32 as src/adapters/s3.ts asks). The
 * payloads are built before the clock starts: what is timed is the SDK's work and the emulators'.
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchGetCommand, BatchWriteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createAwsClients } from '../src/adapters/clients';
import { queueUrl } from '../src/adapters/sqs';
import { config } from '../src/config';
import { mapLimit } from '../src/core/batching';
import { encodeMessageBody } from '../src/schemas/message';
import type { FloorOp } from './floorSplit';

const REQUEST_ID = '00000000-0000-4000-8000-00000000f100';
const contact = (i: number) => ({
  first_name: `First${i}`,
  last_name: `Last${i}`,
  company_domain: `company${i % 997}.example.com`,
});
const batchBody = (index: number) =>
  encodeMessageBody({
    requestId: REQUEST_ID,
    batchIndex: index,
    fields: ['professional_email', 'personal_phone'],
    contacts: Array.from({ length: 100 }, (_, i) => contact(index * 100 + i)),
  });
const batchResult = (index: number) =>
  JSON.stringify({
    requestId: REQUEST_ID,
    batchIndex: index,
    rows: Array.from({ length: 100 }, (_, i) => ({
      ...contact(index * 100 + i),
      professional_email: `first${i}.last${i}@company.example.com`,
      personal_phone: '+1 555 0100',
      enrichment_status: 'enriched',
      source: 'provider',
    })),
    usage: { providerCalls: 1, contactsSent: 100, cacheHits: 0, matches: 100, notFound: 0, failed: 0 },
  });
const cacheKey = (i: number) => `v1#professional_email,personal_phone#first${i}|last${i}|company${i % 997}.example.com`;

/** The calling side: one operation at a time, `calls` calls with `concurrency` in flight; its own CPU time too. */
export function floorCaller() {
  const { s3, sqs, ddb } = createAwsClients();
  const c = config();
  let received: Message[][] = [];
  // The payloads, built once before any timing (reused: bodies need not differ, keys do): the floor is the calls alone.
  const bodies = Array.from({ length: 100 }, (_, j) => batchBody(j));
  const results = Array.from({ length: 20 }, (_, j) => batchResult(j));
  const cacheResult = JSON.stringify({
    enrichment_status: 'enriched',
    professional_email: 'first1.last1@company.example.com',
    personal_phone: '+1 555 0100',
  });

  async function call(op: FloorOp, i: number, base: number): Promise<void> {
    const url = op.startsWith('sqs ') ? await queueUrl(c.BATCH_QUEUE_NAME, sqs) : '';
    switch (op) {
      case 'sqs SendMessageBatch':
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: url,
            Entries: Array.from({ length: 10 }, (_, k) => ({
              Id: `b${k}`,
              MessageBody: bodies[(i * 10 + k) % bodies.length],
            })),
          }),
        );
        return;
      case 'sqs ReceiveMessage': {
        const res = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            VisibilityTimeout: 900,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        received[i] = res.Messages ?? [];
        return;
      }
      case 'sqs DeleteMessageBatch': {
        const messages = received[i] ?? [];
        if (messages.length)
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: messages.map((m, k) => ({ Id: `d${k}`, ReceiptHandle: m.ReceiptHandle! })),
            }),
          );
        return;
      }
      case 'dynamodb UpdateItem':
        // As recordBatch (src/adapters/statusTable.ts): shards of 100 offsets, each offset once.
        await ddb.send(
          new UpdateCommand({
            TableName: c.TABLE_NAME,
            Key: { requestId: `shard#${REQUEST_ID}#${Math.floor((base + i) / 100)}` },
            UpdateExpression: 'ADD #done :offSet, #counter :one SET updatedAt = :now, expiresAt = :exp',
            ConditionExpression: 'NOT contains(#done, :off)',
            ExpressionAttributeNames: { '#done': 'done', '#counter': 'processed' },
            ExpressionAttributeValues: {
              ':offSet': new Set([(base + i) % 100]),
              ':off': (base + i) % 100,
              ':one': 1,
              ':now': new Date().toISOString(),
              ':exp': 2_000_000_000,
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return;
      case 'dynamodb BatchGetItem lookup':
        await ddb.send(
          new BatchGetCommand({
            RequestItems: {
              [c.TABLE_NAME]: {
                Keys: [{ requestId: REQUEST_ID }, { requestId: `shard#${REQUEST_ID}#${i % 10}` }],
                ConsistentRead: false,
              },
            },
          }),
        );
        return;
      case 'dynamodb BatchGetItem cache':
        await ddb.send(
          new BatchGetCommand({
            RequestItems: {
              [c.CACHE_TABLE!]: {
                Keys: Array.from({ length: 100 }, (_, k) => ({
                  cacheKey: cacheKey(100_000_000 + (base + i) * 100 + k),
                })),
              },
            },
          }),
        );
        return;
      case 'dynamodb BatchWriteItem':
        await ddb.send(
          new BatchWriteCommand({
            RequestItems: {
              [c.CACHE_TABLE!]: Array.from({ length: 25 }, (_, k) => ({
                PutRequest: {
                  Item: {
                    cacheKey: cacheKey((base + i) * 25 + k),
                    result: cacheResult,
                    cachedAt: new Date().toISOString(),
                    expiresAt: 2_000_000_000,
                  },
                },
              })),
            },
          }),
        );
        return;
      case 's3 PUT':
        await s3.send(
          new PutObjectCommand({
            Bucket: c.BUCKET_NAME,
            Key: `batches/${REQUEST_ID}/${base + i}.json`,
            Body: results[i % results.length],
            ContentType: 'application/json',
            ChecksumAlgorithm: 'CRC32',
          }),
        );
        return;
      case 's3 GET': {
        const res = await s3.send(
          new GetObjectCommand({
            Bucket: c.BUCKET_NAME,
            Key: `batches/${REQUEST_ID}/${base + i}.json`,
            ChecksumMode: 'ENABLED',
          }),
        );
        await res.Body!.transformToString();
        return;
      }
    }
  }

  return {
    /** Untimed: the status item the lookups read, the queue URL. */
    async setUp(): Promise<void> {
      await ddb.send(
        new PutCommand({
          TableName: c.TABLE_NAME,
          Item: { requestId: REQUEST_ID, status: 'processing', totalBatches: 1000, expiresAt: 2_000_000_000 },
        }),
      );
      await queueUrl(c.BATCH_QUEUE_NAME, sqs);
    },
    /**
     * `calls` calls of `op`, keys from `base` on (a warm-up pass first, then the timed one, on keys of their own);
     * receives keep their messages for the next DeleteMessageBatch run.
     */
    async run(
      op: FloorOp,
      calls: number,
      concurrency: number,
      base: number,
    ): Promise<{ wallMs: number; cpuMs: number; messages?: number }> {
      if (op === 'sqs ReceiveMessage') received = [];
      const indexes = Array.from({ length: calls }, (_, i) => i);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await mapLimit(indexes, concurrency, (i) => call(op, i, base));
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      // The messages a receive run brought and the next delete run deleted: 10 a call, or the floor would flatter them.
      const messages = op.startsWith('sqs ') ? received.reduce((n, m) => n + m.length, 0) : undefined;
      return {
        wallMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
        messages: op === 'sqs SendMessageBatch' ? calls * 10 : messages,
      };
    },
    stop: () => {
      s3.destroy();
      sqs.destroy();
      ddb.destroy();
    },
  };
}
