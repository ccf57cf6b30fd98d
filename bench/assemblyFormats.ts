/**
 * What the NDJSON and CSV outputs cost the assembly: time and peak RSS with all three formats against
 * JSON alone, one size and variant per child process (so each peak RSS is that run's own).
 *
 *   node --expose-gc -r ts-node/register/transpile-only bench/assemblyFormats.ts [--sizes 10000,100000,1000000]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { assemblyMemory } from './assembly';
import type { OutputFormat } from '../src/core/output';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    one: { type: 'string' },
    formats: { type: 'string', default: 'json,ndjson,csv' },
  },
});

async function main() {
  if (values.one) {
    process.env.LOG_LEVEL = 'warn';
    const result = await assemblyMemory(Number(values.one), values.formats!.split(',') as OutputFormat[]);
    console.log(JSON.stringify(result));
    return;
  }
  const rows = [];
  for (const size of values.sizes!.split(',')) {
    for (const formats of ['json', 'json,ndjson,csv']) {
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', '-r', 'ts-node/register/transpile-only', __filename, '--one', size, '--formats', formats],
        { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn' } },
      );
      rows.push(JSON.parse(out.trim().split('\n').pop()!));
    }
  }
  console.table(rows);
}

void main();
