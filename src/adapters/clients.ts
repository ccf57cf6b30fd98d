import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { config } from '../config';

/** One client per service per cold start; endpoints are overridden only for the offline stack and tests. */
let s3: S3Client | undefined;
let sqs: SQSClient | undefined;
let ddb: DynamoDBDocumentClient | undefined;

export function s3Client(): S3Client {
  const c = config();
  s3 ??= new S3Client({ region: c.AWS_REGION, endpoint: c.S3_ENDPOINT, forcePathStyle: Boolean(c.S3_ENDPOINT), maxAttempts: 5 });
  return s3;
}

export function sqsClient(): SQSClient {
  const c = config();
  sqs ??= new SQSClient({ region: c.AWS_REGION, endpoint: c.SQS_ENDPOINT, maxAttempts: 5 });
  return sqs;
}

export function documentClient(): DynamoDBDocumentClient {
  const c = config();
  ddb ??= DynamoDBDocumentClient.from(new DynamoDBClient({ region: c.AWS_REGION, endpoint: c.DYNAMODB_ENDPOINT, maxAttempts: 5 }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return ddb;
}

/** Tests that point the service at new emulators drop the cached clients. */
export function resetClients(): void {
  s3 = undefined;
  sqs = undefined;
  ddb = undefined;
}
