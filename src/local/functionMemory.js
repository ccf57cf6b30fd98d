// Preloaded (node -r) into serverless offline, which runs each function instance in a worker thread of one
// process. A worker thread gets the process's heap defaults: a 4 GB heap and semi-spaces of up to 16 MB, which V8
// grows under load and keeps, so the ~70 instances of the stack committed more memory the longer it ran. Here every
// function's thread (serverless offline hands it AWS_LAMBDA_FUNCTION_MEMORY_SIZE in its environment) gets the old
// space Lambda's Node.js runtime gives its memory size, and small semi-spaces (docs/benchmarks-memory.md).
// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS file (package.json has no "type": "module"), where it is not redundant
'use strict';
const { syncBuiltinESMExports } = require('node:module');
const workerThreads = require('node:worker_threads');

/** The largest semi-space of a function's thread, MB: Lambda gives a twentieth of the memory (12-88 MB here). */
const SEMI_SPACE_MB = 4;

/**
 * The heap limits of a function of `memorySizeMb` offline, as worker resourceLimits: the old space Lambda's runtime
 * gives it (--max-old-space-size: nine tenths of the memory), semi-spaces of at most SEMI_SPACE_MB (V8's young
 * generation is three semi-spaces: two, and the large-object space beside them). Undefined for a size that is not a
 * positive whole number.
 * @param {unknown} memorySizeMb
 * @returns {{ maxOldGenerationSizeMb: number, maxYoungGenerationSizeMb: number } | undefined}
 */
function functionHeapLimits(memorySizeMb) {
  const memory = Number(memorySizeMb);
  if (!Number.isInteger(memory) || memory <= 0) return undefined;
  const newSpace = Math.floor(memory / 10);
  const semiSpace = Math.max(1, Math.min(Math.floor(newSpace / 2), SEMI_SPACE_MB));
  return { maxOldGenerationSizeMb: memory - newSpace, maxYoungGenerationSizeMb: 3 * semiSpace };
}

/** worker_threads.Worker, giving a function's thread (one whose env names its memory size) its heap limits. */
function withFunctionHeapLimits(BaseWorker) {
  return class FunctionWorker extends BaseWorker {
    constructor(filename, options = {}) {
      const limits = functionHeapLimits(options.env?.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
      // Limits given by the caller stay as given.
      super(filename, limits && !options.resourceLimits ? { ...options, resourceLimits: limits } : options);
    }
  };
}

if (workerThreads.isMainThread && !workerThreads.Worker.functionHeapLimits) {
  workerThreads.Worker = withFunctionHeapLimits(workerThreads.Worker);
  workerThreads.Worker.functionHeapLimits = true;
  // serverless offline imports Worker as an ES module (import { Worker } from "node:worker_threads"), which reads the
  // CommonJS export when first imported; this updates the binding had anything imported it before this preload ran.
  syncBuiltinESMExports();
}

module.exports = { functionHeapLimits };
