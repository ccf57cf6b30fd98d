import { ServerlessConfig } from './serverlessConfig';

/** `npm run reconcile`: one reconcile pass on the running offline stack (as the 5-minute schedule does). */
async function main(): Promise<void> {
  const lambdaPort = process.env.LAMBDA_PORT ?? '3002';
  const sls = new ServerlessConfig({ stage: 'local', region: process.env.AWS_REGION ?? 'us-east-1', env: process.env });
  const url = `http://localhost:${lambdaPort}/2015-03-31/functions/${sls.functionName('reconcile')}/invocations`;
  const res = await fetch(url, { method: 'POST', body: '{}' }).catch((err: Error) => {
    throw new Error(`no offline stack answers on port ${lambdaPort} (${err.message}); start it with npm start`);
  });
  const text = await res.text();
  if (!res.ok || res.headers.get('x-amz-function-error')) throw new Error(`reconcile failed: ${text}`);
  console.log(JSON.stringify(JSON.parse(text), null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
