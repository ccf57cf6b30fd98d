const { compareTemplates } = require('../../deploy/compareTemplates') as {
  compareTemplates: (before: unknown, after: unknown) => string[];
};

/** Two packages of the same configuration, as `sls package` writes them a few minutes apart. */
const packaged = (ms: string, hash: string, memory = 256) => ({
  Resources: {
    ApiFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { MemorySize: memory, Code: { S3Key: `serverless/svc/dev/${ms}-2026-01-01T00:00:00.000Z/api.zip` } },
    },
    [`ApiLambdaVersion${hash}`]: { Type: 'AWS::Lambda::Version', Properties: { CodeSha256: hash } },
    [`ApiGatewayDeployment${ms}`]: { Type: 'AWS::ApiGateway::Deployment', Properties: {} },
    ApiGatewayStage: { Type: 'AWS::ApiGateway::Stage', DependsOn: `ApiGatewayDeployment${ms}` },
  },
});
const HASH_A = 'FP0AXfqlsOs6b9ci3LwvoWlrM6ffP7xDFQtF9hcmo';
const HASH_B = 'Id8vlU8TRPr1rTu7UPtVxp4WM3KVv7H8XIVPBqCvu6w';

describe('deploy/compareTemplates.js', () => {
  it('finds no difference between two packages of the same configuration (timestamps, code hashes and S3 keys aside)', () => {
    expect(compareTemplates(packaged('1796582713498', HASH_A), packaged('1796582894768', HASH_B))).toEqual([]);
  });

  it('names each property that differs by logical id and path, and each logical id only one has', () => {
    const before = packaged('1796582713498', HASH_A);
    const after = packaged('1796582894768', HASH_A, 512);
    (after.Resources as Record<string, unknown>).Extra = { Type: 'AWS::SQS::Queue' };
    expect(compareTemplates(before, after)).toEqual([
      'Resources.Extra: only in the second',
      'Resources.ApiFunction.Properties.MemorySize: 256 -> 512',
    ]);
  });
});
