import { createHash } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { documentClient } from '../adapters/clients';
import { mockConfig, type MockConfig } from '../config';
import { isHangingContact, isPoisonContact, mockEnrichContact, mockPdlRecord, POISON_CONTACT_ERROR } from './mockData';
import { dynamoMockState, memoryMockState, type Dialect, type MockState, type Refusal } from './mockState';
import { parseOrThrow } from '../core/validation';
import { logger } from '../logger';
import { ContactSchema, EnrichFieldSchema, type Contact } from '../schemas/contact';
import { errorResponse, header, json, parseJsonBody } from './http';

const MockRequestSchema = z.object({
  contacts: z.array(ContactSchema).min(1).max(100, { error: 'at most 100 contacts per call' }),
  fields: z.array(EnrichFieldSchema).min(1),
});

/**
 * People Data Labs' bulk request as the mock reads it (https://docs.peopledatalabs.com/docs/bulk-enrichment-api):
 * 1-100 `requests`, each `params` (here first_name, last_name, company: a domain; min_likelihood) and any `metadata`.
 */
const PdlRequestSchema = z.object({
  requests: z
    .array(
      z.object({
        params: z.looseObject({
          first_name: z.string(),
          last_name: z.string(),
          company: z.string(),
          min_likelihood: z.coerce.number().int().min(1).max(10).optional(),
        }),
        metadata: z.unknown().optional(),
      }),
    )
    .min(1)
    .max(100, { error: 'at most 100 requests per call' }),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let state: { table: string | undefined; store: MockState } | undefined;

/**
 * The shared state (MOCK_STATE_TABLE, with the function's own clients: one per cold start), or one in memory when no
 * table is configured (unit tests, the test harness's in-process mock).
 */
function defaultState(knobs: MockConfig): MockState {
  if (!state || state.table !== knobs.MOCK_STATE_TABLE) {
    const table = knobs.MOCK_STATE_TABLE;
    state = { table, store: table ? dynamoMockState(table, documentClient()) : memoryMockState() };
  }
  return state.store;
}

/** For tests: a fresh state (in memory) or a new table. */
export function resetMockState(): void {
  state = undefined;
}

/** Per API key, as a provider limits: the key hashed (the table never holds a key). */
const rateKey = (event: APIGatewayProxyEvent) =>
  createHash('sha256')
    .update(header(event, 'x-api-key') ?? '')
    .digest('hex')
    .slice(0, 16);

/** An enrichment call of either dialect, parsed: the contacts and what turns the results into the answer. */
interface EnrichCall {
  dialect: Dialect;
  contacts: Contact[];
  /** The 200 answer's body and the matches in it. */
  answer(): { body: unknown; matches: number };
}

function mockDialectCall(body: unknown): EnrichCall {
  const request = parseOrThrow(MockRequestSchema, body, 'Invalid enrichment call');
  return {
    dialect: 'mock',
    contacts: request.contacts,
    answer() {
      const results = request.contacts.map((c) =>
        isPoisonContact(c) ? POISON_CONTACT_ERROR : mockEnrichContact(c, request.fields),
      );
      return { body: { results }, matches: results.filter((r) => r.enrichment_status === 'enriched').length };
    },
  };
}

function pdlDialectCall(body: unknown): EnrichCall {
  const request = parseOrThrow(PdlRequestSchema, body, 'Invalid bulk enrichment call');
  const contacts = request.requests.map((r) => ({
    first_name: r.params.first_name,
    last_name: r.params.last_name,
    company_domain: r.params.company,
  }));
  return {
    dialect: 'peopledatalabs',
    contacts,
    answer() {
      const records = request.requests.map((r, i) => {
        const record = mockPdlRecord(contacts[i], r.metadata);
        // A match below the caller's min_likelihood is no match (PDL: a 404).
        if (record.status === 200 && (record.likelihood as number) < (r.params.min_likelihood ?? 1))
          return { status: 404, error: { type: 'not_found', message: 'No records were found matching your request' } };
        return record;
      });
      return { body: records, matches: records.filter((r) => r.status === 200).length };
    },
  };
}

/** x-ratelimit-* as People Data Labs' older pages document them: numbers, the reset in epoch seconds. */
function rateHeaders(knobs: MockConfig, used: number, windowEnd: number): Record<string, string> {
  if (knobs.MOCK_RATE_LIMIT === undefined) return {};
  return {
    'x-ratelimit-limit': String(knobs.MOCK_RATE_LIMIT),
    'x-ratelimit-remaining': String(Math.max(0, knobs.MOCK_RATE_LIMIT - used)),
    'x-ratelimit-reset': String(Math.ceil(windowEnd / 1000)),
  };
}

async function enrich(
  event: APIGatewayProxyEvent,
  call: EnrichCall,
  knobs: MockConfig,
  store: MockState,
): Promise<APIGatewayProxyResult> {
  const refuse = async (outcome: Refusal, res: APIGatewayProxyResult) => {
    await store.refuse(call.dialect, outcome, call.contacts.length);
    return res;
  };
  // Never answers: the caller's timeout (or the function's own) ends the call.
  if (call.contacts.some(isHangingContact)) {
    await store.refuse(call.dialect, 'other', call.contacts.length);
    return await new Promise<never>(() => undefined);
  }
  await sleep(knobs.MOCK_LATENCY_MS + (Math.random() < knobs.MOCK_SPIKE_RATE ? knobs.MOCK_SPIKE_MS : 0));

  // The fixed window of the caller's key, as People Data Labs limits (per key, fixed 60 s windows).
  const now = Date.now();
  const windowMs = knobs.MOCK_RATE_WINDOW_SECONDS * 1000;
  const windowStart = now - (now % windowMs);
  const windowEnd = windowStart + windowMs;
  let used = 0;
  if (knobs.MOCK_RATE_LIMIT !== undefined) {
    const taken = await store.take(
      rateKey(event),
      windowStart,
      knobs.MOCK_RATE_LIMIT,
      Math.ceil(windowEnd / 1000) + 60,
    );
    used = taken.count;
    if (!taken.allowed) {
      const retryAfter = String(Math.max(1, Math.ceil((windowEnd - now) / 1000)));
      return refuse(
        'throttled',
        json(
          429,
          { message: 'Too many requests' },
          { ...rateHeaders(knobs, used, windowEnd), 'retry-after': retryAfter },
        ),
      );
    }
  }
  const limits = rateHeaders(knobs, used, windowEnd);
  if (Math.random() < knobs.MOCK_THROTTLE_RATE)
    return refuse('throttled', json(429, { message: 'Too many requests' }, { ...limits, 'retry-after': '1' }));
  if (Math.random() < knobs.MOCK_FAILURE_RATE)
    return refuse('serverErrors', json(500, { message: 'Injected failure (MOCK_FAILURE_RATE)' }, limits));
  if (knobs.MOCK_INVALID_MODE === 'call' && call.contacts.some(isPoisonContact))
    return refuse('serverErrors', json(500, { message: 'Cannot enrich a contact in this call' }, limits));

  const { body, matches } = call.answer();
  const served = await store.serve({
    dialect: call.dialect,
    contacts: call.contacts.length,
    matches,
    now,
    initialCredits: knobs.MOCK_CREDITS,
  });
  if (served === 'outage') return refuse('serverErrors', json(500, { message: 'Outage (POST /mock/outage)' }, limits));
  if (served === 'credits')
    return refuse(
      'creditErrors',
      json(402, { error: { type: 'payment_required', message: 'You have hit your account maximum' } }, limits),
    );
  return json(200, body, limits);
}

const CreditsSchema = z.object({ add: z.number().int().min(1) });
const OutageSchema = z.object({ seconds: z.number().min(0).max(86_400) });

/**
 * The mock enrichment API: deterministic data in two dialects, its own (POST /mock/enrich) and People Data Labs' bulk
 * person enrichment (POST /mock/v5/person/bulk); behaving like a provider (a rate limit per key and fixed window,
 * credits, outages: MOCK_RATE_LIMIT, MOCK_RATE_WINDOW_SECONDS, MOCK_CREDITS, POST /mock/credits, POST /mock/outage)
 * with its counters at GET /mock/stats; and with configurable latency, spikes, random throttling and failures, poison
 * (`.invalid`: a per-contact error, or with MOCK_INVALID_MODE=call a 500 for the whole call) and hanging (`.hang`)
 * contacts.
 */
export const makeHandler =
  (stateOf: (knobs: MockConfig) => MockState = defaultState) =>
  async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const log = logger.child({ fn: 'mockEnrich' });
    try {
      const knobs = mockConfig();
      const mockState = () => stateOf(knobs);
      const route = `${event.httpMethod} ${(event.path || event.resource).replace(/\/+$/, '')}`;
      if (route.endsWith('/mock/v5/person/bulk'))
        return await enrich(event, pdlDialectCall(parseJsonBody(event)), knobs, mockState());
      if (route.endsWith('/mock/stats')) return json(200, await mockState().stats(knobs.MOCK_CREDITS));
      if (route.endsWith('/mock/credits')) {
        const { add } = parseOrThrow(CreditsSchema, parseJsonBody(event), 'Invalid credits call');
        if (knobs.MOCK_CREDITS === undefined)
          return json(409, { message: 'MOCK_CREDITS is not set: the credits are unlimited' });
        return json(200, { creditsLeft: await mockState().addCredits(add, knobs.MOCK_CREDITS) });
      }
      if (route.endsWith('/mock/outage')) {
        const { seconds } = parseOrThrow(OutageSchema, parseJsonBody(event), 'Invalid outage call');
        const until = Date.now() + seconds * 1000;
        await mockState().setOutage(until);
        return json(200, { outageUntil: new Date(until).toISOString() });
      }
      return await enrich(event, mockDialectCall(parseJsonBody(event)), knobs, mockState());
    } catch (err) {
      return errorResponse(err, log);
    }
  };

export const handler = makeHandler();
