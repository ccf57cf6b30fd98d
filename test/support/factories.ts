import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Contact } from '../../src/schemas/contact';

/** The tests' one home for builders of inputs: contacts, API Gateway events, SQS records and events. */

/**
 * `n` deterministic, valid contacts, numbered from `start`; the `poison` indexes get a `.invalid` domain,
 * the `hang` ones a `.hang` domain; `extra` adds properties: `true` a `crm_id`, a function its result.
 */
export function makeContacts(
  n: number,
  opts: {
    start?: number;
    poison?: ReadonlySet<number>;
    hang?: ReadonlySet<number>;
    extra?: boolean | ((i: number) => Record<string, unknown>);
  } = {},
): Contact[] {
  const extra = opts.extra === true ? (i: number) => ({ crm_id: `crm-${i}` }) : opts.extra || undefined;
  return Array.from({ length: n }, (_, k) => {
    const i = (opts.start ?? 0) + k;
    const company_domain = opts.poison?.has(i)
      ? `company${i}.invalid`
      : opts.hang?.has(i)
        ? `company${i}.hang`
        : `company${i % 97}.example.com`;
    return { first_name: `First${i}`, last_name: `Last${i}`, company_domain, ...(extra?.(i) ?? {}) };
  });
}

/** `count` distinct indexes below `n`, scattered by a seeded generator. */
export function scatteredIndexes(n: number, count: number, seed = 42): Set<number> {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Set<number>();
  while (out.size < count) out.add(Math.floor(rand() * n));
  return out;
}

export function apiEvent(overrides: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent {
  return {
    body: null,
    headers: {},
    multiValueHeaders: {},
    httpMethod: 'POST',
    isBase64Encoded: false,
    path: '/enrichment',
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    resource: '/enrichment',
    requestContext: {
      requestId: 'test-request',
      domainName: 'api.example.test',
      stage: 'dev',
    } as APIGatewayProxyEvent['requestContext'],
    ...overrides,
  };
}

/** One SQS record as Lambda delivers it (`receiveCount`: ApproximateReceiveCount, 1 unless given). */
export interface SqsRecordSpec {
  body: string;
  messageId?: string;
  receiveCount?: number;
}

export function sqsRecord(spec: SqsRecordSpec, arn = 'arn:aws:sqs:us-east-1:000000000000:test'): SQSRecord {
  const now = String(Date.now());
  return {
    messageId: spec.messageId ?? randomUUID(),
    receiptHandle: randomUUID(),
    body: spec.body,
    attributes: {
      ApproximateReceiveCount: String(spec.receiveCount ?? 1),
      SentTimestamp: now,
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: 'us-east-1',
  };
}

/** An SQS event as Lambda builds it, one record per entry (a string is a record's body). */
export function sqsEvent(records: ReadonlyArray<SqsRecordSpec | string>, arn?: string): SQSEvent {
  return { Records: records.map((r) => sqsRecord(typeof r === 'string' ? { body: r } : r, arn)) };
}
