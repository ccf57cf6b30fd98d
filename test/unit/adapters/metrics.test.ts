import { resetConfig } from '../../../src/config';
import { datadogMetrics } from '../../../src/adapters/metrics';

const ENV = [
  'METRICS_ENABLED',
  'DD_FLUSH_TO_LOG',
  'DD_ENV',
  'DD_SERVICE',
  'DD_VERSION',
  'DD_LAMBDA_HANDLER',
  'STAGE',
] as const;

describe('the Datadog metrics adapter', () => {
  const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
  let written: string[];
  beforeEach(() => {
    written = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    Object.assign(process.env, { METRICS_ENABLED: 'true', DD_ENV: 'prod', DD_VERSION: '1.2.3', STAGE: 'prod' });
    delete process.env.DD_SERVICE;
    delete process.env.DD_LAMBDA_HANDLER;
    delete process.env.DD_FLUSH_TO_LOG;
    resetConfig();
  });
  afterEach(() => {
    jest.restoreAllMocks();
    for (const k of ENV)
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    resetConfig();
  });

  it("with DD_FLUSH_TO_LOG=true outside Datadog's wrapper, prints one JSON line per point in datadog-lambda-js's format, tagged env/service/version", () => {
    process.env.DD_FLUSH_TO_LOG = 'true';
    datadogMetrics.emit('requestAccepted', 1, { input: 'inline' });
    expect(written).toHaveLength(1);
    const line = JSON.parse(written[0]);
    expect(line).toEqual({
      e: expect.any(Number),
      m: 'enrichment.request.accepted',
      v: 1,
      t: ['env:prod', 'service:enrichment-service', 'version:1.2.3', 'stage:prod', 'input:inline'],
    });
  });

  it('without DD_FLUSH_TO_LOG and without the wrapper, drops the point (datadog-lambda-js would only queue it in memory)', () => {
    const queue = (require('datadog-lambda-js') as { _metricsQueue: { length: number } })._metricsQueue;
    const before = queue.length;
    datadogMetrics.emit('requestAccepted', 1, { input: 'inline' });
    expect(written).toEqual([]);
    expect(queue.length).toBe(before);
  });

  it("under Datadog's wrapper (DD_LAMBDA_HANDLER), hands the point to datadog-lambda-js", () => {
    process.env.DD_LAMBDA_HANDLER = 'src/handlers/processBatch.handler';
    // No listener runs in a unit test, so datadog-lambda-js keeps the point in its queue for the listener to come.
    const queue = (
      require('datadog-lambda-js') as {
        _metricsQueue: { length: number; pop(): { name: string; value: number; tags: string[] } | undefined };
      }
    )._metricsQueue;
    const before = queue.length;
    datadogMetrics.emit('batchDelivery', 1, { result: 'recorded' });
    expect(queue.length).toBe(before + 1);
    const point = queue.pop();
    expect(point).toMatchObject({ name: 'enrichment.batch.delivery', value: 1 });
    expect(point?.tags).toEqual(
      expect.arrayContaining([
        'env:prod',
        'service:enrichment-service',
        'version:1.2.3',
        'stage:prod',
        'result:recorded',
      ]),
    );
    expect(written).toEqual([]);
  });

  it('sends nothing with METRICS_ENABLED=false', () => {
    Object.assign(process.env, { METRICS_ENABLED: 'false', DD_FLUSH_TO_LOG: 'true' });
    resetConfig();
    datadogMetrics.emit('requestAccepted', 1, { input: 'inline' });
    expect(written).toEqual([]);
  });
});
