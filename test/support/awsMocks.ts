import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  GetQueueUrlCommand,
  SendMessageBatchCommand,
  SQSClient,
  type SendMessageBatchCommandInput,
} from '@aws-sdk/client-sqs';
import { BatchGetCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../src/adapters/clients';
import { resetQueueUrls } from '../../src/adapters/sqs';
import { resetConfig } from '../../src/config';

/** aws-sdk-client-mock stubs for the three services, with happy defaults; call reset() before each test. */
export function awsMocks() {
  const s3 = mockClient(S3Client);
  const ddb = mockClient(DynamoDBDocumentClient);
  const sqs = mockClient(SQSClient);
  return {
    s3,
    ddb,
    sqs,
    reset() {
      s3.reset();
      ddb.reset();
      sqs.reset();
      resetConfig();
      resetClients();
      resetQueueUrls();
      s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
      ddb.on(PutCommand).resolves({});
      // No shard items: a running request's counts are the status item's.
      ddb.on(BatchGetCommand).resolves({ Responses: {} });
      sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/unit-queue' });
      sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
        Successful: input.Entries!.map((e) => ({ Id: e.Id!, MessageId: `m-${e.Id}`, MD5OfMessageBody: 'x' })),
        Failed: [],
      }));
    },
    /** Every command sent to any of the three services. */
    allCalls() {
      return [...s3.calls(), ...ddb.calls(), ...sqs.calls()];
    },
    restore() {
      s3.restore();
      ddb.restore();
      sqs.restore();
    },
  };
}
