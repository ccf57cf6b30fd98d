import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ValidationError } from '../core/errors';
import { OUTPUT_CONTENT_TYPES, OUTPUT_FORMATS, type OutputFormat } from '../core/output';
import { hasFinalOutput, outputKey } from '../core/status';
import { quoteInput } from '../schemas/text';
import { liveRequest } from '../core/expiry';
import { json, ownerOf, requestIdOf, httpHandler } from './http';
import { readDeps, type ReadDeps } from './wiring';

/** `?format=` (json when absent); anything else is a 400 naming the formats there are. */
function formatOf(event: Pick<APIGatewayProxyEvent, 'queryStringParameters'>): OutputFormat {
  const format = event.queryStringParameters?.format;
  if (format === undefined) return 'json';
  if ((OUTPUT_FORMATS as readonly string[]).includes(format)) return format as OutputFormat;
  const message = `Unknown format ${quoteInput(format)}. Allowed formats: ${OUTPUT_FORMATS.join(', ')}`;
  throw new ValidationError(message, [{ path: 'format', message }]);
}

/**
 * A stable link that redirects to a fresh presigned URL, so it works for as long as the output exists.
 * Before the request is final only output.json exists (its placeholder); NDJSON and CSV answer 409 then.
 */
export function makeHandler(deps: () => ReadDeps = readDeps) {
  return httpHandler(async (event) => {
    const format = formatOf(event);
    const { status, history, clock, presign } = deps();
    // 410 once expired (even after the status item is gone: its tombstone says so), 404 unknown or another key's.
    const record = await liveRequest(requestIdOf(event), ownerOf(event), { status, history, clock });
    const headers = { 'cache-control': 'no-store', 'x-enrichment-status': record.status };
    if (record.status === 'rejected') {
      return json(
        409,
        {
          message: `Request ${record.requestId} was rejected and has no output: GET /enrichment/${record.requestId} shows its errors`,
        },
        headers,
      );
    }
    if (record.status === 'validating') {
      const message = `Request ${record.requestId} is still validating its upload: there is no output yet (GET /enrichment/${record.requestId} shows its progress)`;
      return json(409, { message }, headers);
    }
    if (format !== 'json' && !hasFinalOutput(record.status)) {
      const message = `The ${format} output exists once the request is final (status is ${record.status}); only json has a placeholder before`;
      return json(409, { message }, headers);
    }
    const key = format === 'json' ? record.outputFileKey : outputKey(record.requestId, format);
    const location = await presign(key, `enrichment-${record.requestId}.${format}`, OUTPUT_CONTENT_TYPES[format]);
    return { statusCode: 302, headers: { location, ...headers }, body: '' };
  });
}

export const handler = makeHandler();
