import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Contact } from '../../src/schemas/contact';

/** Deterministic, valid contacts; the `poison` indexes get a `.invalid` domain, the `hang` ones a `.hang` domain. */
export function makeContacts(n: number, opts: { poison?: ReadonlySet<number>; hang?: ReadonlySet<number>; extra?: boolean } = {}): Contact[] {
  return Array.from({ length: n }, (_, i) => {
    const c: Contact = {
      first_name: `First${i}`,
      last_name: `Last${i}`,
      company_domain: opts.poison?.has(i) ? `company${i}.invalid` : opts.hang?.has(i) ? `company${i}.hang` : `company${i % 97}.example.com`,
    };
    if (opts.extra) (c as Record<string, unknown>).crm_id = `crm-${i}`;
    return c;
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
    requestContext: { requestId: 'test-request', domainName: 'api.example.test', stage: 'dev' } as APIGatewayProxyEvent['requestContext'],
    ...overrides,
  };
}
