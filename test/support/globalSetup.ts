import { startEmulators, type Emulators } from '../../src/local/emulators';

/** One pair of emulators for the whole run; each test provisions its own uniquely named resources. */
export default async function globalSetup(): Promise<void> {
  process.removeAllListeners('warning'); // the AWS SDK's Node 20 notice
  const emulators = await startEmulators({ s3SqsPort: 0, dynamodbPort: 0 });
  (globalThis as { __EMULATORS__?: Emulators }).__EMULATORS__ = emulators;
  process.env.TEST_S3_ENDPOINT = emulators.s3Endpoint;
  process.env.TEST_SQS_ENDPOINT = emulators.sqsEndpoint;
  process.env.TEST_DYNAMODB_ENDPOINT = emulators.dynamodbEndpoint;
}
