import { resetConfig } from '../../src/config';
import { createLogger, withInvocation } from '../../src/logger';
import { httpHandler } from '../../src/handlers/http';
import { apiEvent } from '../support/factories';
import { version } from '../../package.json';

/** Item 3 of issue 10: the fields every JSON log line carries (test/integration/tracing.test.ts checks them under dd-trace). */
describe('log lines', () => {
  const saved = { ...process.env };
  let lines: Array<Record<string, any>>;
  let raw: string[];

  beforeEach(() => {
    raw = [];
    const capture = (line: string) => raw.push(line);
    jest.spyOn(console, 'log').mockImplementation(capture);
    jest.spyOn(console, 'error').mockImplementation(capture);
    process.env.LOG_SILENT = 'false';
    resetConfig();
  });

  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...saved };
    delete (globalThis as { _ddtrace?: unknown })._ddtrace;
    resetConfig();
  });

  const parsed = () => (lines = raw.map((l) => JSON.parse(l)));

  it('are one JSON object each, with service, env and version from DD_SERVICE/DD_ENV/DD_VERSION', () => {
    Object.assign(process.env, { DD_SERVICE: 'svc', DD_ENV: 'prod', DD_VERSION: '1.2.3' });
    createLogger().child({ requestId: 'r1' }).info('hello', { count: 2 });
    expect(parsed()).toEqual([
      {
        level: 'info',
        time: expect.any(String),
        msg: 'hello',
        service: 'svc',
        env: 'prod',
        version: '1.2.3',
        requestId: 'r1',
        count: 2,
      },
    ]);
  });

  it('default to service enrichment-service, env local and the package version', () => {
    for (const name of ['DD_SERVICE', 'DD_ENV', 'DD_VERSION']) delete process.env[name];
    createLogger().info('hello');
    expect(parsed()[0]).toMatchObject({ service: 'enrichment-service', env: 'local', version });
  });

  it('take their level from config() (LOG_LEVEL)', () => {
    process.env.LOG_LEVEL = 'warn';
    const log = createLogger();
    log.info('dropped');
    log.warn('kept');
    expect(parsed().map((l) => l.msg)).toEqual(['kept']);
  });

  it('carry the Lambda awsRequestId inside an invocation, and only there', async () => {
    const log = createLogger();
    await withInvocation({ awsRequestId: 'aws-req-1' }, async () => {
      await Promise.resolve();
      log.info('inside');
    });
    log.info('outside');
    expect(parsed().map((l) => [l.msg, l.awsRequestId])).toEqual([
      ['inside', 'aws-req-1'],
      ['outside', undefined],
    ]);
  });

  it('carry dd.trace_id and dd.span_id of the active span as decimal strings; none without a span or with tracing off', () => {
    const context = { toTraceId: () => '1234567890123456789', toSpanId: () => '987654321' };
    let active: unknown = { context: () => context, setTag: () => undefined };
    (globalThis as { _ddtrace?: unknown })._ddtrace = { scope: () => ({ active: () => active }) };
    const log = createLogger();
    log.info('in a span');
    active = null;
    log.info('no span');
    active = { context: () => context };
    process.env.DD_TRACE_ENABLED = 'false';
    log.info('tracing off');
    expect(parsed().map((l) => [l.msg, l.dd])).toEqual([
      ['in a span', { trace_id: '1234567890123456789', span_id: '987654321' }],
      ['no span', undefined],
      ['tracing off', undefined],
    ]);
  });

  it('of an HTTP function carry its awsRequestId and the correlation id (httpHandler)', async () => {
    const handler = httpHandler(async () => {
      throw new Error('boom');
    });
    const res = await handler(apiEvent({ requestContext: { requestId: 'corr-1' } as never }), {
      awsRequestId: 'aws-req-2',
    });
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ message: 'Internal server error', correlationId: 'corr-1' });
    expect(parsed()).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'unexpected error',
        awsRequestId: 'aws-req-2',
        correlationId: 'corr-1',
      }),
    ]);
  });
});
