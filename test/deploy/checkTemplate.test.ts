/** deploy/checkTemplate.js, the template check of .ci/run, on small templates it must pass or refuse. */
const { checkTemplate } = require('../../deploy/checkTemplate') as { checkTemplate: (template: unknown) => string[] };

const queue = (props: Record<string, unknown>) => ({
  Type: 'AWS::SQS::Queue',
  Properties: { QueueName: 'q', ...props },
});
const fn = (code: Record<string, unknown>) => ({
  Type: 'AWS::Lambda::Function',
  Properties: { Role: { 'Fn::GetAtt': ['R', 'Arn'] }, Code: code, Handler: 'x.handler', Runtime: 'nodejs22.x' },
});

describe('checkTemplate', () => {
  it('passes a template of known types and properties, nested ones, tags and intrinsics included', () => {
    expect(
      checkTemplate({
        Resources: {
          Q: queue({
            VisibilityTimeout: 60,
            RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['D', 'Arn'] }, maxReceiveCount: 3 },
            Tags: [{ Key: 'env', Value: 'dev' }],
          }),
          F: fn({ S3Bucket: 'b', S3Key: 'k.zip' }),
          T: {
            Type: 'AWS::DynamoDB::Table',
            DeletionPolicy: 'Delete',
            Properties: { KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], Tags: { Ref: 'AWS::NoValue' } },
          },
          C: { Type: 'Custom::Anything', Properties: { Whatever: 1 } },
        },
      }),
    ).toEqual([]);
  });

  it('refuses an unknown resource type', () => {
    expect(checkTemplate({ Resources: { Q: { Type: 'AWS::SQS::Queeue', Properties: {} } } })).toEqual([
      'Q: unknown resource type AWS::SQS::Queeue',
    ]);
  });

  it('refuses an unknown property, at the top and nested', () => {
    expect(checkTemplate({ Resources: { Q: queue({ VisibilityTimeOut: 60 }) } })).toEqual([
      'Q (AWS::SQS::Queue): unknown property VisibilityTimeOut',
    ]);
    expect(checkTemplate({ Resources: { F: fn({ S3Bucket: 'b', S3Kee: 'k.zip' }) } })).toEqual([
      'F (AWS::Lambda::Function).Code: unknown property S3Kee',
    ]);
  });

  it('refuses a missing required property, and a tag without its value', () => {
    const { Role, ...noRole } = fn({ S3Bucket: 'b', S3Key: 'k' }).Properties;
    expect(Role).toBeDefined();
    expect(checkTemplate({ Resources: { F: { Type: 'AWS::Lambda::Function', Properties: noRole } } })).toEqual([
      'F (AWS::Lambda::Function): required property Role is missing',
    ]);
    expect(checkTemplate({ Resources: { Q: queue({ Tags: [{ Key: 'env' }] }) } })).toEqual([
      'Q (AWS::SQS::Queue).Tags[0]: required property Value is missing',
    ]);
  });

  it('refuses an unknown resource attribute', () => {
    expect(checkTemplate({ Resources: { Q: { ...queue({}), DeletionPolicyy: 'Retain' } } })).toEqual([
      'Q: unknown resource attribute DeletionPolicyy',
    ]);
  });
});
