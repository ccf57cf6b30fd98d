import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { streamContactsOf } from '../core/inputFile';
import { INLINE_CONTACTS_ESTIMATE, LAMBDA_MAX_EVENT_BYTES } from '../inlineLimits';
import { apiUrl, createEnrichment, DEFAULT_FIELDS, inlineVerdict, type CreateResponse } from './lib/api';
import { checkOutput } from './lib/checkOutput';
import { downloadTo } from './lib/download';
import { waitForCompletion } from './lib/poll';
import { formatOf, uploadContactsFile } from './lib/upload';

const usage = (
  script: string,
) => `usage: npx ts-node src/scripts/${script} <contacts file> [true] [--wait] [--fields a,b] [--out FILE]

Submits the contacts in <contacts file> to POST ${apiUrl()}/enrichment and prints the response: JSON ({"contacts": [...]})
inline; a request too large to send inline (a Lambda event of 6 MB: ${INLINE_CONTACTS_ESTIMATE}), or an NDJSON
(.ndjson, .jsonl) or CSV (.csv) file, is uploaded first.
  true            upload the file first (POST /enrichment/uploads, presigned part URLs: no AWS credentials needed)
                  and submit its reference, whatever its size
  --fields a,b    fields to enrich (default ${DEFAULT_FIELDS.join(',')})
  --wait          poll the status with a progress bar, then download the output and check it against the input
  --out FILE      where --wait saves the output (default output_<requestId>.json)
  --interval S    seconds between status polls (default 1)
  --timeout S     give up waiting after S seconds (default 3600; 0 waits forever)
Environment: API_URL (default http://localhost:3000), API_KEY (sent as x-api-key; unset, the local stack's key
in .local/api-key, or LOCAL_API_KEY_FILE, is sent to a localhost API_URL only).`;

