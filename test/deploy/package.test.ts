import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import JSZip from 'jszip';

/**
 * `sls package` of serverless.yml as a new user would run it before a deploy: offline, with fake
 * credentials, and any AWS SDK call pointed at a closed port so nothing can reach AWS.
 */
const ROOT = path.resolve(__dirname, '../..');
const SLS = path.join(ROOT, 'node_modules/serverless/bin/serverless.js');
const DD_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:datadog-api-key-AbCdEf';
const PDL_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:pdl-api-key-GhIjKl';

type Template = {
  Resources: Record<
    string,
    { Type: string; Properties?: any; DeletionPolicy?: string; UpdateReplacePolicy?: string; Tags?: unknown }
  >;
};

interface Packaged {
  code: number;
  output: string;
  template?: Template;
  /** Where the zips are. */
  dir: string;
}

const TEMPLATE = 'cloudformation-template-update-stack.json';
const dirs: string[] = [];

async function slsPackage(args: string[]): Promise<Packaged> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sls-package-'));
  dirs.push(dir);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [SLS, 'package', ...args, '--package', dir],
      { cwd: ROOT, env, timeout: 240_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
      },
    );
  });
  return { ...(await packaged(dir)), code, output };
}

/** What `sls package --package <dir>` left in the folder. */
async function packaged(dir: string): Promise<Packaged> {
  const file = path.join(dir, TEMPLATE);
  const written = await stat(file).then(
    () => true,
    () => false,
  );
  return {
    code: 0,
    output: '',
    dir,
    template: written ? (JSON.parse(await readFile(file, 'utf8')) as Template) : undefined,
  };
}

let prodMissing: Packaged;
let prod: Packaged;
let dev: Packaged;

// One after the other: serverless-esbuild builds in the project's one .esbuild folder (and installs the AWS SDK
// into each zip: about a minute each). Run at once, each in its own work folder, they still shared the .serverless
// folder the zips are written to: one failed to hash another's zip (CI, 2026-12-07).
beforeAll(async () => {
  prodMissing = await slsPackage([
    '--stage',
    'prod',
    '--param=workerTimeoutSeconds=120',
    '--param=enrichmentProvider=peopledatalabs',
  ]);
  // prod on the real provider, as a team paying People Data Labs deploys it (docs/providers.md).
  prod = await slsPackage([
    '--stage',
    'prod',
    '--param=enrichmentProvider=peopledatalabs',
    '--param=enrichmentApiUrl=https://api.peopledatalabs.com',
    `--param=pdlApiKeySecretArn=${PDL_SECRET}`,
    `--param=ddApiKeySecretArn=${DD_SECRET}`,
    '--param=workerMaxConcurrency=20',
    '--param=resultTtlDays=7',
    '--param=workerTimeoutSeconds=30',
    '--param=queueVisibilitySeconds=180',
    '--param=apiThrottleRateLimit=5',
  ]);
  // CI (.ci/run) has packaged the dev stage with these very arguments before the tests: reused, not made again.
  dev = process.env.DEPLOY_TEST_DEV_PACKAGE
    ? await packaged(process.env.DEPLOY_TEST_DEV_PACKAGE)
    : await slsPackage(['--stage', 'dev', '--param=datadogEnabled=false']);
}, 600_000);

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const resources = (p: Packaged) => {
  if (!p.template) throw new Error(`sls package failed (exit ${p.code}):\n${p.output.slice(-3000)}`);
  return p.template.Resources;
};
const env = (p: Packaged, fn: string) => resources(p)[`${fn}LambdaFunction`].Properties.Environment.Variables;
const roleKeys = (p: Packaged) => Object.keys(resources(p)).filter((k) => resources(p)[k].Type === 'AWS::IAM::Role');

