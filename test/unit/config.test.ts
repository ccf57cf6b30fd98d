import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  CONFIG_VARIABLES,
  config,
  ConfigError,
  loadConfig,
  MOCK_CONFIG_VARIABLES,
  mockConfig,
  resetConfig,
} from '../../src/config';

const minimal = {
  BUCKET_NAME: 'svc-dev-data',
  TABLE_NAME: 'svc-dev-status',
  CACHE_TABLE: 'svc-dev-result-cache',
  BATCH_QUEUE_NAME: 'svc-dev-batches',
  INTAKE_QUEUE_NAME: 'svc-dev-intake',
  ASSEMBLY_QUEUE_NAME: 'svc-dev-assembly',
  WEBHOOK_QUEUE_NAME: 'svc-dev-webhooks',
  WEBHOOK_DLQ_NAME: 'svc-dev-webhooks-dlq',
  ENRICHMENT_API_URL: 'https://api.example.test/dev/mock/enrich',
};

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadConfig accepted a bad environment');
}

describe('loadConfig', () => {
  it('rejects an endpoint without an http(s) scheme, naming the variable', () => {
    expect(configError({ ...minimal, S3_ENDPOINT: 'localhost:4566' }).message).toMatch(/S3_ENDPOINT/);
    expect(configError({ ...minimal, ENRICHMENT_API_URL: 'ftp://example.com/x' }).message).toMatch(
      /ENRICHMENT_API_URL/,
    );
  });

  it('rejects a WORKER_TIME_RESERVE_MS that leaves no time to store and record, naming the variable', () => {
    expect(configError({ ...minimal, WORKER_TIME_RESERVE_MS: '100' }).message).toMatch(/WORKER_TIME_RESERVE_MS/);
    expect(configError({ ...minimal, WORKER_TIME_RESERVE_MS: 'soon' }).message).toMatch(/WORKER_TIME_RESERVE_MS/);
    expect(loadConfig({ ...minimal, WORKER_TIME_RESERVE_MS: '2000' }).WORKER_TIME_RESERVE_MS).toBe(2_000);
  });

  it('stops peopledatalabs without its API key, naming the variables, and takes it with a secret ARN or a key', () => {
    expect(configError({ ...minimal, ENRICHMENT_PROVIDER: 'peopledatalabs' }).message).toMatch(
      /ENRICHMENT_PROVIDER.*PDL_API_KEY_SECRET_ARN.*ENRICHMENT_API_KEY/,
    );
    expect(configError({ ...minimal, ENRICHMENT_PROVIDER: 'clearbit' }).message).toMatch(/ENRICHMENT_PROVIDER/);
    const arn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:pdl';
    expect(
      loadConfig({ ...minimal, ENRICHMENT_PROVIDER: 'peopledatalabs', PDL_API_KEY_SECRET_ARN: arn }),
    ).toMatchObject({ ENRICHMENT_PROVIDER: 'peopledatalabs', PDL_MIN_LIKELIHOOD: 6 });
    expect(
      loadConfig({
        ...minimal,
        ENRICHMENT_PROVIDER: 'peopledatalabs',
        ENRICHMENT_API_KEY: 'k',
        PDL_MIN_LIKELIHOOD: '9',
      }).PDL_MIN_LIKELIHOOD,
    ).toBe(9);
    expect(configError({ ...minimal, PDL_MIN_LIKELIHOOD: '11' }).message).toMatch(/PDL_MIN_LIKELIHOOD/);
  });

  it('fills in the defaults', () => {
    expect(loadConfig(minimal)).toEqual({
      ...minimal,
      STAGE: 'local',
      AWS_REGION: 'us-east-1',
      LOG_LEVEL: 'info',
      DD_ENV: 'local',
      DD_SERVICE: 'enrichment-service',
      DD_VERSION: '0.1.0',
      PUBLIC_API_URL: undefined,
      S3_ENDPOINT: undefined,
      SQS_ENDPOINT: undefined,
      DYNAMODB_ENDPOINT: undefined,
      BATCH_SIZE: 100,
      ENRICHMENT_PROVIDER: 'mock',
      PDL_MIN_LIKELIHOOD: 6,
      ENRICHMENT_TIMEOUT_MS: 10_000,
      INTAKE_TIME_RESERVE_MS: 30_000,
      ASSEMBLY_INLINE_MAX_BATCHES: 1000,
      ASSEMBLY_TIMEOUT_SECONDS: 900,
      ENRICHMENT_MAX_ATTEMPTS: 4,
      ENRICHMENT_SINGLE_MAX_ATTEMPTS: 8,
      ENRICHMENT_SUBBATCH_MAX_ATTEMPTS: 2,
      ENRICHMENT_BACKOFF_BASE_MS: 200,
      ENRICHMENT_BACKOFF_MAX_MS: 5_000,
      WORKER_TIME_RESERVE_MS: 5_000,
      ENRICHMENT_CALL_BUDGET_FACTOR: 3,
      ENRICHMENT_BREAKER_THRESHOLD: 20,
      ENRICHMENT_BREAKER_COOLDOWN_MS: 30_000,
      PROVIDER_CALLS_PER_MINUTE: 0,
      PROVIDER_CONTACTS_PER_MINUTE: 0,
      PROVIDER_PRICE_PER_MATCH: 0,
      PROVIDER_CREDIT_RETRY_SECONDS: 300,
      PROVIDER_OUTAGE_HOLD_SECONDS: 3600,
      REQUEST_DEADLINE_SECONDS: 3600,
      RECONCILE_STALL_SECONDS: 300,
      DOWNLOAD_URL_TTL_SECONDS: 900,
      RESULT_TTL_DAYS: 30,
      RESULT_TTL_MINUTES: 0,
      CACHE_TTL_DAYS: 30,
      NOT_FOUND_CACHE_TTL_DAYS: 7,
      CACHE_SCOPE: 'owner',
      WEBHOOK_FIRST_RETRY_SECONDS: 5,
      WEBHOOK_MAX_ATTEMPTS: 12,
      WEBHOOK_TIMEOUT_MS: 10_000,
      WEBHOOK_ALLOW_PRIVATE: false,
      WEBHOOK_ALLOWED_PORTS: [443],
      WEBHOOK_SECRET_OVERLAP_HOURS: 24,
      MAX_UPLOAD_BYTES: 2_147_483_648,
      UPLOAD_URL_TTL_SECONDS: 3600,
      METRICS_ENABLED: true,
      DD_FLUSH_TO_LOG: false,
    });
  });

  it('reads the credit retry interval (seconds, 1 to a day) and refuses anything else, naming the variable', () => {
    expect(loadConfig({ ...minimal, PROVIDER_CREDIT_RETRY_SECONDS: '15' }).PROVIDER_CREDIT_RETRY_SECONDS).toBe(15);
    for (const bad of ['0', '-5', '1.5', '86401', 'soon'])
      expect(() => loadConfig({ ...minimal, PROVIDER_CREDIT_RETRY_SECONDS: bad })).toThrow(
        /PROVIDER_CREDIT_RETRY_SECONDS/,
      );
  });

  it('reads the provider limits (0 or unset: off) and refuses one the bucket cannot run, naming the variable', () => {
    expect(loadConfig({ ...minimal, PROVIDER_CALLS_PER_MINUTE: '600' }).PROVIDER_CALLS_PER_MINUTE).toBe(600);
    expect(loadConfig({ ...minimal, PROVIDER_CONTACTS_PER_MINUTE: '' }).PROVIDER_CONTACTS_PER_MINUTE).toBe(0);
    expect(() => loadConfig({ ...minimal, PROVIDER_CALLS_PER_MINUTE: '-1' })).toThrow(/PROVIDER_CALLS_PER_MINUTE/);
    expect(() => loadConfig({ ...minimal, PROVIDER_CALLS_PER_MINUTE: 'many' })).toThrow(/PROVIDER_CALLS_PER_MINUTE/);
    // A contacts limit must leave room for one whole call of BATCH_SIZE contacts.
    expect(() => loadConfig({ ...minimal, PROVIDER_CONTACTS_PER_MINUTE: '100' })).toThrow(
      /PROVIDER_CONTACTS_PER_MINUTE: .*BATCH_SIZE is 100/,
    );
    expect(loadConfig({ ...minimal, PROVIDER_CONTACTS_PER_MINUTE: '100', BATCH_SIZE: '10' }).BATCH_SIZE).toBe(10);
  });

  it('reads the price per match (a number, 0 or more; empty: 0) and refuses a negative or non-numeric one by name', () => {
    expect(loadConfig({ ...minimal, PROVIDER_PRICE_PER_MATCH: '0.028' }).PROVIDER_PRICE_PER_MATCH).toBe(0.028);
    expect(loadConfig({ ...minimal, PROVIDER_PRICE_PER_MATCH: '' }).PROVIDER_PRICE_PER_MATCH).toBe(0);
    expect(() => loadConfig({ ...minimal, PROVIDER_PRICE_PER_MATCH: '-0.01' })).toThrow(/PROVIDER_PRICE_PER_MATCH/);
    expect(() => loadConfig({ ...minimal, PROVIDER_PRICE_PER_MATCH: 'cheap' })).toThrow(/PROVIDER_PRICE_PER_MATCH/);
  });

  it('reads numbers, flags and URLs from strings', () => {
    const c = loadConfig({
      ...minimal,
      STAGE: 'prod',
      BATCH_SIZE: '25',
      ENRICHMENT_TIMEOUT_MS: '2500',
      METRICS_ENABLED: 'false',
      S3_ENDPOINT: 'http://127.0.0.1:4566',
      PUBLIC_API_URL: '',
    });
    expect(c).toMatchObject({
      STAGE: 'prod',
      BATCH_SIZE: 25,
      ENRICHMENT_TIMEOUT_MS: 2500,
      METRICS_ENABLED: false,
      S3_ENDPOINT: 'http://127.0.0.1:4566',
    });
    expect(c.PUBLIC_API_URL).toBeUndefined();
  });

  it.each([
    'BUCKET_NAME',
    'TABLE_NAME',
    'CACHE_TABLE',
    'BATCH_QUEUE_NAME',
    'INTAKE_QUEUE_NAME',
    'ASSEMBLY_QUEUE_NAME',
    'WEBHOOK_QUEUE_NAME',
    'WEBHOOK_DLQ_NAME',
    'ENRICHMENT_API_URL',
  ])('fails fast naming a missing %s', (name) => {
    const env: NodeJS.ProcessEnv = { ...minimal };
    delete env[name];
    const err = configError(env);
    expect(err.message).toMatch(/^Invalid configuration: /);
    expect(err.message).toContain(name);
    for (const other of Object.keys(minimal).filter((k) => k !== name)) expect(err.message).not.toContain(`${other}:`);
  });

  it.each([
    ['ENRICHMENT_API_URL', 'not a url'],
    ['BATCH_SIZE', '500'],
    ['BATCH_SIZE', '0'],
    ['BATCH_SIZE', 'ten'],
    ['ENRICHMENT_MAX_ATTEMPTS', '11'],
    ['ENRICHMENT_TIMEOUT_MS', '-1'],
    ['DOWNLOAD_URL_TTL_SECONDS', '604801'],
    ['MAX_UPLOAD_BYTES', '0'],
    ['MAX_UPLOAD_BYTES', String(1000 * 8 * 1024 * 1024 + 1)],
    ['UPLOAD_URL_TTL_SECONDS', '604801'],
    ['LOG_LEVEL', 'verbose'],
    ['METRICS_ENABLED', 'yes'],
    ['S3_ENDPOINT', 'not an endpoint'],
    ['CACHE_TTL_DAYS', '-1'],
    ['CACHE_TTL_DAYS', 'a month'],
    ['NOT_FOUND_CACHE_TTL_DAYS', '1.5'],
    ['CACHE_SCOPE', 'everyone'],
  ])('names %s=%p as the bad variable', (name, value) => {
    const err = configError({ ...minimal, [name]: value });
    expect(err.message).toContain(`${name}:`);
    expect(err.message.split(';')).toHaveLength(1);
  });

  it('has the result cache on by default, and needs no cache table once CACHE_TTL_DAYS=0 turns it off', () => {
    expect(loadConfig(minimal)).toMatchObject({
      CACHE_TTL_DAYS: 30,
      NOT_FOUND_CACHE_TTL_DAYS: 7,
      CACHE_SCOPE: 'owner',
    });
    const { CACHE_TABLE: _, ...noTable } = minimal;
    expect(loadConfig({ ...noTable, CACHE_TTL_DAYS: '0' }).CACHE_TTL_DAYS).toBe(0);
    expect(configError(noTable).message).toMatch(/CACHE_TABLE: .*CACHE_TTL_DAYS=0/);
  });

  it('lists every bad variable at once', () => {
    const err = configError({ ...minimal, BUCKET_NAME: undefined, BATCH_SIZE: '0' });
    expect(err.message).toContain('BUCKET_NAME:');
    expect(err.message).toContain('BATCH_SIZE:');
  });
});

