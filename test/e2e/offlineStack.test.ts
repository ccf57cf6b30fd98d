import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TOO_LARGE_MESSAGE } from '../../src/inlineLimits';
import { makeContacts } from '../support/factories';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startTestStack, TEST_API_KEY, type RunningStack } from '../support/npmStart';

const FIELDS = ['professional_email', 'personal_phone'];

/** The `npm start` code path: emulators, resources from serverless.yml, serverless offline over HTTP. */
describe('offline stack end to end (HTTP on free ports)', () => {
  let stack: RunningStack;
  let api: string;

  beforeAll(async () => {
    // Quick retries, so that a batch that keeps failing reaches the dead-letter queue within seconds.
    // A provider that fails the whole call for a bad contact (MOCK_INVALID_MODE=call), with the breaker out of reach.
    stack = await startTestStack({
      ENRICHMENT_MAX_ATTEMPTS: '2',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '2',
      LOCAL_RETRY_VISIBILITY_SECONDS: '1',
      MOCK_INVALID_MODE: 'call',
      ENRICHMENT_BREAKER_THRESHOLD: '1000',
      // Small jobs on 2 cores: four workers do them as fast as eight, and start sooner.
      LOCAL_WORKERS: '4',
    });
    api = stack.apiUrl;
  }, 180_000);
  afterAll(async () => {
    // Ctrl-C stops everything and exits 0.
    expect(await stack?.stop()).toBe(0);
  });

  const KEY = { 'x-api-key': TEST_API_KEY };
  const post = (body: string, headers: Record<string, string> = KEY) =>
    fetch(`${api}/enrichment`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const get = (url: string) => fetch(url.startsWith('http') ? url : `${api}${url}`, { headers: KEY });

  async function waitForFinal(id: string, timeoutMs = 120_000): Promise<Record<string, any>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const res = await get(`/enrichment/${id}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, any>;
      if (body.status !== 'processing') return body;
      if (Date.now() > until) throw new Error(`still processing: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it("runs its functions on the repository's own packages: nothing installed into the build folder", () => {
    // The deployed zips get the SDK installed beside each bundle; offline that was an `npm ci` on every start.
    const build = path.join(__dirname, '../../.esbuild-offline/.build');
    expect(existsSync(path.join(build, 'src/handlers/processBatch.js'))).toBe(true);
    expect(existsSync(path.join(build, 'node_modules'))).toBe(false);
    // Still left out of the bundle, so the function finds it in the repository's node_modules.
    expect(readFileSync(path.join(build, 'src/handlers/processBatch.js'), 'utf8')).toContain('@aws-sdk/client-sqs');
  });

  it('accepts a job, reports progress, and serves the output through the download link', async () => {
    const contacts = makeContacts(1_234, { extra: true });
    const res = await post(JSON.stringify({ contacts, fields_to_enrich: FIELDS }));
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as Record<string, any>;
    expect(accepted).toMatchObject({ message: 'Request accepted', totalContacts: 1234, totalBatches: 13 });
    expect(accepted.downloadUrl).toBe(`${api}/enrichment/${accepted.requestId}/download`);

    const final = await waitForFinal(accepted.requestId);
    expect(final).toMatchObject({
      status: 'completed',
      processedBatches: 13,
      failedBatches: 0,
      totalBatches: 13,
      totalContacts: 1234,
    });

    // A client without AWS credentials follows the redirect to a presigned URL.
    const download = await get(accepted.downloadUrl);
    expect(download.status).toBe(200);
    const doc = (await download.json()) as { requestId: string; enriched_contacts: Array<Record<string, unknown>> };
    expect(doc.requestId).toBe(accepted.requestId);
    expect(doc.enriched_contacts.map((r) => r.first_name)).toEqual(contacts.map((c) => c.first_name));
    expect(doc.enriched_contacts.every((r) => FIELDS.every((f) => f in r) && !('job_title' in r))).toBe(true);
    expect(doc.enriched_contacts[7]).toMatchObject({ crm_id: 'crm-7' });
  });

  it('takes an inline body of 50,000 contacts (about 4 MB) and finishes it', async () => {
    const contacts = makeContacts(50_000);
    const body = JSON.stringify({ contacts, fields_to_enrich: ['professional_email'] });
    expect(Buffer.byteLength(body)).toBeGreaterThan(3_500_000);
    const res = await post(body);
    expect(res.status).toBe(202);
    const { requestId } = (await res.json()) as { requestId: string };
    const final = await waitForFinal(requestId, 240_000);
    expect(final).toMatchObject({ status: 'completed', processedBatches: 500, totalContacts: 50_000 });
    const doc = (await (await get(`/enrichment/${requestId}/download`)).json()) as {
      enriched_contacts: Array<{ last_name: string }>;
    };
    expect(doc.enriched_contacts).toHaveLength(50_000);
    expect(doc.enriched_contacts[49_999].last_name).toBe('Last49999');
  }, 300_000);

  it('answers 400 with field paths for bad input, 404 for an unknown id, 400 for a non-UUID id', async () => {
    const bad = await post(
      JSON.stringify({
        contacts: [{ first_name: 'A', last_name: 'B', company_domain: 'nope' }],
        fields_to_enrich: ['shoe_size'],
      }),
    );
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { errors: Array<{ path: string }> };
    expect(body.errors.map((e) => e.path).sort()).toEqual(['contacts[0].company_domain', 'fields_to_enrich[0]']);
    expect((await post('{"contacts": [')).status).toBe(400);
    expect((await get('/enrichment/3f1c2a9e-6b7d-4c8e-9f0a-1b2c3d4e5f60')).status).toBe(404);
    expect((await get('/enrichment/not-a-uuid')).status).toBe(400);
  });

  it('answers 413 with the S3 path for a body over 10 MB', async () => {
    const res = await post(
      JSON.stringify({ contacts: makeContacts(1), fields_to_enrich: FIELDS, pad: 'x'.repeat(10 * 1024 * 1024 + 10) }),
    );
    expect(res.status).toBe(413);
    expect(((await res.json()) as { message: string }).message).toMatch(/s3:\/\//);
  });

  it('finishes a request whose batch is dead-lettered within a minute, every function inside its IAM role', async () => {
    // Batch 1 holds only poison contacts: every try fails, so after 5 deliveries it goes to the DLQ.
    const contacts = makeContacts(150, { poison: new Set(Array.from({ length: 50 }, (_, i) => 100 + i)) });
    const started = Date.now();
    const res = await post(JSON.stringify({ contacts, fields_to_enrich: FIELDS }));
    expect(res.status).toBe(202);
    const { requestId } = (await res.json()) as { requestId: string };
    const final = await waitForFinal(requestId, 60_000);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(final).toMatchObject({
      status: 'completed_with_errors',
      processedBatches: 1,
      failedBatches: 1,
      summary: { failed: 50 },
    });
    // The local IAM edge prints every call a function's role would not allow on AWS.
    expect(stack.output()).not.toMatch(/IAM denied/);
  }, 90_000);

  it("answers 413 with the upload hint for a 5.5 MB and a 9 MB body (under API Gateway's 10 MB, over Lambda's 6 MB event)", async () => {
    const mib = 1024 * 1024;
    for (const [count, low, high] of [
      [62_500, 5.5, 5.6],
      [102_000, 9, 9.1],
    ]) {
      const body = JSON.stringify({ contacts: makeContacts(count), fields_to_enrich: FIELDS });
      expect(Buffer.byteLength(body) / mib).toBeGreaterThan(low);
      expect(Buffer.byteLength(body) / mib).toBeLessThan(high);
      const res = await post(body);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { message: string }).message).toBe(TOO_LARGE_MESSAGE);
    }
    expect(TOO_LARGE_MESSAGE).toContain('s3://<bucket>/uploads/<key>');
  });

  it('answers 403 naming x-api-key without a key or with a wrong one, on every route, and writes nothing', async () => {
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: stack.s3Endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const objects = async () =>
      (await s3.send(new ListObjectsV2Command({ Bucket: 'enrichment-service-local-data' }))).KeyCount;
    const before = await objects();
    const body = JSON.stringify({ contacts: makeContacts(3), fields_to_enrich: FIELDS });
    for (const headers of [{}, { 'x-api-key': 'not-the-key' }] as Array<Record<string, string>>) {
      const answers = [
        await post(body, headers),
        await fetch(`${api}/enrichment/3f1c2a9e-6b7d-4c8e-9f0a-1b2c3d4e5f60`, { headers }),
        await fetch(`${api}/enrichment/3f1c2a9e-6b7d-4c8e-9f0a-1b2c3d4e5f60/download`, { headers }),
        await fetch(`${api}/mock/enrich`, { method: 'POST', headers, body: '{}' }),
      ];
      expect(answers.map((r) => r.status)).toEqual([403, 403, 403, 403]);
      expect(((await answers[0].json()) as { message: string }).message).toMatch(/x-api-key/);
    }
    expect(await objects()).toBe(before);
    s3.destroy();
  });

  it('serves the mock enrichment API', async () => {
    const res = await fetch(`${api}/mock/enrich`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...KEY },
      body: JSON.stringify({ contacts: makeContacts(2), fields: ['job_title'] }),
    });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: unknown[] };
    expect(results).toHaveLength(2);
  });
});
