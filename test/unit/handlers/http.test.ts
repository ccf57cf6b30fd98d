import { resetConfig } from '../../../src/config';
import {
  BatchOutOfTimeError,
  EnrichmentError,
  EnrichmentPausedError,
  EnrichmentUnavailableError,
  ValidationError,
} from '../../../src/core/errors';
import {
  apiBaseUrl,
  correlationIdOf,
  downloadUrlFor,
  errorResponse,
  json,
  parseJsonBody,
} from '../../../src/handlers/http';
import { InputParseError } from '../../../src/core/inputFile';
import {
  CallsStoppedError,
  CreditsExhaustedError,
  HttpError,
  OutOfTimeError,
  TimeoutError,
} from '../../../src/core/retry';
import { recordingLogger } from '../../support/fakes';

describe('json', () => {
  it('serializes the body with a JSON content type and extra headers', () => {
    expect(json(201, { a: 1 }, { 'x-y': 'z' })).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'application/json', 'x-y': 'z' },
      body: '{"a":1}',
    });
  });
});

describe('errorResponse', () => {
  it('maps client errors to their status with their message and field errors', () => {
    const log = recordingLogger();
    expect(
      errorResponse(new ValidationError('Invalid request', [{ path: 'contacts', message: 'm' }]), log, 'c'),
    ).toEqual(json(400, { message: 'Invalid request', errors: [{ path: 'contacts', message: 'm' }] }));
    expect(errorResponse(new EnrichmentError('no such request', { kind: 'not_found' }), log, 'c')).toEqual(
      json(404, { message: 'no such request' }),
    );
    expect(errorResponse(new EnrichmentError('too big', { kind: 'payload_too_large' }), log, 'c')).toEqual(
      json(413, { message: 'too big' }),
    );
    expect(log.entries).toHaveLength(0);
  });

  it.each([
    ['not_found', 404],
    ['duplicate_in_progress', 409],
    ['payload_too_large', 413],
    ['unsupported_media_type', 415],
    ['idempotency_key_reused', 422],
  ] as const)('answers a %s error with %d and its message', (kind, status) => {
    const log = recordingLogger();
    expect(errorResponse(new EnrichmentError('m', { kind }), log, 'c')).toEqual(json(status, { message: 'm' }));
    expect(log.entries).toHaveLength(0);
  });

  it("answers the worker's batch errors like any unexpected error: a 500, logged", () => {
    for (const err of [
      new EnrichmentUnavailableError(3),
      new BatchOutOfTimeError(1, 2),
      new EnrichmentPausedError(1, 2),
      new EnrichmentError('m', { kind: 'enrichment_paused' }),
    ]) {
      const log = recordingLogger();
      expect(errorResponse(err, log, 'c')).toEqual(json(500, { message: 'Internal server error', correlationId: 'c' }));
      expect(log.entries).toHaveLength(1);
    }
  });

  it("derives every core error from the one base class, and answers the internal ones (a provider's 4xx included) 500", () => {
    for (const err of [
      new HttpError(404, 'enrichment API answered 404'),
      new CreditsExhaustedError(),
      new TimeoutError('slow'),
      new CallsStoppedError('budget'),
      new OutOfTimeError(2, new Error('last')),
      new InputParseError('not valid CSV', 'line 3'),
    ]) {
      expect(err).toBeInstanceOf(EnrichmentError);
      const log = recordingLogger();
      expect(errorResponse(err, log, 'c')).toEqual(json(500, { message: 'Internal server error', correlationId: 'c' }));
      expect(log.entries).toHaveLength(1);
    }
  });

  it('lists a body-level problem as an error on (body), so every 400 has errors[]', () => {
    expect(errorResponse(new ValidationError('Request body is not valid JSON'), recordingLogger(), 'c')).toEqual(
      json(400, {
        message: 'Request body is not valid JSON',
        errors: [{ path: '(body)', message: 'Request body is not valid JSON' }],
      }),
    );
  });

  it('hides anything else behind a generic 500 with the correlation id, logging the detail', () => {
    const log = recordingLogger();
    const res = errorResponse(new Error('secret detail'), log, 'corr-1');
    expect(res).toEqual(json(500, { message: 'Internal server error', correlationId: 'corr-1' }));
    expect(log.entries).toEqual([
      { level: 'error', msg: 'unexpected error', fields: { correlationId: 'corr-1', err: expect.any(Error) } },
    ]);
  });

  it('makes up a correlation id when none is given', () => {
    const body = JSON.parse(errorResponse(new Error('x'), recordingLogger()).body);
    expect(body.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('parseJsonBody', () => {
  it('parses plain and base64 bodies', () => {
    expect(parseJsonBody({ body: '{"a":1}', isBase64Encoded: false })).toEqual({ a: 1 });
    expect(parseJsonBody({ body: Buffer.from('{"a":"é"}').toString('base64'), isBase64Encoded: true })).toEqual({
      a: 'é',
    });
  });
  it('rejects empty and broken bodies with a 400', () => {
    expect(() => parseJsonBody({ body: null, isBase64Encoded: false })).toThrow(/body is empty/);
    expect(() => parseJsonBody({ body: '{', isBase64Encoded: false })).toThrow(ValidationError);
    try {
      parseJsonBody({ body: '{', isBase64Encoded: false });
    } catch (err) {
      expect((err as Error).cause).toBeInstanceOf(SyntaxError);
    }
  });
});

describe('apiBaseUrl / downloadUrlFor / correlationIdOf', () => {
  const saved = process.env.PUBLIC_API_URL;
  afterEach(() => {
    process.env.PUBLIC_API_URL = saved;
    resetConfig();
  });
  const event = {
    requestContext: { domainName: 'abc123.execute-api.us-east-1.amazonaws.com', stage: 'dev', requestId: 'rq-9' },
    headers: {},
  } as never;

  it('uses PUBLIC_API_URL without a trailing slash', () => {
    process.env.PUBLIC_API_URL = 'https://api.example.test/prod/';
    resetConfig();
    expect(apiBaseUrl(event)).toBe('https://api.example.test/prod');
    expect(downloadUrlFor(event, 'id-1')).toBe('https://api.example.test/prod/enrichment/id-1/download');
  });

  it('derives the URL from the API Gateway request otherwise', () => {
    process.env.PUBLIC_API_URL = '';
    resetConfig();
    expect(apiBaseUrl(event)).toBe('https://abc123.execute-api.us-east-1.amazonaws.com/dev');
  });

  it('takes the correlation id from the API Gateway request id', () => {
    expect(correlationIdOf(event)).toBe('rq-9');
    expect(correlationIdOf({ requestContext: undefined } as never)).toMatch(/^[0-9a-f-]{36}$/);
  });
});
