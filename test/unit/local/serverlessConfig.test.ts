import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config';
import { ServerlessConfig } from '../../../src/local/serverlessConfig';

const FIXTURE = `
service: svc
useDotenv: true
params:
  default:
    extra: false
    greeting: \${env:GREETING, 'hello'}
  on:
    extra: true
custom:
  extra:
    'true':
      function:
        handler: extra.handler
        events:
          - sqs:
              arn: !GetAtt ExtraQueue.Arn
      resources:
        Resources:
          ExtraQueue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: \${self:service}-\${sls:stage}-extra
functions:
  main:
    handler: main.handler
  extra: \${self:custom.extra.\${param:extra}.function, null}
resources:
- Resources:
    Bucket:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: !Sub '\${self:service}-\${sls:stage}-\${AWS::AccountId}-\${AWS::Region}'
        Arn: !Sub '\${Other.Arn}/*'
- \${self:custom.extra.\${param:extra}.resources, null}
`;

describe('ServerlessConfig (the offline stack reads serverless.yml the way the framework does)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sls-config-'));
    file = path.join(dir, 'serverless.yml');
    writeFileSync(file, FIXTURE);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = (stage: string, env: NodeJS.ProcessEnv = {}) =>
    new ServerlessConfig({ stage, region: 'eu-west-1', env }, file);

  it('drops a function and a resources item whose variable falls back to null, and keeps them where the param says so', () => {
    expect(Object.keys(load('other').functions())).toEqual(['main']);
    expect(Object.keys(load('other').resources())).toEqual(['Bucket']);
    expect(load('other').sqsEventSources()).toEqual([]);

    const on = load('on');
    expect(Object.keys(on.functions())).toEqual(['main', 'extra']);
    expect(Object.keys(on.resources())).toEqual(['Bucket', 'ExtraQueue']);
    expect(on.resolve(on.resources().ExtraQueue.Properties)).toEqual({ QueueName: 'svc-on-extra' });
    expect(on.sqsEventSources()).toEqual([
      { functionKey: 'extra', queueLogicalId: 'ExtraQueue', batchSize: 10, reportBatchItemFailures: false },
    ]);
  });

  it('evaluates a !Sub of pseudo parameters only (the fake account 000000000000) and leaves other intrinsics', () => {
    const sls = load('dev');
    expect(sls.resolve(sls.resources().Bucket.Properties)).toEqual({
      BucketName: 'svc-dev-000000000000-eu-west-1',
      Arn: { 'Fn::Sub': '${Other.Arn}/*' },
    });
  });

  it('reads .env.<stage>, else .env, under the environment (useDotenv), as the framework loads them', () => {
    expect(load('dev').resolve('${param:greeting}')).toBe('hello');
    writeFileSync(path.join(dir, '.env'), 'GREETING=from-dotenv\n');
    expect(load('dev').resolve('${param:greeting}')).toBe('from-dotenv');
    writeFileSync(path.join(dir, '.env.dev'), 'GREETING=from-stage-file\n');
    expect(load('dev').resolve('${param:greeting}')).toBe('from-stage-file');
    expect(load('prod').resolve('${param:greeting}')).toBe('from-dotenv');
    expect(load('dev', { GREETING: 'from-env' }).resolve('${param:greeting}')).toBe('from-env');
  });
});

