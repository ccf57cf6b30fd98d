import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServerlessConfig, type Doc } from '../../src/local/serverlessConfig';
import { apiEvent, makeContacts } from '../support/factories';
import {
  cancelFn,
  completeUploadFn,
  createUploadFn,
  deliverWebhookFn,
  downloadFn,
  listFn,
  webhookSecretFn,
} from '../support/functions';
import {
  reconcileWith,
  runIntakeSource,
  runPipeline,
  sleep,
  startFaultService,
  takeAllBatchMessages,
  waitForRecord,
} from '../support/faults';
import { submit, waitForFinal } from '../support/flow';
import type { TestService } from '../support/service';

/**
 * Actions a role grants for callers other than the function's own code, which no test here can
 * observe; every other action of every role must be used by one of its functions.
 */
const NOT_CALLED_BY_THE_CODE: Record<string, string> = {
  'logs:CreateLogStream': "Lambda's runtime writes the function's logs",
  'logs:PutLogEvents': "Lambda's runtime writes the function's logs",
  'secretsmanager:GetSecretValue': 'the Datadog extension reads its API key',
  'sqs:GetQueueAttributes': "AWS's SQS event source mapping requires it of the function's role",
  's3:AbortMultipartUpload': 'lib-storage aborts a multipart upload that failed (leavePartsOnError: false)',
};

