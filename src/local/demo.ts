import path from 'node:path';
import { parseArgs } from 'node:util';
import { createEnrichment, DEFAULT_FIELDS, type CreateResponse } from '../scripts/lib/api';
import { checkOutput } from '../scripts/lib/checkOutput';
import { generateContacts } from '../scripts/lib/contacts';
import { downloadTo } from '../scripts/lib/download';
import { request } from '../scripts/lib/api';
import { waitForCompletion } from '../scripts/lib/poll';
import { stackOptionsFromEnv, startStack, type Stack } from './stack';
import { startWebhookReceiver } from './webhookReceiver';

/**
 * `npm run demo`: the offline stack end to end. Starts it, submits generated contacts over HTTP,
 * polls with a progress bar, downloads output.json through the download link, checks it and
 * prints a summary with its own completion webhook, received and verified, then stops the stack. Exits non-zero when
 * any check fails.
 */
class CheckFailed extends Error {}

async function demo(
  signal: AbortSignal,
  onStack: (stack: Stack) => void,
  onClose: (close: () => Promise<void>) => void,
): Promise<void> {
  // 1. Start the stack (serverless offline's own output is hidden to keep the demo readable).
  // 2. Start a webhook receiver with this key's signing secret; generate the contacts and submit them inline with it
  //    as the callbackUrl.
  // 3. Poll with a progress bar until the request is final.
  // 4. Download output.json via the download link and check it against the input.
  // 5. Wait for the completion webhook, verified by the receiver (standardwebhooks), and check it.
  // 6. Print the summary.
  const { values } = parseArgs({
    options: {
      contacts: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '42' },
      out: { type: 'string' },
    },
  });
  const count = Number(values.contacts);
  if (!Number.isInteger(count) || count < 1)
    throw new CheckFailed(`--contacts must be a positive integer, got ${values.contacts}`);
  const outFile = path.resolve(values.out ?? 'output_demo.json');
  const fields = DEFAULT_FIELDS;
  const started = Date.now();

  console.log('starting the offline stack (fauxqs, dynalite, serverless offline)…');
  const stack = await startStack({ ...stackOptionsFromEnv(), stdio: 'ignore' });
  onStack(stack);
  signal.throwIfAborted();
  // The scripts' calls below send API_KEY, as a user's would.
  process.env.API_KEY = stack.apiKeys[0];
  console.log(`stack ready at ${stack.apiUrl} in ${((Date.now() - started) / 1000).toFixed(1)}s`);

  const secret = await request<{ secret?: string }>('GET', '/enrichment/webhook-secret', { baseUrl: stack.apiUrl });
  if (!secret.body?.secret) throw new CheckFailed(`GET /enrichment/webhook-secret answered ${secret.status}`);
  const receiver = await startWebhookReceiver(secret.body.secret);
  onClose(receiver.close);

  const contacts = [...generateContacts(count, { seed: Number(values.seed) })];
  const submitted = Date.now();
  const res = await createEnrichment({ contacts, fields_to_enrich: fields, callbackUrl: receiver.url }, stack.apiUrl);
  if (res.status !== 202) throw new CheckFailed(`POST /enrichment answered ${res.status}: ${JSON.stringify(res.body)}`);
  const accepted = res.body as CreateResponse;
  console.log(`submitted ${count.toLocaleString('en-US')} contacts: request ${accepted.requestId}`);

  const final = await waitForCompletion(accepted.requestId, {
    baseUrl: stack.apiUrl,
    intervalMs: 500,
    timeoutMs: 600_000,
    signal,
  });
  const elapsed = (Date.now() - submitted) / 1000;
  const bytes = await downloadTo(accepted.downloadUrl, outFile, signal);
  const check = await checkOutput(outFile, contacts, fields);

  // The event is sent once the request is final, by its own function: give it a few retries' time.
  const hook = await receiver.next(60_000).catch((err: Error) => {
    throw new CheckFailed(`${err.message} (refused: ${receiver.rejected.join('; ') || 'none'})`);
  });
  const problems = [...check.problems];
  if (hook.event.type !== `enrichment.${final.status}` || hook.event.data.requestId !== final.requestId)
    problems.push(`the webhook says ${hook.event.type} for ${String(hook.event.data.requestId)}`);
  if (check.problemCount > check.problems.length)
    problems.push(`… and ${check.problemCount - check.problems.length} more`);
  if (final.status !== 'completed' && final.status !== 'completed_with_errors')
    problems.unshift(`request ended ${final.status}`);
  if (final.summary) {
    for (const key of ['enriched', 'not_found', 'failed'] as const) {
      if (final.summary[key] !== check.counts[key])
        problems.push(`status says ${final.summary[key]} ${key}, the file has ${check.counts[key]}`);
    }
  }

  console.log(`
enrichment demo summary
  requestId   ${final.requestId}
  status      ${final.status}
  contacts    ${check.rows} of ${count} rows in output (${final.processedBatches}/${final.totalBatches} batches, ${final.failedBatches} failed)
  enriched    ${check.counts.enriched}
  not_found   ${check.counts.not_found}
  failed      ${check.counts.failed}
  elapsed     ${elapsed.toFixed(1)}s from submit to final status (${((Date.now() - started) / 1000).toFixed(1)}s in all)
  output      ${path.relative(process.cwd(), outFile)} (${(bytes / 1024 / 1024).toFixed(1)} MB)
  webhook     ${hook.event.type} ${hook.id}, verified (standardwebhooks: signature and timestamp)
              ${JSON.stringify(hook.event.data.summary ?? {})}`);
  if (problems.length) throw new CheckFailed(`output check failed:\n  ${problems.join('\n  ')}`);
  console.log(
    `  check       ok: one row per input contact, in input order, with ${fields.join(', ')} and enrichment_status`,
  );
}

async function main(): Promise<number> {
  const abort = new AbortController();
  let stack: Stack | undefined;
  const closers: (() => Promise<void>)[] = [];
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      console.error('\nforced exit');
      process.exit(130);
    }
    interrupted = true;
    // Ctrl-C also reaches serverless offline, so in-flight local invocations fail while we stop: not news.
    process.env.LOG_SILENT = 'true';
    abort.abort(new Error(`${signal} received`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let code = 0;
  try {
    await demo(
      abort.signal,
      (s) => (stack = s),
      (close) => closers.push(close),
    );
  } catch (err) {
    if (interrupted) {
      console.error('\ninterrupted');
      code = 130;
    } else {
      console.error(
        err instanceof CheckFailed
          ? `\ndemo FAILED: ${err.message}`
          : `\ndemo failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      code = 1;
    }
  } finally {
    await Promise.allSettled(closers.map((close) => close()));
    if (stack) {
      console.log('stopping the stack…');
      await stack.stop();
    }
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