describe('ServerlessConfig with the configuration in parts (${file(...)} includes, as the framework resolves them)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sls-parts-'));
    mkdirSync(path.join(dir, 'parts'));
    mkdirSync(path.join(dir, 'shared'));
    const files: Record<string, string> = {
      'serverless.yml': `
service: svc
params: \${file(./parts/params.yml)}
custom: \${file(./parts/custom.yml)}
functions: \${file(./parts/functions.yml)}
resources:
  - \${file(./parts/queue.yml)}
  - Resources: \${file(./parts/roles.yml):Resources}
  - \${self:custom.extra.\${param:extra}.resources, null}
`,
      'parts/params.yml': 'default:\n  extra: false\n  size: 5\non:\n  extra: true\n',
      'parts/custom.yml': `
queueName: \${self:service}-\${sls:stage}-queue
extra:
  'true':
    resources:
      Resources: \${file(./parts/roles.yml):Extra}
`,
      'parts/functions.yml': 'main:\n  handler: main.handler\n  role: MainRole\n  memorySize: ${param:size}\n',
      'parts/queue.yml':
        'Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: ${self:custom.queueName}\n',
      // An anchor shared by the roles; the include inside is relative to the service's directory, not to parts/.
      'parts/roles.yml': `
shared:
  role: &role
    AssumeRolePolicyDocument: \${file(./shared/trust.yml)}
Resources:
  MainRole:
    Type: AWS::IAM::Role
    Properties:
      <<: *role
      Policies: [{ PolicyName: main }]
Extra:
  ExtraRole:
    Type: AWS::IAM::Role
    Properties:
      <<: *role
`,
      'shared/trust.yml': 'Version: "2012-10-17"\nStatement: [{ Effect: Allow, Action: sts:AssumeRole }]\n',
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = (stage: string) =>
    new ServerlessConfig({ stage, region: 'eu-west-1', env: {} }, path.join(dir, 'serverless.yml'));
  const trust = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole' }] };

  it("reads params, custom, functions and resources from their files, paths relative to the service's directory", () => {
    const sls = load('dev');
    expect(sls.resolve(sls.functions())).toEqual({
      main: { handler: 'main.handler', role: 'MainRole', memorySize: 5 },
    });
    expect(Object.keys(sls.resources())).toEqual(['Queue', 'MainRole']);
    expect(sls.resolve(sls.resources().Queue.Properties)).toEqual({ QueueName: 'svc-dev-queue' });
    expect(sls.resolve(sls.resources().MainRole.Properties)).toEqual({
      AssumeRolePolicyDocument: trust,
      Policies: [{ PolicyName: 'main' }],
    });
    const on = load('on');
    expect(Object.keys(on.resources())).toEqual(['Queue', 'MainRole', 'ExtraRole']);
    expect(on.resolve(on.resources().ExtraRole.Properties)).toEqual({ AssumeRolePolicyDocument: trust });
  });

  it('returns the parts as part of the document, so an edit to a resource stays (as test/support/service.ts edits a role)', () => {
    const sls = load('dev');
    sls.resources().MainRole.Properties.Policies = [];
    expect(sls.resolve(sls.resources().MainRole.Properties)).toEqual({ AssumeRolePolicyDocument: trust, Policies: [] });
  });
});

