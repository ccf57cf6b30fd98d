/**
 * The assembly's time against S3 on the emulator (fauxqs, in this process), as the assembleOutput function
 * runs it: `contacts` rows in batch objects of 100, read back in order (8 in flight) and written as
 * output.json, output.ndjson and output.csv through multipart uploads. The status store is a stand-in (one
 * get, one finalize: DynamoDB is not what the time is spent on).
 *
 *   npx ts-node --transpile-only bench/assemblyOnEmulators.ts [contacts=1000000]
 */
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { s3ObjectStore } from '../src/adapters/s3';
import { assembleOutput } from '../src/core/assembleOutput';
import { mapLimit } from '../src/core/batching';
import { noFaults, systemClock, type StatusStore } from '../src/core/ports';
import { keys, outputKey } from '../src/core/status';
import { startEmulators } from '../src/local/emulators';
import { createLogger } from '../src/logger';
import type { StatusRecord } from '../src/schemas/status';

async function main() {
  const contacts = Number(process.argv[2] ?? 1_000_000);
  const batches = Math.ceil(contacts / 100);
  const requestId = '00000000-0000-4000-8000-000000000001';
  const emu = await startEmulators({ s3SqsPort: 0, dynamodbPort: 0 });
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: emu.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const bucket = 'assembly-bench';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const t0 = performance.now();
  await mapLimit(
    Array.from({ length: batches }, (_, i) => i),
    16,
    async (index) => {
      const rows = Array.from({ length: Math.min(100, contacts - index * 100) }, (_, i) => ({
        first_name: `First${index * 100 + i}`,
        last_name: `Last${index * 100 + i}`,
        company_domain: 'company.example.com',
        professional_email: `first${i}.last${i}@company.example.com`,
        personal_phone: '+1 555 0100',
        enrichment_status: 'enriched',
      }));
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: keys.batch(requestId, index),
          Body: JSON.stringify({ requestId, batchIndex: index, rows }),
        }),
      );
    },
  );
  const seeded = (performance.now() - t0) / 1000;

  const record = {
    requestId,
    status: 'processing',
    totalContacts: contacts,
    totalBatches: batches,
    processedBatches: batches,
    failedBatches: 0,
    fields: ['professional_email', 'personal_phone'],
  } as unknown as StatusRecord;
  const status = { get: async () => record, finalize: async () => true } as unknown as StatusStore;
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
  const t1 = performance.now();
  const outcome = await assembleOutput(requestId, {
    store: s3ObjectStore(bucket, s3),
    status,
    clock: systemClock,
    log: createLogger(),
    faults: noFaults,
  });
  const seconds = (performance.now() - t1) / 1000;
  clearInterval(sampler);
  const sizes: Record<string, number> = {};
  for (const f of ['json', 'ndjson', 'csv'] as const) {
    sizes[f] =
      (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: outputKey(requestId, f) }))).ContentLength ?? 0;
  }
  const written = Object.values(sizes).reduce((a, b) => a + b, 0);
  console.log(
    JSON.stringify({
      contacts,
      batches,
      outcome,
      seedSeconds: +seeded.toFixed(1),
      assemblySeconds: +seconds.toFixed(1),
      writtenMB: +(written / 1048576).toFixed(0),
      sizes,
      rssPeakMB: +(rssPeak / 1048576).toFixed(0),
    }),
  );
  s3.destroy();
  await emu.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