const FIELDS = ['professional_email'];
const sls = new ServerlessConfig({
  stage: 'iam',
  region: 'us-east-1',
  env: {},
  params: { ddApiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:dd' },
});

/** Each role's statements as serverless.yml writes them (inline and managed policies), variables resolved. */
function roleStatements(): Map<string, Doc[]> {
  const all = sls.resources();
  const out = new Map<string, Doc[]>();
  for (const [id, r] of Object.entries<Doc>(all)) {
    if (r.Type !== 'AWS::IAM::Role') continue;
    const props = sls.resolve(r.Properties) as Doc;
    const managed = ((props.ManagedPolicyArns ?? []) as Doc[]).map((arn) => all[arn.Ref].Properties);
    out.set(
      id,
      [...(props.Policies ?? []), ...managed].flatMap((p: Doc) => (sls.resolve(p.PolicyDocument) as Doc).Statement),
    );
  }
  return out;
}
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

describe("each function's IAM role from serverless.yml, enforced (fauxqs + dynalite behind the local IAM edge)", () => {
  let service: TestService;
  let hook: http.Server | undefined;
  afterEach(async () => {
    hook?.closeAllConnections();
    await new Promise((r) => (hook ? hook.close(r) : r(undefined)));
    hook = undefined;
    await service?.close();
  });

  it('every role allows exactly what its functions do: no denial on any path, and no action that none of them uses', async () => {
    service = await startFaultService({
      REQUEST_DEADLINE_SECONDS: '3',
      RECONCILE_STALL_SECONDS: '1',
      ENRICHMENT_MAX_ATTEMPTS: '1',
      ENRICHMENT_SUBBATCH_MAX_ATTEMPTS: '1',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '1',
      // Poison contacts fail the whole call, so a batch of them looks like an outage and reaches the DLQ.
      MOCK_INVALID_MODE: 'call',
      // Requests of 2 batches or more are assembled by the assembleOutput function (the worker, the DLQ handler
      // and reconcile queue them); a 1-batch request is still assembled inline by the worker.
      ASSEMBLY_INLINE_MAX_BATCHES: '1',
      // The result cache on: the worker reads it (BatchGetItem) before its calls and writes it (BatchWriteItem) after.
      CACHE_TTL_DAYS: '30',
      // Completion webhooks to a receiver on 127.0.0.1, retried after a second.
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_FIRST_RETRY_SECONDS: '1',
    });
    // deliverWebhook: the receiver answers 500 once (a retry is a new message), then 200.
    const answers = [500];
    const received: string[] = [];
    hook = http.createServer((req, out) => {
      req.resume();
      req.on('end', () => {
        received.push(String(req.headers['webhook-id']));
        out.writeHead(answers.shift() ?? 200).end();
      });
    });
    await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', r));
    const callbackUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    // reconcile: a request whose messages are lost is re-sent, then expired at its deadline and assembled.
    const stalled = await submit({ contacts: makeContacts(150), fields_to_enrich: FIELDS });
    const stalledId: string = stalled.json.requestId;
    // A 1-batch one with a callbackUrl: reconcile assembles it inline when it expires and queues its event.
    const stalledSmall = await submit({ contacts: makeContacts(50), fields_to_enrich: FIELDS, callbackUrl });
    const smallId: string = stalledSmall.json.requestId;
    // A duplicate of a running request reads its status, which sums the shard items.
    expect((await submit({ contacts: makeContacts(150), fields_to_enrich: FIELDS })).json).toMatchObject({
      requestId: stalledId,
      duplicate: true,
    });
    // The download of a running request reads its status, which sums the shard items.
    expect((await downloadFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: stalledId } }))).statusCode).toBe(
      302,
    );
    // The list (the owner index) sums a running request's shard items too.
    const listed = await listFn()(apiEvent({ httpMethod: 'GET', path: '/enrichment' }));
    const ids = (entries: Array<{ requestId: string }>) => entries.map((e) => e.requestId).sort();
    expect(ids(JSON.parse(listed.body).requests)).toEqual([stalledId, smallId].sort());
    await takeAllBatchMessages(service);
    await sleep(1_200);
    const resent = (await reconcileWith()()).reconciled;
    expect(ids(resent)).toEqual([stalledId, smallId].sort());
    expect(resent.every((r) => r.action === 'resent')).toBe(true);
    await takeAllBatchMessages(service);
    await sleep(2_000);
    // Its assembly is queued: assembleOutput finishes it once the pipeline runs (below), reading failure
    // records only (a read of a missing <index>.json: s3:ListBucket makes it a 404). The 1-batch one is assembled
    // inline, and its event queued by reconcile.
    expect((await reconcileWith()()).reconciled).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ requestId: stalledId, action: 'expired', assembly: 'queued' }),
        expect.objectContaining({ requestId: smallId, action: 'expired', assembly: 'inline' }),
      ]),
    );
    // Reconcile, having assembled it, deletes its batch results.
    expect(await service.listKeys(`${smallId}/batches/`)).toEqual([]);

    // create (inline, an S3 reference, a missing reference), intake, worker, dead-letter handler, status, download.
    await service.s3.send(
      new PutObjectCommand({
        Bucket: service.bucket,
        Key: 'uploads/iam.json',
        Body: JSON.stringify({ contacts: makeContacts(3) }),
      }),
    );
    // With a callbackUrl: a 1-batch request, assembled inline by the worker, which queues its event.
    const referenced = await submit({
      contacts: `s3://${service.bucket}/uploads/iam.json`,
      fields_to_enrich: FIELDS,
      callbackUrl,
    });
    expect(referenced.statusCode).toBe(202);
    // A duplicate reads the dedup item and the status item it points at.
    expect(
      (await submit({ contacts: `s3://${service.bucket}/uploads/iam.json`, fields_to_enrich: FIELDS })).statusCode,
    ).toBe(200);
    expect((await submit({ contacts: 'uploads/missing.json', fields_to_enrich: FIELDS })).statusCode).toBe(400);
    // intake: the reference above is validated, sent and moved to processing; an upload removed before its
    // intake ends rejected (a read of a missing key: s3:ListBucket makes it a 404).
    await service.s3.send(
      new PutObjectCommand({
        Bucket: service.bucket,
        Key: 'uploads/iam-gone.csv',
        Body: 'first_name,last_name,company_domain\nA,B,a.com\n',
      }),
    );
    // With a callbackUrl: the create call makes the signing secret; the intake queues the rejected request's event.
    const gone = await submit({ contacts: 'uploads/iam-gone.csv', fields_to_enrich: FIELDS, callbackUrl });
    await service.s3.send(new DeleteObjectCommand({ Bucket: service.bucket, Key: 'uploads/iam-gone.csv' }));
    // cancel: an inline request (its status read sums the shard items; its worker records it without the provider)
    // and an upload cancelled before its intake, which records its batch as cancelled instead of sending it.
    const cancel = async (id: string) =>
      (await cancelFn()(apiEvent({ httpMethod: 'POST', pathParameters: { id } }))).statusCode;
    const inlineCancelled = await submit({ contacts: makeContacts(5), fields_to_enrich: FIELDS });
    expect(await cancel(inlineCancelled.json.requestId)).toBe(202);
    await service.s3.send(
      new PutObjectCommand({
        Bucket: service.bucket,
        Key: 'uploads/iam-cancel.json',
        Body: JSON.stringify({ contacts: makeContacts(4) }),
      }),
    );
    const uploadCancelled = await submit({ contacts: 'uploads/iam-cancel.json', fields_to_enrich: FIELDS });
    expect(await cancel(uploadCancelled.json.requestId)).toBe(202);
    runIntakeSource(service);
    await waitForRecord(gone.json.requestId, (r) => r.status === 'rejected');
    const poisoned = makeContacts(102, { poison: new Set([100, 101]) }); // batch 1: every contact fails, so it is dead-lettered
    const res = await submit({ contacts: poisoned, fields_to_enrich: FIELDS, callbackUrl });
    runPipeline(service, { concurrency: 2 });
    const webhooks = service.resources.queues.WebhookQueue;
    service.deliver(webhooks.url, webhooks.arn, deliverWebhookFn(), { functionKey: 'deliverWebhook' });
    await waitForRecord(stalledId, (r) => r.status === 'failed');
    const final = await waitForFinal(res.json.requestId, 30_000);
    expect(final).toMatchObject({ status: 'completed_with_errors', processedBatches: 1, failedBatches: 1 });
    expect((await waitForFinal(referenced.json.requestId, 30_000)).status).toBe('completed');
    expect((await waitForFinal(inlineCancelled.json.requestId, 30_000)).status).toBe('cancelled');
    expect((await waitForFinal(uploadCancelled.json.requestId, 30_000)).status).toBe('cancelled');
    const redirect = await downloadFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: res.json.requestId } }));
    const download = await fetch(String(redirect.headers?.location));
    expect(download.status).toBe(200);
    expect(((await download.json()) as { enriched_contacts: unknown[] }).enriched_contacts).toHaveLength(102);
    // The four events delivered, one after a retry: queued by the intake (the rejected upload), assembleOutput (the
    // 2-batch request), the worker (the 1-batch upload) and reconcile (the expired 1-batch request).
    const events = [gone.json.requestId, res.json.requestId, referenced.json.requestId, smallId];
    for (const id of events) await waitForRecord(id, (r) => r.webhook?.state === 'delivered');
    expect(received).toHaveLength(5);
    expect(new Set(received)).toEqual(new Set(events.map((id) => `evt_${id}`)));
    // webhookSecret: the secret read, then rotated.
    expect((await webhookSecretFn()(apiEvent({ httpMethod: 'GET' }))).statusCode).toBe(200);
    expect((await webhookSecretFn()(apiEvent({ httpMethod: 'POST' }))).statusCode).toBe(200);

    // Direct uploads: create (presigning, the upload's record), a part PUT with the part URL (signed as
    // createUpload), complete (the record read and claimed, HeadObject of the result), an object over the cap
    // deleted, and an upload aborted by the lifecycle rule (HeadObject of a missing key: s3:ListBucket makes it a 404).
    for (const [maxBytes, status] of [
      [1_000, 200],
      [4, 400],
      [1_000, 404],
    ]) {
      const headers = { 'x-api-key': 'iam-test-key', 'content-type': 'application/json' };
      const created = await createUploadFn()(apiEvent({ body: JSON.stringify({ size: 5 }), headers }));
      const up = JSON.parse(created.body);
      const put = await fetch(up.parts[0].url, { method: 'PUT', body: '{"a"}' });
      expect(put.status).toBe(200);
      if (status === 404) {
        await service.s3.send(
          new AbortMultipartUploadCommand({ Bucket: service.bucket, Key: up.key, UploadId: up.uploadId }),
        );
      }
      const body = JSON.stringify({ key: up.key, parts: [{ partNumber: 1, etag: put.headers.get('etag') }] });
      const done = await completeUploadFn({ maxBytes })(
        apiEvent({ body, headers, pathParameters: { uploadId: up.uploadId } }),
      );
      expect(done.statusCode).toBe(status);
    }

    // No denial happened (test/support/iamGuard.ts); now every granted action must have been used.
    const used = service.iam.used();
    const roleOf = new Map(Object.entries(sls.functions()).map(([key, fn]) => [key, fn.role as string]));
    const unused: string[] = [];
    for (const [role, statements] of roleStatements()) {
      const fns = [...roleOf].filter(([, r]) => r === role).map(([key]) => key);
      for (const action of statements.flatMap((s) => list(s.Action)) as string[]) {
        if (NOT_CALLED_BY_THE_CODE[action]) continue;
        if (!fns.some((fn) => used.has(`${fn} ${action}`)))
          unused.push(`${role} grants ${action}, which none of ${fns.join(', ')} uses`);
      }
    }
    expect(unused).toEqual([]);
  }, 60_000);

  it('deliverWebhook dead-letters an event whose attempts are spent (its role sends to the webhook DLQ)', async () => {
    service = await startFaultService({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_MAX_ATTEMPTS: '1' });
    hook = http.createServer((req, out) => {
      req.resume();
      req.on('end', () => out.writeHead(500).end());
    });
    await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', r));
    const callbackUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const res = await submit({ contacts: makeContacts(2), fields_to_enrich: FIELDS, callbackUrl });
    runPipeline(service, { concurrency: 1 });
    const webhooks = service.resources.queues.WebhookQueue;
    service.deliver(webhooks.url, webhooks.arn, deliverWebhookFn(), { functionKey: 'deliverWebhook' });
    await waitForRecord(res.json.requestId, (r) => r.webhook?.state === 'failed');
    expect(await service.queueDepth(service.resources.queues.WebhookDeadLetterQueue.url)).toBe(1);
  });

  it('a call outside the role fails as AWS fails it, naming the function, the action and the resource', async () => {
    service = await startFaultService();
    const status = service.as('getEnrichmentStatus');
    const tableArn = `arn:aws:dynamodb:us-east-1:000000000000:table/${service.table}`;
    await expect(
      status.ddb.send(new PutCommand({ TableName: service.table, Item: { requestId: 'x' } })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining(`is not authorized to perform: dynamodb:PutItem on resource: ${tableArn}`),
    });
    await expect(status.s3.send(new ListObjectsV2Command({ Bucket: service.bucket }))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    expect(service.iam.takeDenials().map((d) => `${d.functionKey} ${d.action} ${d.resource}`)).toEqual([
      `getEnrichmentStatus dynamodb:PutItem ${tableArn}`,
      `getEnrichmentStatus s3:ListBucket arn:aws:s3:::${service.bucket}`,
    ]);
    expect(await service.scanTable()).toBe(0);
  });

  it('an S3 read of a missing key answers 403 to a role without s3:ListBucket and 404 to one with it, as on AWS', async () => {
    service = await startFaultService();
    const read = (fn: string) =>
      service.as(fn).s3.send(new GetObjectCommand({ Bucket: service.bucket, Key: 'nothing/output.json' }));
    await expect(read('downloadEnrichment')).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(read('processBatch')).rejects.toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    expect(service.iam.takeDenials()).toEqual([
      expect.objectContaining({ functionKey: 'downloadEnrichment', action: 's3:ListBucket' }),
    ]);
  });

  it('a statement removed from serverless.yml shows up as a denial naming the function, the action and the resource', async () => {
    // ProcessBatchRole without s3:ListBucket: the DLQ handler's read of a batch result that does not exist.
    service = await startFaultService(
      {
        ENRICHMENT_MAX_ATTEMPTS: '1',
        ENRICHMENT_SUBBATCH_MAX_ATTEMPTS: '1',
        ENRICHMENT_SINGLE_MAX_ATTEMPTS: '1',
        MOCK_INVALID_MODE: 'call',
      },
      (config) => {
        const policy = config.resources().ProcessBatchRole.Properties.Policies[0].PolicyDocument;
        const before = policy.Statement.length;
        policy.Statement = policy.Statement.filter((s: Doc) => !list(s.Action).includes('s3:ListBucket'));
        expect(policy.Statement.length).toBe(before - 1);
      },
    );
    const res = await submit({ contacts: makeContacts(2, { poison: new Set([0, 1]) }), fields_to_enrich: FIELDS });
    runPipeline(service, { concurrency: 1 });
    await waitForFinal(res.json.requestId, 30_000);
    const denials = service.iam.takeDenials().map((d) => `${d.functionKey} ${d.action} ${d.resource}`);
    expect(denials).toContain(`handleFailedBatch s3:ListBucket arn:aws:s3:::${service.bucket}`);
  });

  it('no role grants a wildcard action or an unscoped resource', () => {
    const loose: string[] = [];
    for (const [role, statements] of roleStatements()) {
      for (const s of statements) {
        for (const a of list(s.Action) as string[]) if (a.includes('*')) loose.push(`${role}: action ${a}`);
        for (const r of list(s.Resource))
          if (r === '*') loose.push(`${role}: resource * for ${list(s.Action).join(', ')}`);
      }
    }
    expect(loose).toEqual([]);
  });
});