describe('serverless.yml offline', () => {
  const stage = (name: string, env: NodeJS.ProcessEnv = {}) =>
    new ServerlessConfig({ stage: name, region: 'us-east-1', env });
  const minimal = {
    BUCKET_NAME: 'bucket',
    TABLE_NAME: 'table',
    CACHE_TABLE: 'cache',
    BATCH_QUEUE_NAME: 'queue',
    INTAKE_QUEUE_NAME: 'intake',
    ASSEMBLY_QUEUE_NAME: 'assembly',
    WEBHOOK_QUEUE_NAME: 'webhooks',
    WEBHOOK_DLQ_NAME: 'webhooks-dlq',
    ENRICHMENT_API_URL: 'https://api.example.test/enrich',
  };
  // Every runtime knob of src/config.ts that a stage sets through params (names, endpoints and region are not knobs).
  const KNOBS = [
    'LOG_LEVEL',
    'PUBLIC_API_URL',
    'BATCH_SIZE',
    'ENRICHMENT_TIMEOUT_MS',
    'ENRICHMENT_MAX_ATTEMPTS',
    'ENRICHMENT_SINGLE_MAX_ATTEMPTS',
    'ENRICHMENT_SUBBATCH_MAX_ATTEMPTS',
    'ENRICHMENT_BACKOFF_BASE_MS',
    'ENRICHMENT_BACKOFF_MAX_MS',
    'REQUEST_DEADLINE_SECONDS',
    'RECONCILE_STALL_SECONDS',
    'DOWNLOAD_URL_TTL_SECONDS',
    'RESULT_TTL_DAYS',
    'WORKER_TIME_RESERVE_MS',
    'INTAKE_TIME_RESERVE_MS',
    'ASSEMBLY_INLINE_MAX_BATCHES',
    'ASSEMBLY_TIMEOUT_SECONDS',
    'CACHE_TTL_DAYS',
    'NOT_FOUND_CACHE_TTL_DAYS',
    'CACHE_SCOPE',
    'PROVIDER_PRICE_PER_MATCH',
    'WEBHOOK_MAX_ATTEMPTS',
    'WEBHOOK_ALLOWED_PORTS',
    'WEBHOOK_SECRET_OVERLAP_HOURS',
  ] as const;

  it('sets every runtime knob through params, with the same defaults as src/config.ts', () => {
    const defaults = loadConfig(minimal);
    for (const name of ['local', 't1xdefaults']) {
      const env = stage(name).environment();
      const fromYml = loadConfig({ ...env, ENRICHMENT_API_URL: minimal.ENRICHMENT_API_URL });
      for (const knob of KNOBS)
        expect([name, knob, knob in env, fromYml[knob]]).toEqual([name, knob, true, defaults[knob]]);
    }
  });

  it('lets the environment override every knob on stage local', () => {
    const overrides = {
      LOG_LEVEL: 'debug',
      PUBLIC_API_URL: 'http://localhost:3100',
      BATCH_SIZE: '10',
      ENRICHMENT_TIMEOUT_MS: '1000',
      ENRICHMENT_MAX_ATTEMPTS: '2',
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: '3',
      ENRICHMENT_SUBBATCH_MAX_ATTEMPTS: '1',
      ENRICHMENT_BACKOFF_BASE_MS: '5',
      ENRICHMENT_BACKOFF_MAX_MS: '50',
      REQUEST_DEADLINE_SECONDS: '60',
      RECONCILE_STALL_SECONDS: '10',
      DOWNLOAD_URL_TTL_SECONDS: '60',
      RESULT_TTL_DAYS: '3',
      METRICS_ENABLED: 'true',
      WORKER_TIME_RESERVE_MS: '2000',
      CACHE_TTL_DAYS: '2',
      NOT_FOUND_CACHE_TTL_DAYS: '0',
      CACHE_SCOPE: 'service',
      PROVIDER_PRICE_PER_MATCH: '0.028',
      WEBHOOK_FIRST_RETRY_SECONDS: '2',
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_ALLOW_PRIVATE: 'false',
      WEBHOOK_ALLOWED_PORTS: '443,8443',
      WEBHOOK_SECRET_OVERLAP_HOURS: '1',
    };
    expect(stage('local', overrides).environment()).toMatchObject(overrides);
    const local = stage('local', { RESULT_TTL_DAYS: '3' });
    expect(local.resolve(local.resources().DataBucket.Properties)).toMatchObject({
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: '3' }] },
    });
  });

  it('has the mock on local and not on a stage without mockApi, where the enrichment API is left to the deploy', () => {
    expect(stage('local').functions()).toHaveProperty('mockEnrich');
    expect(stage('local').resources()).toHaveProperty('MockEnrichRole');
    const other = stage('t1xnomock');
    expect(other.functions()).not.toHaveProperty('mockEnrich');
    expect(other.resources()).not.toHaveProperty('MockEnrichRole');
    expect(other.environment().ENRICHMENT_API_URL).toBe('');
  });

  it('names the local bucket as the scripts expect, and a deployed stage bucket with the account id', () => {
    expect(stage('local').environment().BUCKET_NAME).toBe('enrichment-service-local-data');
    expect(stage('t1xbucket').environment().BUCKET_NAME).toBe('enrichment-service-t1xbucket-000000000000-data');
    expect(stage('local').environment().METRICS_ENABLED).toBe('false');
  });
});
