/**
 * npm run bench: the pipeline in one process on the emulators (fauxqs + dynalite), through the real
 * handlers and AWS SDK code, for growing request sizes. Reports wall time and throughput of whole
 * jobs, and the memory the output assembly needs as the request grows.
 *
 *   npm run bench                       # 10k, 50k, 100k contacts
 *   npm run bench -- --sizes 10000,200000 --workers 8 --assembly-sizes 10000,1000000 --json
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { resetClients } from '../src/adapters/clients';
import { s3ObjectStore } from '../src/adapters/s3';
import { resetQueueUrls } from '../src/adapters/sqs';
import { dynamoStatusStore } from '../src/adapters/statusTable';
import { resetConfig } from '../src/config';
import { handler as create } from '../src/handlers/createEnrichment';
import { handler as mockEnrich } from '../src/handlers/mockEnrich';
import { handler as worker } from '../src/handlers/processBatch';
import { startEmulators, useFakeAwsCredentials } from '../src/local/emulators';
import { provisionFromServerlessYml } from '../src/local/provision';
import { ServerlessConfig } from '../src/local/serverlessConfig';
import { startSqsEventSource } from '../src/local/sqsEventSource';
import { assemblyMemory } from './assembly';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,50000,100000' },
    'assembly-sizes': { type: 'string', default: '10000,100000,1000000' },
    workers: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes!.split(',').map(Number);
const workers = Number(values.workers);

function contacts(n: number) {
  return Array.from({ length: n }, (_, i) => ({ first_name: `First${i}`, last_name: `Last${i}`, company_domain: `company${i % 997}.example.com` }));
}

async function main(): Promise<void> {
  useFakeAwsCredentials();
  process.env.LOG_SILENT = 'true';
  process.env.METRICS_ENABLED = 'false';
  const emulators = await startEmulators({ s3SqsPort: 0, dynamodbPort: 0 });

  // The mock API's handler behind a real HTTP server, no added latency: the pipeline's own cost.
  process.env.MOCK_LATENCY_MS = '0';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const r = await mockEnrich({ body: Buffer.concat(chunks).toString('utf8') } as never);
      res.writeHead(r.statusCode, r.headers as http.OutgoingHttpHeaders);
      res.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

  const rows: Array<Record<string, number | string>> = [];
  for (const [i, size] of sizes.entries()) {
    const stage = `bench${i}`;
    const sls = new ServerlessConfig({ stage, region: 'us-east-1', env: {} });
    const resources = await provisionFromServerlessYml(sls, emulators);
    Object.assign(process.env, sls.environment(), {
      S3_ENDPOINT: emulators.s3Endpoint,
      SQS_ENDPOINT: emulators.sqsEndpoint,
      DYNAMODB_ENDPOINT: emulators.dynamodbEndpoint,
      ENRICHMENT_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mock/enrich`,
      PUBLIC_API_URL: 'http://localhost:3000',
      METRICS_ENABLED: 'false',
    });
    // A new "cold start" per size: config and clients are read again from the environment.
    resetConfig();
    resetClients();
    resetQueueUrls();

    const fields = ['professional_email', 'personal_phone'];
    const input = contacts(size);
    const t0 = performance.now();
    let res = await create({ body: JSON.stringify({ contacts: input, fields_to_enrich: fields }), requestContext: { requestId: 'bench' } } as never);
    let path = 'inline';
    if (res.statusCode === 413) {
      // Too large to send inline (README: Limits): the S3 path, as the users' scripts take it.
      const key = `uploads/bench-${size}.json`;
      await s3ObjectStore().upload(key, Readable.from([JSON.stringify({ contacts: input })]));
      res = await create({ body: JSON.stringify({ contacts: key, fields_to_enrich: fields }), requestContext: { requestId: 'bench' } } as never);
      path = 'S3 upload';
    }
    if (res.statusCode !== 202) throw new Error(`create answered ${res.statusCode}: ${res.body}`);
    const { requestId } = JSON.parse(res.body) as { requestId: string };
    const accepted = performance.now() - t0;

    // Memory of the processing phase (workers + assembly), sampled while it runs.
    (globalThis as { gc?: () => void }).gc?.();
    const heapBase = process.memoryUsage().heapUsed;
    let peakHeap = heapBase;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }, 10);
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: emulators.sqsEndpoint });
    const queue = resources.queues.BatchQueue;
    const source = startSqsEventSource({
      sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      batchSize: 1,
      reportBatchItemFailures: true,
      concurrency: workers,
      visibilityTimeout: 30,
      waitTimeSeconds: 1,
      invoke: worker as never,
    });
    const status = dynamoStatusStore();
    for (;;) {
      const record = await status.get(requestId);
      if (record && record.status !== 'processing') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const total = performance.now() - t0;
    clearInterval(sampler);
    await source.stop();
    sqs.destroy();
    rows.push({
      contacts: size,
      path,
      batches: Math.ceil(size / 100),
      'accept ms': Math.round(accepted),
      'job s': +(total / 1000).toFixed(2),
      'contacts/s': Math.round(size / (total / 1000)),
      'processing heap peak MB': Math.round((peakHeap - heapBase) / 1048576),
      'peak RSS MB': Math.round(peakRss / 1048576),
    });
    if (!values.json) console.error(`done ${size}`);
  }
  server.close();
  await emulators.stop();

  const assembly = [];
  for (const size of values['assembly-sizes']!.split(',').map(Number)) assembly.push(await assemblyMemory(size));

  if (values.json) console.log(JSON.stringify({ workers, jobs: rows, assembly }, null, 2));
  else {
    console.log(`Whole jobs on the emulators (${workers} workers, mock latency 0; the emulators share this process's heap):`);
    console.table(rows);
    console.log('Output assembly alone (streamed; heap peak above the baseline):');
    console.table(assembly);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
