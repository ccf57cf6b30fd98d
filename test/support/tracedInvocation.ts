/**
 * One Lambda invocation in its own Node process under dd-trace, as the Datadog layer runs a function: started with
 * `node -r dd-trace/init -r ts-node/register/transpile-only` (dd-trace loads before the AWS SDK, so its require
 * hooks instrument it; jest's module registry would defeat them). Arguments: the function (createEnrichment or
 * processBatch), a file holding the event, and the access key id the function signs with (its role at the IAM edge).
 * Prints one line `{"invocation":{...}}` with the handler's answer and awsRequestId; dd-trace flushes its spans on exit.
 */
import { readFileSync } from 'node:fs';
import { createAwsClients } from '../../src/adapters/clients';
import { makeHandler as makeCreate } from '../../src/handlers/createEnrichment';
import { makeHandler as makeWorker } from '../../src/handlers/processBatch';
import { createDeps, workerDeps } from '../../src/handlers/wiring';
import { lambdaContext } from './lambdaContext';

async function main(): Promise<void> {
  const [fn, eventFile, accessKeyId] = process.argv.slice(2);
  const clients = createAwsClients({ accessKeyId, secretAccessKey: 'local' });
  const event = JSON.parse(readFileSync(eventFile, 'utf8'));
  const context = lambdaContext(60_000, fn);
  const result =
    fn === 'createEnrichment' ? await makeCreate(() => createDeps(clients))(event, context) : await makeWorker(() => workerDeps(clients))(event, context);
  process.stdout.write(`${JSON.stringify({ invocation: { result, awsRequestId: context.awsRequestId } })}\n`);
  clients.s3.destroy();
  clients.sqs.destroy();
  clients.ddb.destroy();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
