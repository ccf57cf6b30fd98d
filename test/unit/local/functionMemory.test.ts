import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { serverlessOfflineArgs } from '../../../src/local/stack';

const PRELOAD = path.resolve(__dirname, '../../../src/local/functionMemory.js');
/** A worker's code (an ES module or CommonJS alike) that posts its resource limits. */
const REPORT_LIMITS = "import('node:worker_threads').then((wt) => wt.parentPort.postMessage(wt.resourceLimits))";

/**
 * Starts a node process with the preload, as the stack starts serverless offline, which there creates a worker per
 * option set, importing Worker as an ES module as serverless offline does; returns each worker's resourceLimits.
 */
async function limitsSeenBy(workerOptions: object[]): Promise<Record<string, number>[]> {
  const script = `
    import { Worker } from 'node:worker_threads';
    const seen = [];
    for (const options of ${JSON.stringify(workerOptions)}) {
      const w = new Worker(${JSON.stringify(REPORT_LIMITS)}, { eval: true, ...options });
      seen.push(await new Promise((resolve, reject) => w.once('message', resolve).once('error', reject)));
      await w.terminate();
    }
    console.log(JSON.stringify(seen));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-r', PRELOAD, '--input-type=module', '-e', script]);
  return JSON.parse(stdout);
}

describe("a function's worker thread offline (functionMemory.js)", () => {
  it('is preloaded into serverless offline by the stack', () => {
    const args = serverlessOfflineArgs('us-east-1');
    const at = args.indexOf(PRELOAD);
    expect(args[at - 1]).toBe('-r');
    // A node option: before the script.
    expect(at).toBeLessThan(args.findIndex((a) => a.endsWith('serverless.js')));
  });

  it("gets the old space Lambda's Node.js runtime gives its memory size, and semi-spaces of at most 4 MB", async () => {
    // serverless offline passes the size as a number; a string (an environment) works the same.
    const seen = await limitsSeenBy([
      { env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 256 } },
      { env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512' } },
      { env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 1769 } },
    ]);
    // Lambda: --max-old-space-size=memory-memory/10 (and --max-semi-space-size=memory/10/2, 12-88 MB here); V8's
    // young generation is three semi-spaces.
    expect(seen.map((l) => [l.maxOldGenerationSizeMb, l.maxYoungGenerationSizeMb])).toEqual([
      [231, 12],
      [461, 12],
      [1593, 12],
    ]);
  });

  it("leaves other workers and a caller's own limits as they are", async () => {
    const [plain, own, unsized] = await limitsSeenBy([
      {},
      { env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 256 }, resourceLimits: { maxOldGenerationSizeMb: 300 } },
      { env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 'x' } },
    ]);
    const [defaults] = await promisify(execFile)(process.execPath, [
      '-e',
      `new (require('node:worker_threads').Worker)(${JSON.stringify(REPORT_LIMITS)}, { eval: true }).once('message', (m) => { console.log(JSON.stringify(m)); process.exit(0); })`,
    ]).then(({ stdout }) => [JSON.parse(stdout) as Record<string, number>]);
    expect(plain).toEqual(defaults);
    expect(unsized).toEqual(defaults);
    expect(own.maxOldGenerationSizeMb).toBe(300);
    expect(own.maxYoungGenerationSizeMb).toBe(defaults.maxYoungGenerationSizeMb);
  });
});
