// Preloaded (node -r) into serverless offline, which runs each function in a worker thread of one
// process. Lambda hands every function its own role's credentials in its environment; here each
// function signs with its own name as access key id, which the local IAM edge maps to its role.
// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS file (package.json has no "type": "module"), where it is not redundant
'use strict';
const { isMainThread } = require('node:worker_threads');

if (!isMainThread && process.env.AWS_LAMBDA_FUNCTION_NAME) {
  process.env.AWS_ACCESS_KEY_ID = process.env.AWS_LAMBDA_FUNCTION_NAME;
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  delete process.env.AWS_SESSION_TOKEN;
}