describe('sls package --stage prod', () => {
  it("passes the template check (deploy/checkTemplate.js) with Datadog on: the plugin's layer, handler and secret policy included", async () => {
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(ROOT, 'deploy/checkTemplate.js'), path.join(prod.dir, TEMPLATE)],
        { cwd: ROOT },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
    });
    expect(result).toMatchObject({ code: 0 });
    expect(resources(prod).ProcessBatchLambdaFunction.Properties.Layers).toBeDefined();
  });

  it('fails without enrichmentApiUrl and the Datadog secret, naming both params and how to pass them', () => {
    expect(prodMissing.code).not.toBe(0);
    expect(prodMissing.template).toBeUndefined();
    expect(prodMissing.output).toContain('Stage "prod" is not fully configured');
    expect(prodMissing.output).toContain(
      'enrichmentApiUrl is required: stage "prod" deploys no mock enrichment API (mockApi is false)',
    );
    expect(prodMissing.output).toContain(
      '--param="enrichmentApiUrl=https://…" (or set enrichmentApiUrl under prod in serverless/params.yml)',
    );
    expect(prodMissing.output).toContain('ddApiKeySecretArn is required while Datadog is on');
    expect(prodMissing.output).toContain(
      'pdlApiKeySecretArn is required with enrichmentProvider peopledatalabs: the Secrets Manager ARN of the People Data Labs API key',
    );
  });

  it('fails when the queues would hand a batch out again while its worker still runs (visibility < 6x the worker timeout)', () => {
    expect(prodMissing.output).toContain(
      'queueVisibilitySeconds (360) must be at least 6 times workerTimeoutSeconds (120), as AWS requires of an SQS event source: pass --param="queueVisibilitySeconds=720"',
    );
  });

  it("serves the API from a regional endpoint, so a body over 10 MB gets the gateway response with the S3 hint (an edge-optimized one answers CloudFront's plain text)", () => {
    expect(resources(prod).ApiGatewayRestApi.Properties.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
  });

  it('requires an API key on every method, with a usage plan whose throttle and quota come from params, and a 403 that says what to send', () => {
    const methods = Object.values(resources(prod)).filter((r) => r.Type === 'AWS::ApiGateway::Method');
    expect(methods.length).toBeGreaterThanOrEqual(3);
    expect(methods.filter((m) => m.Properties.ApiKeyRequired !== true)).toEqual([]);
    const plans = Object.values(resources(prod)).filter((r) => r.Type === 'AWS::ApiGateway::UsagePlan');
    expect(plans).toHaveLength(1);
    expect(plans[0].Properties).toMatchObject({
      Throttle: { RateLimit: 5, BurstLimit: 100 },
      Quota: { Limit: 100000, Period: 'DAY' },
    });
    expect(Object.values(resources(prod)).filter((r) => r.Type === 'AWS::ApiGateway::ApiKey')).toHaveLength(1);
    expect(Object.values(resources(prod)).filter((r) => r.Type === 'AWS::ApiGateway::UsagePlanKey')).toHaveLength(1);
    expect(resources(prod).InvalidApiKeyResponse.Properties).toMatchObject({
      ResponseType: 'INVALID_API_KEY',
      StatusCode: '403',
    });
    expect(resources(prod).InvalidApiKeyResponse.Properties.ResponseTemplates['application/json']).toContain(
      'x-api-key',
    );
  });

  it("takes the worker timeout and the queues' visibility timeout from params", () => {
    expect(resources(prod).ProcessBatchLambdaFunction.Properties.Timeout).toBe(30);
    expect(resources(prod).HandleFailedBatchLambdaFunction.Properties.Timeout).toBe(30);
    for (const queue of ['BatchQueue', 'BatchDeadLetterQueue'])
      expect(Number(resources(prod)[queue].Properties.VisibilityTimeout)).toBe(180);
  });

  it('with them: no mock function, role or route, and the worker calls the given API', () => {
    const keys = Object.keys(resources(prod));
    expect(keys.filter((k) => /mock/i.test(k))).toEqual([]);
    expect(JSON.stringify(prod.template)).not.toContain('mock/enrich');
    expect(env(prod, 'ProcessBatch').ENRICHMENT_API_URL).toBe('https://api.peopledatalabs.com');
  });

  it("with enrichmentProvider=peopledatalabs: the worker speaks PDL's dialect and its role alone may read exactly the key's secret", () => {
    expect(env(prod, 'ProcessBatch')).toMatchObject({
      ENRICHMENT_PROVIDER: 'peopledatalabs',
      PDL_API_KEY_SECRET_ARN: PDL_SECRET,
      PDL_MIN_LIKELIHOOD: '6',
    });
    // No key in the template: the worker reads it from Secrets Manager at a cold start.
    expect(env(prod, 'ProcessBatch').ENRICHMENT_API_KEY ?? '').toBe('');
    const policy = resources(prod).PdlApiKeyReadPolicy;
    expect(policy.Type).toBe('AWS::IAM::Policy');
    expect(policy.Properties.Roles).toEqual([{ Ref: 'ProcessBatchRole' }]);
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: PDL_SECRET },
    ]);
    const grants = Object.entries(resources(prod)).filter(
      ([, r]) => r.Type.startsWith('AWS::IAM::') && JSON.stringify(r).includes(PDL_SECRET),
    );
    expect(grants.map(([k]) => k)).toEqual(['PdlApiKeyReadPolicy']);
  });

  it('caps the worker: maximumConcurrency on its SQS event source and the same reserved concurrency', () => {
    expect(resources(prod).ProcessBatchEventSourceMappingSQSBatchQueue.Properties.ScalingConfig).toEqual({
      MaximumConcurrency: 20,
    });
    expect(resources(prod).ProcessBatchLambdaFunction.Properties.ReservedConcurrentExecutions).toBe(20);
  });

  it('keeps bucket and table on remove and replacement, and scopes the bucket name by account', () => {
    for (const key of ['DataBucket', 'StatusTable']) {
      expect(resources(prod)[key]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
    const name = { 'Fn::Sub': 'enrichment-service-prod-${AWS::AccountId}-data' };
    expect(resources(prod).DataBucket.Properties.BucketName).toEqual(name);
    expect(env(prod, 'CreateEnrichment').BUCKET_NAME).toEqual(name);
  });

  it('takes resultTtlDays for the S3 lifecycle rule and RESULT_TTL_DAYS', () => {
    // A --param is a string; CloudFormation takes "7" for an integer property.
    expect(Number(resources(prod).DataBucket.Properties.LifecycleConfiguration.Rules[0].ExpirationInDays)).toBe(7);
    expect(env(prod, 'ProcessBatch').RESULT_TTL_DAYS).toBe('7');
  });

  it('grants every role read access to exactly the Datadog secret given, and has no placeholder account', () => {
    expect(resources(prod).DatadogApiKeyReadPolicy.Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: DD_SECRET },
    ]);
    for (const role of roleKeys(prod)) {
      expect([role, resources(prod)[role].Properties.ManagedPolicyArns]).toEqual([
        role,
        [{ Ref: 'DatadogApiKeyReadPolicy' }],
      ]);
    }
    expect(JSON.stringify(prod.template)).not.toContain('000000000000');
  });
});

