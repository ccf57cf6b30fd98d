import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { isFinal, type StatusResponse } from '../../src/core/status';
import { apiEvent } from './factories';
import { createFn, statusFn } from './functions';
import type { OutputDoc } from './output';
import { runningService, type TestService } from './service';

/** POST /enrichment through the create function; `headers` as the client sends them (x-api-key, Idempotency-Key). */
export async function submit(
  body: unknown,
  headers: Record<string, string> = {},
): Promise<APIGatewayProxyResult & { json: any }> {
  const res = await createFn()(apiEvent({ body: typeof body === 'string' ? body : JSON.stringify(body), headers }));
  return { ...res, json: res.body ? JSON.parse(res.body) : undefined };
}

/** The status as the request's owner sees it (`headers`: the x-api-key it was created with, if any). */
export async function status(requestId: string, headers: Record<string, string> = {}): Promise<StatusResponse> {
  const res = await statusFn()(apiEvent({ httpMethod: 'GET', pathParameters: { id: requestId }, headers }));
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}: ${res.body}`);
  return JSON.parse(res.body);
}

/**
 * Polls the status until it is final (neither `validating` nor `processing`), then waits for the test service's
 * invocations under way to end (TestService.invocationsEnded: the one that finalized the request may still be
 * deleting its work files); fails the test after `timeoutMs`.
 */
export async function waitForFinal(
  requestId: string,
  timeoutMs = 60_000,
  headers: Record<string, string> = {},
): Promise<StatusResponse> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(requestId, headers);
    if (isFinal(s.status)) {
      await runningService()?.invocationsEnded();
      return s;
    }
    if (Date.now() > until) throw new Error(`request still processing after ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function readOutput(service: TestService, requestId: string): Promise<OutputDoc> {
  const text = await service.getObjectText(`${requestId}/output.json`);
  if (!text) throw new Error('output.json is missing');
  return JSON.parse(text);
}

/**
 * A rejected upload wrote only its status item, its tombstone (for a 410 after its expiry) and its dedup item: checks
 * that, then removes them, so that the table is empty again for the next case's check.
 */
export async function expectOnlyStatusAndDedupItems(service: TestService, requestId: string): Promise<void> {
  const items = (await service.ddb.send(new ScanCommand({ TableName: service.table }))).Items ?? [];
  expect(items.map((i) => i.requestId.S)).toHaveLength(3);
  expect(items.map((i) => i.requestId.S)).toEqual(
    expect.arrayContaining([requestId, `gone#${requestId}`, expect.stringMatching(/^dedup#/)]),
  );
  for (const i of items)
    await service.ddb.send(new DeleteItemCommand({ TableName: service.table, Key: { requestId: i.requestId } }));
}
