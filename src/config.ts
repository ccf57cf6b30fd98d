import { z } from 'zod';
import { version as packageVersion } from '../package.json';
import { planLimiter } from './core/rateLimiter';

// An http(s) URL: `localhost:4566` without a scheme would otherwise pass and fail later in the SDK.
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
const optionalUrl = httpUrl.optional().or(z.literal('').transform(() => undefined));
const seconds = z.coerce.number().int().positive();

const ConfigSchema = z
  .object({
    STAGE: z.string().min(1).default('local'),
    AWS_REGION: z.string().min(1).default('us-east-1'),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Datadog's unified service tags: on every log line, metric point and (through dd-trace) span; the dashboard's $env and the monitors filter on env. */
    DD_ENV: z.string().min(1).default('local'),
    DD_SERVICE: z.string().min(1).default('enrichment-service'),
    DD_VERSION: z.string().min(1).default(packageVersion),
    BUCKET_NAME: z.string().min(3),
    TABLE_NAME: z.string().min(3),
    BATCH_QUEUE_NAME: z.string().min(1),
    /** The intake function's queue (referenced uploads are taken in asynchronously). */
    INTAKE_QUEUE_NAME: z.string().min(1),
    /** The assembleOutput function's queue (the assembly of a request too large to assemble inline). */
    ASSEMBLY_QUEUE_NAME: z.string().min(1),
    /** Requests of at most this many batches are assembled inline by the worker or reconcile; larger ones are queued. */
    ASSEMBLY_INLINE_MAX_BATCHES: z.coerce.number().int().min(0).default(1000),
    /** The assembleOutput function's timeout: reconcile queues a stalled large request's assembly again only after it. */
    ASSEMBLY_TIMEOUT_SECONDS: seconds.max(900).default(900),
    /** Time the intake keeps back from its timeout to save its checkpoint and queue its continuation. */
    INTAKE_TIME_RESERVE_MS: z.coerce.number().int().min(500).max(600_000).default(30_000),
    /**
     * The enrichment provider the worker calls (src/handlers/workerWiring.ts): `mock`, the mock's own dialect (POST
     * ENRICHMENT_API_URL); `peopledatalabs`, People Data Labs' bulk person enrichment (POST
     * ENRICHMENT_API_URL/v5/person/bulk, ENRICHMENT_API_URL its base: https://api.peopledatalabs.com or the mock's …/mock).
     */
    ENRICHMENT_PROVIDER: z.enum(['mock', 'peopledatalabs']).default('mock'),
    ENRICHMENT_API_URL: httpUrl,
    /** Sent as x-api-key to the enrichment API when set (the stage's own mock needs one of its API keys). */
    ENRICHMENT_API_KEY: z.string().optional(),
    /**
     * peopledatalabs on AWS: the Secrets Manager ARN of the API key (read once per cold start); ENRICHMENT_API_KEY,
     * when set, is used instead (offline, the mock).
     */
    PDL_API_KEY_SECRET_ARN: z.string().optional(),
    /** peopledatalabs: the least likelihood (1-10) a match must have to count (a match below it is a 404). */
    PDL_MIN_LIKELIHOOD: z.coerce.number().int().min(1).max(10).default(6),
    /** Public base URL of the API, used to build download links; derived from the request when unset. */
    PUBLIC_API_URL: optionalUrl,
    /** Endpoint overrides for the offline stack and tests (fauxqs, dynalite). */
    S3_ENDPOINT: optionalUrl,
    SQS_ENDPOINT: optionalUrl,
    DYNAMODB_ENDPOINT: optionalUrl,
    BATCH_SIZE: z.coerce.number().int().min(1).max(100).default(100),
    ENRICHMENT_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
    ENRICHMENT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(4),
    /**
     * A contact left alone next to a bad one must not fail on bad luck: at 30% transient errors,
     * 4 attempts still fail 1 in 123 of them, 8 attempts 1 in 15,000.
     */
    ENRICHMENT_SINGLE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(8),
    /** Attempts for a part of a bisected batch before it is split again. */
    ENRICHMENT_SUBBATCH_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(2),
    ENRICHMENT_BACKOFF_BASE_MS: z.coerce.number().int().min(0).default(200),
    ENRICHMENT_BACKOFF_MAX_MS: z.coerce.number().int().min(0).default(5_000),
    /**
     * Time the worker keeps back from its function timeout to store and record what it has: no
     * enrichment call or backoff runs into it. Must stay well under the worker timeout.
     */
    WORKER_TIME_RESERVE_MS: z.coerce.number().int().min(500).max(600_000).default(5_000),
    /** Enrichment calls a batch may make in all, across its deliveries: this many per contact, plus 10. */
    ENRICHMENT_CALL_BUDGET_FACTOR: z.coerce.number().min(1).max(100).default(3),
    /** Consecutive transient whole-call failures that open a worker's circuit breaker. */
    ENRICHMENT_BREAKER_THRESHOLD: z.coerce.number().int().min(2).max(1000).default(20),
    /** How long an open circuit makes no call before one trial call. */
    ENRICHMENT_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
    /**
     * While the provider's credits are spent (402), how long the provider gate stays shut before one trial call for the
     * whole fleet (docs/failure-handling.md: The provider gate).
     */
    PROVIDER_CREDIT_RETRY_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
    /**
     * How long a batch is held through a provider outage (every call failing), from its first outage hold; then it
     * spends its SQS receives again and reaches the DLQ (docs/failure-handling.md: The provider gate).
     */
    PROVIDER_OUTAGE_HOLD_SECONDS: z.coerce.number().int().min(1).max(604_800).default(3600),
    /**
     * The provider's limits, shared by every worker through one token bucket in the status table
     * (docs/failure-handling.md: Rate limits). 0 or unset: off.
     */
    PROVIDER_CALLS_PER_MINUTE: z.coerce.number().int().min(0).default(0),
    PROVIDER_CONTACTS_PER_MINUTE: z.coerce.number().int().min(0).default(0),
    /**
     * What the provider charges per match (an enriched row it answered; cache rows and not-found rows are free), in
     * whatever unit the team bills in: the usage's estimatedCost is matches × this. 0: no cost shown.
     */
    PROVIDER_PRICE_PER_MATCH: z.coerce.number().min(0).default(0),
    REQUEST_DEADLINE_SECONDS: seconds.default(3600),
    RECONCILE_STALL_SECONDS: seconds.default(300),
    DOWNLOAD_URL_TTL_SECONDS: seconds.max(604_800).default(900),
    RESULT_TTL_DAYS: seconds.default(30),
    /**
     * Offline only (the offline stack sets it from LOCAL_RESULT_TTL_MINUTES): a request expires this many minutes after
     * its creation instead of RESULT_TTL_DAYS, and the stack's sweeper applies the lifecycle rule and the tables' TTL
     * on that clock. 0: RESULT_TTL_DAYS.
     */
    RESULT_TTL_MINUTES: z.coerce.number().int().min(0).max(525_600).default(0),
    /** The result cache's table (serverless/resources/cache.yml); required while CACHE_TTL_DAYS is above 0. */
    CACHE_TABLE: z.string().optional(),
    /** Days a provider result is reused by later requests (docs/architecture.md: Result cache); 0 turns the cache off. */
    CACHE_TTL_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
    /** Days a not-found result is reused; 0 keeps none. */
    NOT_FOUND_CACHE_TTL_DAYS: z.coerce.number().int().min(0).max(3650).default(7),
    /** Whose cached results a request reuses: its API key owner's (`owner`), or every caller's (`service`). */
    CACHE_SCOPE: z.enum(['owner', 'service']).default('owner'),
    /**
     * The largest upload POST /enrichment/uploads accepts. At most 1,000 parts of 8 MiB, so the answer (one
     * presigned URL per part) stays under 1 MB, far from Lambda's 6 MB response limit.
     */
    MAX_UPLOAD_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .max(1000 * 8 * 1024 * 1024)
      .default(2_147_483_648),
    /** How long the presigned part URLs of an upload are valid. */
    UPLOAD_URL_TTL_SECONDS: seconds.max(604_800).default(3600),
    /** The webhook delivery function's queue and its dead-letter queue (docs/api.md: Webhooks). */
    WEBHOOK_QUEUE_NAME: z.string().min(1),
    WEBHOOK_DLQ_NAME: z.string().min(1),
    /** The wait after a webhook's first failed attempt; each next one is 4× (±10%), at most 6 h. */
    WEBHOOK_FIRST_RETRY_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
    /** Attempts before the event goes to the webhook DLQ: 12 from 5 s spans more than 24 hours. */
    WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(30).default(12),
    /** One attempt's whole time (connect, send, the answer's headers). */
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(10_000),
    /** true (offline): callbackUrls may be http:// and point anywhere (127.0.0.1); false: the deployed SSRF rules. */
    WEBHOOK_ALLOW_PRIVATE: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    /** Ports a callbackUrl may name when private addresses are not allowed (comma-separated). */
    WEBHOOK_ALLOWED_PORTS: z
      .string()
      .default('443')
      .transform((v) => v.split(',').map((p) => Number(p.trim())))
      .pipe(z.array(z.number().int().min(1).max(65_535)).min(1)),
    /** How long a rotated-out signing secret goes on signing beside the new one. */
    WEBHOOK_SECRET_OVERLAP_HOURS: z.coerce.number().min(0).max(720).default(24),
    METRICS_ENABLED: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    /** Metrics as JSON lines on stdout instead of through the Datadog extension (datadog-lambda-js's format). */
    DD_FLUSH_TO_LOG: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    /** Set by serverless-plugin-datadog when Datadog's handler wraps ours (then its metrics listener is running). */
    DD_LAMBDA_HANDLER: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    // A limit the bucket cannot run (below one take per shard, as planLimiter keeps one back) is refused here, by name.
    for (const [variable, settings] of [
      ['PROVIDER_CALLS_PER_MINUTE', { callsPerMinute: c.PROVIDER_CALLS_PER_MINUTE }],
      ['PROVIDER_CONTACTS_PER_MINUTE', { contactsPerMinute: c.PROVIDER_CONTACTS_PER_MINUTE }],
    ] as const) {
      try {
        planLimiter({ ...settings, maxContactsPerCall: c.BATCH_SIZE });
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: [variable],
          message: `${(err as Error).message} (BATCH_SIZE is ${c.BATCH_SIZE})`,
        });
      }
    }
  })
  .refine((c) => c.ENRICHMENT_PROVIDER !== 'peopledatalabs' || !!c.ENRICHMENT_API_KEY || !!c.PDL_API_KEY_SECRET_ARN, {
    path: ['ENRICHMENT_PROVIDER'],
    error: 'peopledatalabs needs its API key: set PDL_API_KEY_SECRET_ARN (a Secrets Manager ARN) or ENRICHMENT_API_KEY',
  })
  .refine((c) => c.CACHE_TTL_DAYS === 0 || !!c.CACHE_TABLE, {
    path: ['CACHE_TABLE'],
    error: 'the result cache needs its table: set CACHE_TABLE, or CACHE_TTL_DAYS=0 to turn the cache off',
  })
  .refine((c) => c.ENRICHMENT_BREAKER_THRESHOLD > c.ENRICHMENT_SINGLE_MAX_ATTEMPTS, {
    // A contact a whole-call-failing provider always rejects gets its single attempts in a row: they must not open the circuit.
    path: ['ENRICHMENT_BREAKER_THRESHOLD'],
    error:
      "must be greater than ENRICHMENT_SINGLE_MAX_ATTEMPTS (a lone bad contact's retries must not open the circuit)",
  });

