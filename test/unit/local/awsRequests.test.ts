import {
  deleteObjectsAuthorizations,
  dynamodbAuthorizations,
  isDeleteObjects,
  s3Authorizations,
  serviceOf,
  sqsAuthorizations,
} from '../../../src/local/awsRequests';

const q = (s = '') => new URLSearchParams(s);

describe('IAM mapping of the requests the functions make', () => {
  it('tells the services apart by X-Amz-Target', () => {
    expect(serviceOf({ 'x-amz-target': 'AmazonSQS.SendMessageBatch' })).toBe('sqs');
    expect(serviceOf({ 'x-amz-target': 'DynamoDB_20120810.UpdateItem' })).toBe('dynamodb');
    expect(serviceOf({})).toBe('s3');
  });

  it.each([
    ['GET', '/b/r/batches/000001.json', 'x-id=GetObject', 's3:GetObject', 'arn:aws:s3:::b/r/batches/000001.json'],
    ['HEAD', '/b/r/output.json', '', 's3:GetObject', 'arn:aws:s3:::b/r/output.json'],
    ['PUT', '/b/r/input.json', 'x-id=PutObject', 's3:PutObject', 'arn:aws:s3:::b/r/input.json'],
    ['POST', '/b/r/output.json', 'uploads', 's3:PutObject', 'arn:aws:s3:::b/r/output.json'],
    ['PUT', '/b/r/output.json', 'partNumber=1&uploadId=u', 's3:PutObject', 'arn:aws:s3:::b/r/output.json'],
    ['POST', '/b/r/output.json', 'uploadId=u', 's3:PutObject', 'arn:aws:s3:::b/r/output.json'],
    ['DELETE', '/b/r/output.json', 'uploadId=u', 's3:AbortMultipartUpload', 'arn:aws:s3:::b/r/output.json'],
    ['DELETE', '/b/r/output.json', '', 's3:DeleteObject', 'arn:aws:s3:::b/r/output.json'],
    ['GET', '/b', 'list-type=2&prefix=r%2Fbatches%2F', 's3:ListBucket', 'arn:aws:s3:::b'],
    ['GET', '/b/uploads/a%20b.json', '', 's3:GetObject', 'arn:aws:s3:::b/uploads/a b.json'],
    // The upload functions: a presigned part URL (UploadPart), ListParts, the HeadObject after completion.
    [
      'PUT',
      '/b/uploads/o/k.csv',
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=f%2F20261129%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261129T000000Z&X-Amz-Expires=3600&X-Amz-Signature=ab&X-Amz-SignedHeaders=host&partNumber=2&uploadId=u&x-id=UploadPart',
      's3:PutObject',
      'arn:aws:s3:::b/uploads/o/k.csv',
    ],
    ['GET', '/b/uploads/o/k.csv', 'uploadId=u', 's3:ListMultipartUploadParts', 'arn:aws:s3:::b/uploads/o/k.csv'],
    ['HEAD', '/b/uploads/o/k.csv', '', 's3:GetObject', 'arn:aws:s3:::b/uploads/o/k.csv'],
  ])('S3 %s %s?%s is %s on %s', (method, path, query, action, resource) => {
    expect(s3Authorizations(method, path, q(query), {})).toEqual([{ action, resource }]);
  });

  it('authorizes a copy as a write of the target and a read of the source; refuses what it does not know', () => {
    expect(s3Authorizations('PUT', '/b/new.json', q(), { 'x-amz-copy-source': '/b/old.json' })).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::b/new.json' },
      { action: 's3:GetObject', resource: 'arn:aws:s3:::b/old.json' },
    ]);
    expect(s3Authorizations('POST', '/b', q('delete'), {})).toBeUndefined();
    expect(s3Authorizations('GET', '/', q(), {})).toBeUndefined();
  });

  it('DeleteObjects: s3:DeleteObject on each key its XML body names (entities decoded); none named: refused', () => {
    expect(isDeleteObjects('POST', '/b', q('delete'))).toBe(true);
    expect(isDeleteObjects('POST', '/b/', q('delete'))).toBe(true);
    expect(isDeleteObjects('POST', '/b/k', q('delete'))).toBe(false);
    expect(isDeleteObjects('POST', '/b', q('uploads'))).toBe(false);
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>' +
      '<Object><Key>r/batches/000000.json</Key></Object><Object><Key>a&amp;b &lt;c&gt; &#x41;&#66;</Key></Object></Delete>';
    expect(deleteObjectsAuthorizations('/b', body)).toEqual([
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/r/batches/000000.json' },
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/a&b <c> AB' },
    ]);
    expect(deleteObjectsAuthorizations('/b', '<Delete></Delete>')).toBeUndefined();
  });

  it('SQS: the queue from QueueUrl or QueueName, batch calls as their single-message action', () => {
    const url = 'http://sqs.us-east-1.localhost:4566/000000000000/svc-dev-batches';
    expect(sqsAuthorizations('AmazonSQS.SendMessageBatch', { QueueUrl: url }, 'us-east-1', '000000000000')).toEqual([
      { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:000000000000:svc-dev-batches' },
    ]);
    expect(
      sqsAuthorizations('AmazonSQS.DeleteMessageBatch', { QueueUrl: url }, 'us-east-1', '000000000000')?.[0].action,
    ).toBe('sqs:DeleteMessage');
    expect(sqsAuthorizations('AmazonSQS.GetQueueUrl', { QueueName: 'q' }, 'eu-west-1', '123456789012')).toEqual([
      { action: 'sqs:GetQueueUrl', resource: 'arn:aws:sqs:eu-west-1:123456789012:q' },
    ]);
    expect(sqsAuthorizations('AmazonSQS.ListQueues', {}, 'us-east-1', '000000000000')).toBeUndefined();
  });

  it('DynamoDB: the table (or index) of the request, every table of a batch call', () => {
    const arn = 'arn:aws:dynamodb:us-east-1:000000000000:table/';
    expect(
      dynamodbAuthorizations('DynamoDB_20120810.UpdateItem', { TableName: 't' }, 'us-east-1', '000000000000'),
    ).toEqual([{ action: 'dynamodb:UpdateItem', resource: `${arn}t` }]);
    expect(
      dynamodbAuthorizations(
        'DynamoDB_20120810.Query',
        { TableName: 't', IndexName: 'byStatus' },
        'us-east-1',
        '000000000000',
      )?.[0].resource,
    ).toBe(`${arn}t/index/byStatus`);
    expect(
      dynamodbAuthorizations(
        'DynamoDB_20120810.BatchWriteItem',
        { RequestItems: { a: [], b: [] } },
        'us-east-1',
        '000000000000',
      ),
    ).toEqual([
      { action: 'dynamodb:BatchWriteItem', resource: `${arn}a` },
      { action: 'dynamodb:BatchWriteItem', resource: `${arn}b` },
    ]);
  });
});