describe('sls package --stage dev (datadogEnabled=false)', () => {
  it("requires the API key on every method, the mock's included", () => {
    const methods = Object.values(resources(dev)).filter((r) => r.Type === 'AWS::ApiGateway::Method');
    expect(methods.map((m) => [m.Properties.HttpMethod, m.Properties.ApiKeyRequired])).toEqual(
      methods.map((m) => [m.Properties.HttpMethod, true]),
    );
    // POST and GET /enrichment (create, list), GET /enrichment/{id} and its download, its cancel, the two upload routes,
    // the webhook secret and its rotation, the mock's five (its two dialects, stats, credits, outage)
    expect(methods).toHaveLength(14);
  });

  it('deploys the mock with its role and route, and the worker calls it', () => {
    expect(resources(dev).MockEnrichLambdaFunction.Properties.Role).toEqual({
      'Fn::GetAtt': ['MockEnrichRole', 'Arn'],
    });
    expect(resources(dev).MockEnrichRole.Type).toBe('AWS::IAM::Role');
    expect(resources(dev).ApiGatewayMethodMockEnrichPost.Type).toBe('AWS::ApiGateway::Method');
    expect(JSON.stringify(env(dev, 'ProcessBatch').ENRICHMENT_API_URL)).toContain('/dev/mock/enrich');
    // Its state table, which its role alone may read and update; no People Data Labs secret grant on a mock stage.
    expect(resources(dev).MockStateTable.Type).toBe('AWS::DynamoDB::Table');
    expect(JSON.stringify(resources(dev).MockEnrichRole.Properties.Policies)).toContain('MockStateTable');
    expect(resources(dev).PdlApiKeyReadPolicy).toBeUndefined();
  });

  it('lets bucket and table go on remove, reserves no concurrency but still caps the event source', () => {
    for (const key of ['DataBucket', 'StatusTable']) {
      expect(resources(dev)[key]).toMatchObject({ DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    }
    expect(resources(dev).ProcessBatchLambdaFunction.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
    expect(resources(dev).ProcessBatchEventSourceMappingSQSBatchQueue.Properties.ScalingConfig).toEqual({
      MaximumConcurrency: 50,
    });
  });

  it('has no Datadog layer, secret policy or grant when Datadog is off', () => {
    expect(resources(dev)).not.toHaveProperty('DatadogApiKeyReadPolicy');
    for (const role of roleKeys(dev)) expect(resources(dev)[role].Properties).not.toHaveProperty('ManagedPolicyArns');
    expect(resources(dev).ProcessBatchLambdaFunction.Properties).not.toHaveProperty('Layers');
    expect(env(dev, 'ProcessBatch').METRICS_ENABLED).toBe('false');
  });
});

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const LOCK = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
};
const tagsOf = (tags: Array<{ Key: string; Value: unknown }>) => Object.fromEntries(tags.map((t) => [t.Key, t.Value]));
const functionKeys = (p: Packaged) =>
  Object.keys(resources(p)).filter((k) => resources(p)[k].Type === 'AWS::Lambda::Function');
// Each function's zip, opened once.
const zips = new Map<string, JSZip>();
async function zipOf(p: Packaged, key: string): Promise<JSZip> {
  const file = path.join(p.dir, `${key.replace(/LambdaFunction$/, '').replace(/^./, (c) => c.toLowerCase())}.zip`);
  if (!zips.has(file)) zips.set(file, await JSZip.loadAsync(await readFile(file)));
  return zips.get(file)!;
}

describe.each([
  ['prod', () => prod],
  ['dev', () => dev],
])('sls package --stage %s: identity and bundles', (stage, packaged) => {
  it('tags every function, queue, table and bucket with env, service and version, and sets DD_ENV/DD_SERVICE/DD_VERSION', () => {
    const p = packaged();
    const expected = { env: stage, service: 'enrichment-service', version: VERSION };
    const tagged = Object.keys(resources(p)).filter((k) =>
      ['AWS::Lambda::Function', 'AWS::SQS::Queue', 'AWS::DynamoDB::Table', 'AWS::S3::Bucket'].includes(
        resources(p)[k].Type,
      ),
    );
    expect(tagged.length).toBeGreaterThanOrEqual(11 + 6 + 2);
    for (const key of tagged)
      expect([key, tagsOf(resources(p)[key].Properties.Tags ?? [])]).toEqual([key, expect.objectContaining(expected)]);
    for (const key of functionKeys(p)) {
      expect([key, resources(p)[key].Properties.Environment.Variables]).toEqual([
        key,
        expect.objectContaining({ DD_ENV: stage, DD_SERVICE: 'enrichment-service', DD_VERSION: VERSION }),
      ]);
    }
  });

  it('ships minified bundles without source maps, the AWS SDK left out of them and installed beside them at the locked versions', async () => {
    const p = packaged();
    for (const key of functionKeys(p)) {
      const handler = resources(p)[key].Properties.Handler as string;
      const zip = await zipOf(p, key);
      // With Datadog on, the layer's handler runs ours (DD_LAMBDA_HANDLER).
      const ours =
        (resources(p)[key].Properties.Environment.Variables.DD_LAMBDA_HANDLER as string | undefined) ?? handler;
      const bundle = await zip.file(`${ours.slice(0, ours.lastIndexOf('.'))}.js`)!.async('string');
      // Minified: long lines (thousands of characters on average), not one statement a line.
      expect([key, bundle.length / bundle.split('\n').length > 1000]).toEqual([key, true]);
      expect([key, Object.keys(zip.files).filter((f) => f.endsWith('.map'))]).toEqual([key, []]);
      expect([key, bundle.includes('sourceMappingURL')]).toEqual([key, false]);
      expect([key, resources(p)[key].Properties.Environment.Variables.NODE_OPTIONS ?? '']).toEqual([
        key,
        expect.not.stringContaining('--enable-source-maps'),
      ]);
      // No SDK code inside: its clients' own names and headers would be there if it were bundled.
      for (const marker of [
        'S3ServiceException',
        'DynamoDBServiceException',
        'SQSServiceException',
        'x-amz-user-agent',
      ]) {
        expect([key, marker, bundle.includes(marker)]).toEqual([key, marker, false]);
      }
      if (!/mockEnrich/i.test(key)) {
        expect([key, bundle.includes('require("@aws-sdk/client-dynamodb")')]).toEqual([key, true]);
        const installed = JSON.parse(
          await zip.file('node_modules/@aws-sdk/client-dynamodb/package.json')!.async('string'),
        ) as { version: string };
        expect([key, installed.version]).toEqual([key, LOCK.packages['node_modules/@aws-sdk/client-dynamodb'].version]);
      }
    }
  });

  it("carries the provider's SDK (client-secrets-manager, 2,219 files) in processBatch's zip alone: no other bundle requires it", async () => {
    const p = packaged();
    const SECRETS = '@aws-sdk/client-secrets-manager';
    const carrying: string[] = [];
    for (const key of functionKeys(p)) {
      const zip = await zipOf(p, key);
      const ours =
        (resources(p)[key].Properties.Environment.Variables.DD_LAMBDA_HANDLER as string | undefined) ??
        (resources(p)[key].Properties.Handler as string);
      const bundle = await zip.file(`${ours.slice(0, ours.lastIndexOf('.'))}.js`)!.async('string');
      const installed = zip.file(`node_modules/${SECRETS}/package.json`) !== null;
      // The bundle's require and the installed package go together (serverless-esbuild installs what is required).
      expect([key, bundle.includes(`require("${SECRETS}")`)]).toEqual([key, installed]);
      if (installed) carrying.push(key);
    }
    expect(carrying).toEqual(['ProcessBatchLambdaFunction']);
  });
});
