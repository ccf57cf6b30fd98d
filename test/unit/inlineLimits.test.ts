import {
  API_GATEWAY_MAX_BODY_BYTES,
  checkInline,
  INLINE_CONTACTS_ESTIMATE,
  LAMBDA_MAX_EVENT_BYTES,
  proxyEventBytes,
  proxyEventFor,
  TOO_LARGE_MESSAGE,
  type InlineRequest,
} from '../../src/inlineLimits';
import { ServerlessConfig } from '../../src/local/serverlessConfig';
import { fetchPostHeaders } from '../../src/scripts/lib/api';
import { generateContacts } from '../../src/scripts/lib/contacts';

const fetchHeaders = (body: string) => fetchPostHeaders(body, 'localhost:3000');
const post = (
  body: string,
  headers: InlineRequest['headers'] = { 'content-type': 'application/json' },
): InlineRequest => ({
  method: 'POST',
  url: '/enrichment',
  headers,
  body,
});

describe('the Lambda proxy event of a request', () => {
  it('has the shape of an API Gateway REST proxy event, with the client headers and the ones AWS adds', () => {
    const event = proxyEventFor({
      method: 'GET',
      url: '/enrichment/abc?x=1&x=2&y=3',
      headers: { 'user-agent': 'curl/8', accept: '*/*' },
      body: '',
    });
    expect(Object.keys(event).sort()).toEqual(
      [
        'body',
        'headers',
        'httpMethod',
        'isBase64Encoded',
        'multiValueHeaders',
        'multiValueQueryStringParameters',
        'path',
        'pathParameters',
        'queryStringParameters',
        'requestContext',
        'resource',
        'stageVariables',
      ].sort(),
    );
    expect(event).toMatchObject({
      path: '/enrichment/abc',
      httpMethod: 'GET',
      queryStringParameters: { x: '2', y: '3' },
      multiValueQueryStringParameters: { x: ['1', '2'], y: ['3'] },
      headers: {
        'user-agent': 'curl/8',
        accept: '*/*',
        'X-Amzn-Trace-Id': expect.any(String),
        'CloudFront-Viewer-Country': 'US',
      },
      multiValueHeaders: { 'user-agent': ['curl/8'], 'X-Forwarded-For': [expect.any(String)] },
      requestContext: {
        httpMethod: 'GET',
        requestId: expect.any(String),
        identity: { userAgent: 'curl/8', sourceIp: expect.any(String) },
      },
    });
  });

  it('counts the body JSON-escaped: one extra byte per quote, the rest as is', () => {
    const empty = proxyEventBytes(post(''));
    const plain = 'a'.repeat(1000);
    expect(proxyEventBytes(post(plain))).toBe(empty + 1000);
    const contact = JSON.stringify({ first_name: 'Ada', last_name: 'Lovelace', company_domain: 'example.com' });
    const quotes = contact.split('"').length - 1;
    expect(quotes).toBe(12);
    expect(proxyEventBytes(post(contact))).toBe(empty + Buffer.byteLength(contact) + quotes);
    // Non-ASCII stays UTF-8 (2 bytes for é), a newline becomes `\n`.
    expect(proxyEventBytes(post('é\n'))).toBe(empty + 2 + 2);
  });
});

describe('checkInline: API Gateway 10 MB body and Lambda 6 MB event, exact at the boundary', () => {
  const headers = { 'content-type': 'application/json' };
  const overhead = proxyEventBytes(post('', headers));
  const bodyOfEvent = (eventBytes: number) => 'x'.repeat(eventBytes - overhead);

  it('takes an event one byte smaller than 6,291,456 and rejects one of exactly 6,291,456 or one more', () => {
    expect(LAMBDA_MAX_EVENT_BYTES).toBe(6_291_456);
    const under = post(bodyOfEvent(LAMBDA_MAX_EVENT_BYTES - 1), headers);
    expect(proxyEventBytes(under)).toBe(LAMBDA_MAX_EVENT_BYTES - 1);
    expect(checkInline(under)).toEqual({ ok: true, eventBytes: LAMBDA_MAX_EVENT_BYTES - 1 });
    expect(checkInline(post(bodyOfEvent(LAMBDA_MAX_EVENT_BYTES), headers))).toEqual({
      ok: false,
      limit: 'event',
      eventBytes: LAMBDA_MAX_EVENT_BYTES,
    });
    expect(checkInline(post(bodyOfEvent(LAMBDA_MAX_EVENT_BYTES + 1), headers))).toEqual({
      ok: false,
      limit: 'event',
      eventBytes: LAMBDA_MAX_EVENT_BYTES + 1,
    });
  });

  it('rejects a body over 10 MB as a body, whatever its event', () => {
    expect(API_GATEWAY_MAX_BODY_BYTES).toBe(10_485_760);
    expect(checkInline(post('x'.repeat(API_GATEWAY_MAX_BODY_BYTES + 1)))).toEqual({
      ok: false,
      limit: 'body',
      bodyBytes: API_GATEWAY_MAX_BODY_BYTES + 1,
    });
    expect(checkInline(post('x'.repeat(API_GATEWAY_MAX_BODY_BYTES)))).toMatchObject({ ok: false, limit: 'event' });
  });

  it('fits 67,000 createJson contacts (as the README and the 413 message say) but not 5.5 MB of them', () => {
    const contacts = [...generateContacts(72_000, { seed: 1 })];
    const body = (n: number) =>
      JSON.stringify({ contacts: contacts.slice(0, n), fields_to_enrich: ['professional_email', 'personal_phone'] });
    const fits = body(67_000);
    expect(checkInline(post(fits, fetchHeaders(fits))).ok).toBe(true);
    expect(INLINE_CONTACTS_ESTIMATE).toBe('about 5.2 MB or 67,000 contacts');
    expect(Buffer.byteLength(fits) / 1024 / 1024).toBeCloseTo(5.2, 1);
    expect(TOO_LARGE_MESSAGE).toContain(INLINE_CONTACTS_ESTIMATE);
    const over = body(71_500);
    expect(Buffer.byteLength(over)).toBeGreaterThan(5.5 * 1024 * 1024);
    expect(checkInline(post(over, fetchHeaders(over)))).toMatchObject({ ok: false, limit: 'event' });
  });
});

describe('the 413 message', () => {
  it('is the one serverless.yml gives API Gateway (REQUEST_TOO_LARGE), naming the upload path', () => {
    const response = new ServerlessConfig({ stage: 'local', region: 'us-east-1', env: {} }).tooLargeResponse();
    expect(response.statusCode).toBe(413);
    expect(JSON.parse(response.body)).toEqual({ message: TOO_LARGE_MESSAGE });
    expect(TOO_LARGE_MESSAGE).toContain('{"contacts": "s3://<bucket>/uploads/<key>"}');
  });
});
