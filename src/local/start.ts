import { stackOptionsFromEnv, startStack } from './stack';

/** `npm start`: the whole service offline, until Ctrl-C. Ports and knobs come from the environment (README: Configuration). */
async function main(): Promise<void> {
  const stack = await startStack(stackOptionsFromEnv());
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal} received, stopping the offline stack…`);
    await stack.stop();
    console.log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  console.log(
    `enrichment-service ready: API ${stack.apiUrl} (S3+SQS ${stack.emulators.s3Endpoint}, DynamoDB ${stack.emulators.dynamodbEndpoint}, bucket ${Object.values(stack.resources.buckets)[0]}). Ctrl-C to stop.`,
  );
}

main().catch((err) => {
  console.error(`offline stack failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
