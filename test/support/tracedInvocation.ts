/**
 * One Lambda invocation in its own Node process under dd-trace, as the Datadog layer runs a function: started with
 * `node -r dd-trace/init -r ts-node/register/transpile-only` (dd-trace loads before the AWS SDK, so its require
 * hooks instrument it; jest's module registry would defeat them). Arguments: the function (createEnrichment,
 * intake, processBatch or assembleOutput), a file holding the event, and the access key id the function signs with (its role at the IAM edge);
 * the function's secret comes in FUNCTION_SECRET_ACCESS_KEY (the edge checks every signature).
 * Prints one line `{"invocation":{...}}` with the handler's answer and awsRequestId; dd-trace flushes its spans on exit.
 */
import { readFileSync } from 'node:fs';
import { createAwsClients } from '../../src/adapters/clients';
import type { AwsClients } from '../../src/adapters/clients';
import { makeHandler as makeAssemble } from '../../src/handlers/assembleOutput';
import { makeHandler as makeCreate } from '../../src/handlers/createEnrichment';
import { makeHandler as makeIntake } from '../../src/handlers/intake';
import { makeHandler as makeWorker } from '../../src/handlers/processBatch';
import { assemblyDeps, createDeps, intakeDeps } from '../../src/handlers/wiring';
import { workerDeps } from '../../src/handlers/workerWiring';
import { lambdaContext } from './lambdaContext';

/** Each function's production handler and wiring, on the given clients. */
const functions: Record<
  string,
  (clients: AwsClients) => (event: never, context: ReturnType<typeof lambdaContext>) => Promise<unknown>
> = {
  createEnrichment: (clients) => makeCreate(() => createDeps(clients)),
  intake: (clients) => makeIntake(() => intakeDeps(clients)),
  processBatch: (clients) => makeWorker(() => workerDeps(clients)),
  assembleOutput: (clients) => makeAssemble(() => assemblyDeps(clients)),
};

async function main(): Promise<void> {
  const [fn, eventFile, accessKeyId] = process.argv.slice(2);
  const secretAccessKey = process.env.FUNCTION_SECRET_ACCESS_KEY;
  if (!secretAccessKey) throw new Error('FUNCTION_SECRET_ACCESS_KEY is not set');
  const clients = createAwsClients({ accessKeyId, secretAccessKey });
  const event = JSON.parse(readFileSync(eventFile, 'utf8'));
  const context = lambdaContext(60_000, fn);
  const make = functions[fn];
  if (!make) throw new Error(`unknown function ${fn}`);
  const result = await make(clients)(event as never, context);
  process.stdout.write(`${JSON.stringify({ invocation: { result, awsRequestId: context.awsRequestId } })}\n`);
  clients.s3.destroy();
  clients.sqs.destroy();
  clients.ddb.destroy();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