describe('config()', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    resetConfig();
  });

  it('reads process.env once until reset', () => {
    resetConfig();
    process.env.BATCH_SIZE = '10';
    expect(config().BATCH_SIZE).toBe(10);
    process.env.BATCH_SIZE = '20';
    expect(config().BATCH_SIZE).toBe(10);
    resetConfig();
    expect(config().BATCH_SIZE).toBe(20);
  });

  it('throws on first use with a bad environment', () => {
    resetConfig();
    delete process.env.TABLE_NAME;
    expect(() => config()).toThrow(/TABLE_NAME/);
  });
});

describe('mockConfig', () => {
  it('has the local defaults', () => {
    expect(mockConfig({})).toEqual({
      MOCK_LATENCY_MS: 50,
      MOCK_FAILURE_RATE: 0,
      MOCK_THROTTLE_RATE: 0,
      MOCK_SPIKE_RATE: 0,
      MOCK_SPIKE_MS: 2000,
      MOCK_INVALID_MODE: 'contact',
      MOCK_RATE_WINDOW_SECONDS: 60,
    });
  });
  it('reads MOCK_INVALID_MODE and rejects an unknown one', () => {
    expect(mockConfig({ MOCK_INVALID_MODE: 'call' }).MOCK_INVALID_MODE).toBe('call');
    expect(() => mockConfig({ MOCK_INVALID_MODE: 'sometimes' })).toThrow(/MOCK_INVALID_MODE/);
  });
  it('reads the knobs and rejects rates outside 0..1', () => {
    expect(mockConfig({ MOCK_LATENCY_MS: '500', MOCK_FAILURE_RATE: '0.25' })).toMatchObject({
      MOCK_LATENCY_MS: 500,
      MOCK_FAILURE_RATE: 0.25,
    });
    expect(() => mockConfig({ MOCK_FAILURE_RATE: '2' })).toThrow(/MOCK_FAILURE_RATE/);
    expect(() => mockConfig({ MOCK_LATENCY_MS: '-5' })).toThrow(/MOCK_LATENCY_MS/);
  });
});

describe("docs/configuration.md: the functions' environment", () => {
  const page = readFileSync(path.join(__dirname, '../../docs/configuration.md'), 'utf8');
  const start = page.indexOf("\n## The functions' environment\n");
  const end = page.indexOf('\n## ', start + 1);
  const section = page.slice(start, end === -1 ? undefined : end);
  /** The variables a table row of the section names in its first cell (`| \`A\`, \`B\` | default | meaning |`). */
  const rowNames = new Set(
    section
      .split('\n')
      .filter((line) => line.startsWith('| '))
      .flatMap((line) => [...(line.split(' | ')[0].match(/`[A-Z][A-Z0-9_]*`/g) ?? [])].map((n) => n.slice(1, -1))),
  );

  it.each([...CONFIG_VARIABLES, ...MOCK_CONFIG_VARIABLES])('documents %s in a row of its own table', (name) => {
    expect(start).toBeGreaterThan(0);
    expect(rowNames).toContain(name);
  });
});
