import { execFile } from 'node:child_process';
import path from 'node:path';
import { type Doc, ServerlessConfig } from '../../src/local/serverlessConfig';

/**
 * The offline stack reads serverless.yml and its parts with its own resolver (src/local/serverlessConfig.ts:
 * synchronous, in-process, for any stage and params a test asks for). This checks it against the framework's own
 * resolution, `sls print --format json`, with no AWS account (fake credentials, AWS calls sent to a closed port):
 * the functions, the resources and the environment the offline stack uses must be the framework's.
 */
const ROOT = path.resolve(__dirname, '../..');
const SLS = path.join(ROOT, 'node_modules/serverless/bin/serverless.js');
const DD_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:datadog-api-key-AbCdEf';
// The same environment for both: nothing of the caller's (e.g. a LOG_LEVEL) may make them differ.
const ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  AWS_EC2_METADATA_DISABLED: 'true',
  MOCK_LATENCY_MS: '7',
};

function slsPrint(stage: string, params: Record<string, string>): Promise<Doc> {
  const args = [SLS, 'print', '--stage', stage, '--region', 'us-east-1', '--format', 'json'];
  for (const [name, value] of Object.entries(params)) args.push(`--param=${name}=${value}`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, env: ENV, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`sls print --stage ${stage} failed: ${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

/**
 * What differs without meaning: the framework leaves out a property that resolved to null (the offline resolver
 * keeps it as null) and types a scalar by the configuration schema (60, not "60"); Lambda sees strings either way.
 */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, plain(v)]),
    );
  }
  return value === null || value === undefined ? value : String(value);
}

describe.each([
  ['local', {}],
  // A deployed stage as the default params make it: no mock, Datadog on (its policy on every role).
  ['t1xparity', { enrichmentApiUrl: 'https://enrich.example.com/v1/enrich', ddApiKeySecretArn: DD_SECRET }],
])('the offline stack reads stage %s as `sls print` resolves it', (stage, params: Record<string, string>) => {
  let printed: Doc;
  let sls: ServerlessConfig;
  beforeAll(async () => {
    printed = await slsPrint(stage, params);
    sls = new ServerlessConfig({ stage, region: 'us-east-1', env: ENV, params });
  }, 90_000);
  // The printed values through the offline resolver too: it only evaluates a !Sub of pseudo parameters (the fake
  // account), as it does to its own.
  const framework = (value: unknown) => plain(sls.resolve(value));

  it('the same functions, each with the same handler, role, memory, timeout, environment and events', () => {
    const offline = sls.functions();
    expect(Object.keys(offline).sort()).toEqual(Object.keys(printed.functions).sort());
    for (const [key, fn] of Object.entries<Doc>(printed.functions)) {
      const { name, ...rest } = fn;
      expect(name).toBe(sls.functionName(key));
      expect([key, plain(sls.resolve(offline[key]))]).toEqual([key, framework(rest)]);
    }
  });

  it('the same resources, logical id for logical id, property for property', () => {
    const offline = sls.resources();
    expect(Object.keys(offline).sort()).toEqual(Object.keys(printed.resources.Resources).sort());
    for (const [id, resource] of Object.entries<Doc>(printed.resources.Resources)) {
      expect([id, plain(sls.resolve(offline[id]))]).toEqual([id, framework(resource)]);
    }
  });

  it('the same environment for every function', () => {
    expect(sls.environment()).toEqual(framework(printed.provider.environment));
  });
});
