import type { IncomingHttpHeaders } from 'node:http';

/** One IAM authorization a request needs: an action on a resource ARN. */
export interface Authorization {
  action: string;
  resource: string;
}

export type Service = 's3' | 'sqs' | 'dynamodb';

const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h);

/** Which service a request is for: the JSON protocols name theirs in X-Amz-Target; the rest is S3. */
export function serviceOf(headers: IncomingHttpHeaders): Service {
  const target = first(headers['x-amz-target']) ?? '';
  if (target.startsWith('AmazonSQS.')) return 'sqs';
  if (target.startsWith('DynamoDB_')) return 'dynamodb';
  return 's3';
}

export const s3Arn = (bucket: string, key?: string) => `arn:aws:s3:::${bucket}${key === undefined ? '' : `/${key}`}`;

/**
 * The authorizations of a path-style S3 request (Amazon S3's "actions, resources and condition
 * keys" table); undefined for a request this mapping does not know, which the edge refuses.
 */
export function s3Authorizations(
  method: string,
  pathname: string,
  query: URLSearchParams,
  headers: IncomingHttpHeaders,
): Authorization[] | undefined {
  const [bucket, ...rest] = pathname.replace(/^\//, '').split('/');
  if (!bucket) return undefined;
  const key = rest.length ? rest.map(decodeURIComponent).join('/') : undefined;
  const has = (name: string) => query.has(name);
  const on = (action: string, resource = s3Arn(bucket, key)) => [{ action, resource }];
  if (key === undefined || key === '') {
    if (method === 'GET' || method === 'HEAD') {
      if (has('uploads')) return on('s3:ListBucketMultipartUploads');
      if (has('location')) return on('s3:GetBucketLocation');
      if (has('versions')) return on('s3:ListBucketVersions');
      return on('s3:ListBucket', s3Arn(bucket));
    }
    if (method === 'PUT' && [...query.keys()].every((k) => k === 'x-id')) return on('s3:CreateBucket', s3Arn(bucket));
    return undefined;
  }
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (has('uploadId')) return on('s3:ListMultipartUploadParts');
      if (has('tagging')) return on('s3:GetObjectTagging');
      if (has('acl')) return on('s3:GetObjectAcl');
      return on('s3:GetObject');
    case 'PUT': {
      if (has('tagging')) return on('s3:PutObjectTagging');
      if (has('acl')) return on('s3:PutObjectAcl');
      const copySource = first(headers['x-amz-copy-source']);
      const put = on('s3:PutObject');
      if (!copySource) return put;
      const [srcBucket, ...srcKey] = decodeURIComponent(copySource.split('?')[0]).replace(/^\//, '').split('/');
      return [...put, { action: 's3:GetObject', resource: s3Arn(srcBucket, srcKey.join('/')) }];
    }
    case 'POST':
      // CreateMultipartUpload and CompleteMultipartUpload are authorized as s3:PutObject.
      if (has('uploads') || has('uploadId')) return on('s3:PutObject');
      return undefined;
    case 'DELETE':
      if (has('uploadId')) return on('s3:AbortMultipartUpload');
      if (has('tagging')) return on('s3:DeleteObjectTagging');
      return on('s3:DeleteObject');
    default:
      return undefined;
  }
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (text: string) =>
  text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) =>
    e.startsWith('#x')
      ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith('#')
        ? String.fromCodePoint(Number(e.slice(1)))
        : XML_ENTITIES[e],
  );

/** A DeleteObjects request: `POST /<bucket>?delete`, the keys in its body. */
export function isDeleteObjects(method: string, pathname: string, query: URLSearchParams): boolean {
  const [bucket, ...rest] = pathname.replace(/^\//, '').split('/');
  return method === 'POST' && query.has('delete') && !!bucket && rest.join('') === '';
}

/**
 * The authorizations of a DeleteObjects request: S3 checks s3:DeleteObject on each key its XML body names (the
 * call itself needs no permission of its own). undefined for a body that names no key.
 */
export function deleteObjectsAuthorizations(pathname: string, body: string): Authorization[] | undefined {
  const bucket = pathname.replace(/^\//, '').split('/')[0];
  const keys = [...body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => unescapeXml(m[1]));
  if (!bucket || !keys.length) return undefined;
  return keys.map((key) => ({ action: 's3:DeleteObject', resource: s3Arn(bucket, key) }));
}

/** SQS's batch calls are authorized as their single-message actions. */
const SQS_ACTION: Record<string, string> = {
  SendMessageBatch: 'SendMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
};

/** The authorization of an SQS JSON-protocol request: the queue is named by QueueUrl (or QueueName). */
export function sqsAuthorizations(
  target: string,
  body: Record<string, unknown>,
  region: string,
  accountId: string,
): Authorization[] | undefined {
  const operation = target.replace(/^AmazonSQS\./, '');
  const action = `sqs:${SQS_ACTION[operation] ?? operation}`;
  if (typeof body.QueueUrl === 'string') {
    const [account, name] = new URL(body.QueueUrl).pathname.split('/').filter(Boolean).slice(-2);
    if (!name) return undefined;
    return [{ action, resource: `arn:aws:sqs:${region}:${account}:${name}` }];
  }
  if (typeof body.QueueName === 'string') {
    const owner = typeof body.QueueOwnerAWSAccountId === 'string' ? body.QueueOwnerAWSAccountId : accountId;
    return [{ action, resource: `arn:aws:sqs:${region}:${owner}:${body.QueueName}` }];
  }
  return undefined;
}

/** The authorizations of a DynamoDB request: one per table (or index) it touches. */
export function dynamodbAuthorizations(
  target: string,
  body: Record<string, unknown>,
  region: string,
  accountId: string,
): Authorization[] | undefined {
  const operation = target.replace(/^DynamoDB_\d+\./, '');
  const action = `dynamodb:${operation}`;
  const table = (name: string, index?: unknown) =>
    `arn:aws:dynamodb:${region}:${accountId}:table/${name}${typeof index === 'string' ? `/index/${index}` : ''}`;
  if (typeof body.TableName === 'string') return [{ action, resource: table(body.TableName, body.IndexName) }];
  if (body.RequestItems && typeof body.RequestItems === 'object') {
    return Object.keys(body.RequestItems).map((name) => ({ action, resource: table(name) }));
  }
  return undefined;
}