export type Config = z.infer<typeof ConfigSchema>;

/** Every variable the functions read (docs/configuration.md documents each). */
export const CONFIG_VARIABLES = Object.keys(ConfigSchema.shape);

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  return parsed.data;
}

let cached: Config | undefined;

/** The configuration, read and validated once per cold start. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

/** For tests that change the environment between cases. */
export function resetConfig(): void {
  cached = undefined;
}

/** A knob the params pass as '' when it is not set. */
const unsetOr = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const MockConfigSchema = z.object({
  MOCK_LATENCY_MS: z.coerce.number().int().min(0).default(50),
  MOCK_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  MOCK_THROTTLE_RATE: z.coerce.number().min(0).max(1).default(0),
  MOCK_SPIKE_RATE: z.coerce.number().min(0).max(1).default(0),
  MOCK_SPIKE_MS: z.coerce.number().int().min(0).default(2000),
  /**
   * How the mock answers a call with a contact it can never enrich (a `.invalid` domain): `contact`,
   * a per-contact error in a 200 answer, as bulk enrichment APIs do; `call`, a 500 for the whole call.
   */
  MOCK_INVALID_MODE: z.enum(['contact', 'call']).default('contact'),
  /** Calls per API key (x-api-key) and fixed window of MOCK_RATE_WINDOW_SECONDS; over it 429. Unset or empty: no limit. */
  MOCK_RATE_LIMIT: unsetOr(z.coerce.number().int().min(1)),
  MOCK_RATE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  /** The credits balance when the state begins (offline: the stack's start), 1 per match; 402 once spent. Unset or empty: unlimited. */
  MOCK_CREDITS: unsetOr(z.coerce.number().int().min(0)),
  /** The mock's state table (rate windows, credits, outage, counters); unset: in memory, one process (unit tests). */
  MOCK_STATE_TABLE: unsetOr(z.string().min(3)),
});
export type MockConfig = z.infer<typeof MockConfigSchema>;
export const MOCK_CONFIG_VARIABLES = Object.keys(MockConfigSchema.shape);

/** The mock enrichment API's knobs; read per call so tests can turn them at run time. */
export function mockConfig(env: NodeJS.ProcessEnv = process.env): MockConfig {
  const parsed = MockConfigSchema.safeParse(env);
  if (!parsed.success)
    throw new ConfigError(
      `Invalid mock configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}
