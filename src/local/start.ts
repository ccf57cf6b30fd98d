import path from 'node:path';
import { keepLocalKey, keyFilePath } from './apiKeyFile';
import { stackOptionsFromEnv, startStack, type Stack } from './stack';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** A stop that takes longer is cut short; serverless offline's watchdog (src/local/watchdog.js) ends it as we exit. */
const STOP_DEADLINE_MS = 20_000;

/** `file` as the ready line shows it: relative to the working directory when inside it (.local/api-key). */
function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

/**
 * `npm start`: the whole service offline until Ctrl-C, SIGTERM or SIGHUP, or until the process that started it
 * exits (npm killed, terminal closed). Ports and knobs come from the environment (README: Configuration).
 */
async function main(): Promise<void> {
  // A closed terminal must not turn the stop's messages into an EPIPE crash halfway through it.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  let stack: Stack | undefined;
  let stopping = false;
  const shutdown = async (reason: string) => {
    if (stopping) {
      console.log(`${reason}: already stopping`);
      return;
    }
    stopping = true;
    console.log(`\n${reason}, stopping the offline stack…`);
    // Before the stack is up there is nothing in this process to stop; the watchdog ends serverless offline.
    if (!stack) process.exit(0);
    setTimeout(() => {
      console.error(`the offline stack did not stop within ${STOP_DEADLINE_MS / 1000}s; exiting`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    await stack.stop();
    console.log('stopped');
    process.exit(0);
  };
  for (const signal of SIGNALS) process.on(signal, () => void shutdown(`${signal} received`));
  // Reparented: npm (or whatever started us) is gone, and no signal will come. PID 1 as parent from the start is a supervisor.
  const parent = process.ppid;
  if (parent !== 1) {
    // Once: a stop that outlasts a tick must not be told again, every tick, that it is under way.
    const poll = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(poll);
      void shutdown(`parent process ${parent} exited`);
    }, 500).unref();
  }

  const options = stackOptionsFromEnv();
  // No key given: the one kept in .local/api-key (LOCAL_API_KEY_FILE), made once, so a restart keeps the key.
  let keyFile: string | undefined;
  if (!options.apiKeys?.length) {
    keyFile = keyFilePath(process.env.LOCAL_API_KEY_FILE);
    const kept = keepLocalKey(keyFile);
    if (kept.how === 'replaced') console.error(`${keyFile} held no usable key (${kept.problem}): wrote a new one`);
    options.apiKeys = [kept.key];
  }
  stack = await startStack(options);
  // The kept key is printed so it can be used; keys the user gave are only counted.
  const keys = keyFile
    ? `API key ${stack.apiKeys[0]}, kept in ${shownPath(keyFile)}`
    : `${stack.apiKeys.length} API key(s) from API_KEYS/API_KEY`;
  console.log(
    `enrichment-service ready: API ${stack.apiUrl} (${keys}, header x-api-key; S3+SQS ${stack.emulators.s3Endpoint}, DynamoDB ${stack.emulators.dynamodbEndpoint}, bucket ${Object.values(stack.resources.buckets)[0]}). Ctrl-C to stop.`,
  );
}

main().catch((err) => {
  console.error(`offline stack failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