class UsageError extends Error {}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      fields: { type: 'string' },
      wait: { type: 'boolean', short: 'w' },
      out: { type: 'string', short: 'o' },
      interval: { type: 'string' },
      timeout: { type: 'string' },
      s3: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [file, flag, ...rest] = positionals;
  if (values.help) return { help: true as const };
  if (!file) throw new UsageError('missing the contacts file');
  if (rest.length || (flag !== undefined && flag !== 'true' && flag !== 'false')) {
    throw new UsageError(
      `unexpected argument(s): ${[flag, ...rest].join(' ')} (the only one after the file is "true")`,
    );
  }
  const seconds = (name: string, v: string | undefined, fallback: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a number of seconds, got "${v}"`);
    return n;
  };
  const fields = (values.fields ?? DEFAULT_FIELDS.join(','))
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  if (!fields.length) throw new UsageError('--fields must name at least one field');
  return {
    help: false as const,
    file,
    useS3: flag === 'true' || Boolean(values.s3),
    fields,
    wait: Boolean(values.wait),
    out: values.out,
    intervalMs: seconds('interval', values.interval, 1) * 1000,
    timeoutMs: seconds('timeout', values.timeout, 3600) * 1000,
  };
}

async function readInlineContacts(file: string): Promise<unknown[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const contacts = Array.isArray(doc) ? doc : (doc as { contacts?: unknown })?.contacts;
  if (!Array.isArray(contacts)) throw new Error(`${file} must hold {"contacts": [...]}`);
  return contacts;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const INLINE_LIMIT = `API Gateway passes a function at most a ${mb(LAMBDA_MAX_EVENT_BYTES)} event, the JSON-escaped body included: ${INLINE_CONTACTS_ESTIMATE}`;

export async function main(
  argv: string[],
  script = path.basename(process.argv[1] ?? 'createEnrichment.ts'),
): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage(script)}`);
    return 2;
  }
  if (args.help) {
    console.log(usage(script));
    return 0;
  }
  const { size } = await stat(args.file).catch(() => {
    throw new Error(
      `cannot read ${args.file}: no such file (create one with: npx ts-node src/scripts/createJson.ts 50)`,
    );
  });

  // 1. Inline contacts when the request fits what API Gateway delivers to a function; otherwise (or
  //    with `true`) upload the file to S3 and submit its reference.
  let contacts: unknown[] | undefined;
  let overLimit: string | undefined;
  let body: string | undefined;
  // NDJSON and CSV are never sent inline: POST /enrichment takes JSON only.
  if (!args.useS3 && formatOf(args.file) !== 'json') args.useS3 = true;
  if (!args.useS3) {
    // Not even read when this large: its contacts could fit only if most of the file were whitespace.
    if (size > 4 * LAMBDA_MAX_EVENT_BYTES) {
      overLimit = `${args.file} is ${mb(size)}, over the inline limit (${INLINE_LIMIT})`;
    } else {
      contacts = await readInlineContacts(args.file);
      body = JSON.stringify({ contacts, fields_to_enrich: args.fields });
      const verdict = inlineVerdict(body);
      if (!verdict.ok) {
        const as =
          verdict.limit === 'event'
            ? `a Lambda event of ${mb(verdict.eventBytes)}`
            : `a body of ${mb(verdict.bodyBytes)}`;
        overLimit = `${args.file} is ${mb(size)}, over the inline limit (it would be ${as}; ${INLINE_LIMIT})`;
      }
    }
  }
  const viaS3 = async (): Promise<string> => {
    console.error(
      `uploading ${args.file} (${mb(size)}, ${formatOf(args.file)}) through ${apiUrl()}/enrichment/uploads…`,
    );
    const { reference } = await uploadContactsFile(args.file);
    console.error(`uploaded: ${reference}`);
    return reference;
  };
  if (overLimit) console.error(`${overLimit}: uploading to S3 instead`);
  const inline = body !== undefined && !overLimit;

  // 2. Submit and print the response. A 413 (a request the estimate let through) takes the S3 path too.
  let res = await createEnrichment(inline ? body! : { contacts: await viaS3(), fields_to_enrich: args.fields });
  if (inline && res.status === 413) {
    console.error(`the API answered 413 (too large to send inline): uploading to S3 instead`);
    res = await createEnrichment({ contacts: await viaS3(), fields_to_enrich: args.fields });
  }
  console.log(typeof res.body === 'string' ? res.body : JSON.stringify(res.body, null, 2));
  if (!res.ok) {
    console.error(`request rejected: HTTP ${res.status}`);
    return 1;
  }
  if (!args.wait) return 0;

  // 3. Wait with a progress bar, download the output via the download link, check it against the input.
  const accepted = res.body as CreateResponse;
  const started = Date.now();
  const out = args.out ?? `output_${accepted.requestId}.json`;
  // Ctrl-C while waiting stops the progress bar cleanly (cursor back); the request itself keeps running.
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  let final: Awaited<ReturnType<typeof waitForCompletion>>;
  let bytes: Awaited<ReturnType<typeof downloadTo>>;
  try {
    final = await waitForCompletion(accepted.requestId, {
      intervalMs: args.intervalMs,
      timeoutMs: args.timeoutMs,
      signal: abort.signal,
    });
    if (final.status === 'rejected') {
      // An upload with an invalid contact (or whose intake kept failing): no output to download.
      console.error(
        `\nrequest ${final.requestId} rejected:\n  ${(final.errors ?? []).map((e) => `${e.path}: ${e.message}`).join('\n  ')}`,
      );
      return 1;
    }
    bytes = await downloadTo(final.downloadUrl ?? accepted.downloadUrl, out, abort.signal);
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    console.error(
      `\ninterrupted; request ${accepted.requestId} keeps running: ./bin/getEnrichment.sh ${accepted.requestId}`,
    );
    return 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
  // The input read again, in its format (JSON, NDJSON or CSV), beside the downloaded output.
  const input = contacts ?? streamContactsOf(createReadStream(args.file), formatOf(args.file));
  const check = await checkOutput(out, input, args.fields);

  console.log(`\nrequest ${final.requestId}: ${final.status} after ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(
    `  contacts ${final.totalContacts}, batches ${final.processedBatches} processed / ${final.failedBatches} failed of ${final.totalBatches}`,
  );
  console.log(
    `  rows: ${check.counts.enriched} enriched, ${check.counts.not_found} not_found, ${check.counts.failed} failed`,
  );
  console.log(`  output: ${out} (${mb(bytes)})`);
  if (!check.ok) {
    console.error(`output check FAILED (${check.problemCount} problem(s)):\n  ${check.problems.join('\n  ')}`);
    return 1;
  }
  console.log(`  check: ${check.rows} rows, one per input contact, in input order, with ${args.fields.join(', ')}`);
  return final.status === 'failed' ? 1 : 0;
}

/** Runs the command and exits with its code; both spellings of the script call this. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run();
