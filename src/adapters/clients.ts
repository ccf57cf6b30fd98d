import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { config } from '../config';

/** The SDK clients one function uses; endpoints are overridden only for the offline stack and tests. */
export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  ddb: DynamoDBDocumentClient;
}

/**
 * New clients. Without `credentials` they sign with the SDK's default chain, which in Lambda is the
 * function role's session; the tests pass one function's local credentials to act as that function.
 */
export function createAwsClients(credentials?: S3ClientConfig['credentials']): AwsClients {
  const c = config();
  return {
    s3: new S3Client({
      region: c.AWS_REGION,
      endpoint: c.S3_ENDPOINT,
      forcePathStyle: Boolean(c.S3_ENDPOINT),
      maxAttempts: 5,
      credentials,
      // Checksums only where an operation requires one or the command asks (src/adapters/s3.ts asks on its writes
      // and reads). The SDK's default, WHEN_SUPPORTED, signs the CRC32 of an absent body (AAAAAA==) into every
      // presigned part URL, and S3 refuses the real part (BadDigest); a download URL would carry x-amz-checksum-mode.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    sqs: new SQSClient({ region: c.AWS_REGION, endpoint: c.SQS_ENDPOINT, maxAttempts: 5, credentials }),
    ddb: DynamoDBDocumentClient.from(
      new DynamoDBClient({ region: c.AWS_REGION, endpoint: c.DYNAMODB_ENDPOINT, maxAttempts: 5, credentials }),
      {
        marshallOptions: { removeUndefinedValues: true },
      },
    ),
  };
}

/** One set of clients per cold start. */
let cached: AwsClients | undefined;

export function awsClients(): AwsClients {
  cached ??= createAwsClients();
  return cached;
}

export const s3Client = (): S3Client => awsClients().s3;
export const sqsClient = (): SQSClient => awsClients().sqs;
export const documentClient = (): DynamoDBDocumentClient => awsClients().ddb;

/** Tests that point the service at new emulators drop the cached clients. */
export function resetClients(): void {
  cached = undefined;
}
