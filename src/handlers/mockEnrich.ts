import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { mockConfig } from '../config';
import { isHangingContact, isPoisonContact, mockEnrichContact, POISON_CONTACT_ERROR } from './mockData';
import { parseOrThrow } from '../core/validation';
import { logger } from '../logger';
import { ContactSchema, EnrichFieldSchema } from '../schemas/contact';
import { errorResponse, json, parseJsonBody } from './http';

const MockRequestSchema = z.object({
  contacts: z.array(ContactSchema).min(1).max(100, { error: 'at most 100 contacts per call' }),
  fields: z.array(EnrichFieldSchema).min(1),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The mock enrichment API: deterministic data, with configurable latency, spikes, throttling and failures, and poison (`.invalid`: a per-contact error, or with MOCK_INVALID_MODE=call a 500 for the whole call) and hanging (`.hang`) contacts. */
export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const log = logger.child({ fn: 'mockEnrich' });
  try {
    const request = parseOrThrow(MockRequestSchema, parseJsonBody(event), 'Invalid enrichment call');
    const knobs = mockConfig();
    // Never answers: the caller's timeout (or the function's own) ends the call.
    if (request.contacts.some(isHangingContact)) return await new Promise<never>(() => undefined);
    await sleep(knobs.MOCK_LATENCY_MS + (Math.random() < knobs.MOCK_SPIKE_RATE ? knobs.MOCK_SPIKE_MS : 0));
    if (Math.random() < knobs.MOCK_THROTTLE_RATE)
      return json(429, { message: 'Too many requests' }, { 'retry-after': '1' });
    if (Math.random() < knobs.MOCK_FAILURE_RATE) return json(500, { message: 'Injected failure (MOCK_FAILURE_RATE)' });
    if (knobs.MOCK_INVALID_MODE === 'call' && request.contacts.some(isPoisonContact))
      return json(500, { message: 'Cannot enrich a contact in this call' });
    return json(200, {
      results: request.contacts.map((c) =>
        isPoisonContact(c) ? POISON_CONTACT_ERROR : mockEnrichContact(c, request.fields),
      ),
    });
  } catch (err) {
    return errorResponse(err, log);
  }
};
