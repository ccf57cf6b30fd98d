// AWS would have refused these calls: a test during which a function was denied anything fails,
// even when the code under test tolerated the error (a test that expects a denial takes it first,
// with service.iam.takeDenials()). The running test services register their IAM edges here.
afterEach(() => {
  const edges = (globalThis as { __iamEdges__?: Set<{ takeDenials(): string[] }> }).__iamEdges__ ?? new Set();
  const denials = [...edges].flatMap((edge) => edge.takeDenials());
  if (denials.length) {
    throw new Error(
      `IAM denied ${denials.length} call(s) that serverless.yml's roles do not allow:\n- ${[...new Set(denials)].join('\n- ')}`,
    );
  }
});
