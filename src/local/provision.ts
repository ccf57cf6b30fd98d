import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Emulators } from './emulators';
import type { ServerlessConfig, Doc } from './serverlessConfig';

export interface LocalQueue {
  name: string;
  url: string;
  arn: string;
}

export interface LocalResources {
  buckets: Record<string, string>;
  queues: Record<string, LocalQueue>;
  tables: Record<string, string>;
}

/** Queue properties become CreateQueue attributes; a redrive target is referenced with !GetAtt Queue.Arn. */
function queueAttributes(props: Doc, queues: Record<string, LocalQueue>): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const name of [
    'VisibilityTimeout',
    'MessageRetentionPeriod',
    'DelaySeconds',
    'ReceiveMessageWaitTimeSeconds',
    'MaximumMessageSize',
  ]) {
    if (props[name] !== undefined) attrs[name] = String(props[name]);
  }
  if (props.RedrivePolicy) {
    const target = props.RedrivePolicy.deadLetterTargetArn;
    const targetId = target?.['Fn::GetAtt']?.[0];
    const arn = targetId ? queues[targetId]?.arn : target;
    if (!arn) throw new Error(`redrive target ${JSON.stringify(target)} is not a queue created before this one`);
    attrs.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: arn,
      maxReceiveCount: String(props.RedrivePolicy.maxReceiveCount),
    });
  }
  return attrs;
}

/**
 * Creates the bucket, queues and table of serverless.yml's `resources` on the emulators, so the
 * offline stack has no second definition to drift. Properties the emulators ignore (encryption,
 * TTL, public access blocks) are skipped.
 */
export async function provisionFromServerlessYml(sls: ServerlessConfig, emulators: Emulators): Promise<LocalResources> {
  const region = sls.ctx.region;
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const s3 = new S3Client({ region, endpoint: emulators.s3Endpoint, forcePathStyle: true, credentials });
  const sqs = new SQSClient({ region, endpoint: emulators.sqsEndpoint, credentials });
  const ddb = new DynamoDBClient({ region, endpoint: emulators.dynamodbEndpoint, credentials });
  const out: LocalResources = { buckets: {}, queues: {}, tables: {} };

  const entries = Object.entries(sls.resources());
  // Queues without a redrive policy first, so dead-letter targets exist.
  const ordered = [...entries].sort(
    ([, a], [, b]) => Number(Boolean(a.Properties?.RedrivePolicy)) - Number(Boolean(b.Properties?.RedrivePolicy)),
  );
  for (const [logicalId, resource] of ordered) {
    const props = sls.resolve(resource.Properties ?? {}) as Doc;
    switch (resource.Type) {
      case 'AWS::S3::Bucket': {
        await s3.send(new CreateBucketCommand({ Bucket: props.BucketName }));
        out.buckets[logicalId] = props.BucketName;
        break;
      }
      case 'AWS::SQS::Queue': {
        const { QueueUrl } = await sqs.send(
          new CreateQueueCommand({ QueueName: props.QueueName, Attributes: queueAttributes(props, out.queues) }),
        );
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
        );
        out.queues[logicalId] = { name: props.QueueName, url: QueueUrl!, arn: Attributes!.QueueArn! };
        break;
      }
      case 'AWS::DynamoDB::Table': {
        await ddb.send(
          new CreateTableCommand({
            TableName: props.TableName,
            BillingMode: props.BillingMode,
            AttributeDefinitions: props.AttributeDefinitions,
            KeySchema: props.KeySchema,
            GlobalSecondaryIndexes: props.GlobalSecondaryIndexes,
          }),
        );
        out.tables[logicalId] = props.TableName;
        break;
      }
      default:
        break; // IAM, policies and API Gateway pieces have no local counterpart.
    }
  }
  s3.destroy();
  sqs.destroy();
  ddb.destroy();
  return out;
}
