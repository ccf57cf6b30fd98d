import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { writeContactsFile, type ContactsFileFormat } from './lib/contacts';

const USAGE = `usage: npx ts-node src/scripts/createJson.ts <thousands> [--format json|ndjson|csv] [--seed N] [--out FILE] [--invalid N] [--hang N]

Writes <thousands> × 1,000 valid contacts to contacts_<thousands>k.<json|ndjson|csv>.
  --format F    json: {"contacts": [...]} (default); ndjson: one contact per line; csv: a header row
                first_name,last_name,company_domain then one contact per row (the same contacts for a seed)
  --seed N      reproducible output: the same seed writes an identical file (default: random, printed)
  --out FILE    output file (default contacts_<thousands>k.json)
  --invalid N   give N contacts, at random positions, a company_domain ending in ".invalid"
                (the mock enrichment API fails every call that includes one: for fault demos)
  --hang N      give N other contacts a company_domain ending in ".hang"
                (the mock enrichment API never answers a call that includes one: for time-budget demos)`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  // biome-ignore lint/suspicious/noImplicitAnyLet: TypeScript infers the type parseArgs gives for these options from the assignment below
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        seed: { type: 'string' },
        format: { type: 'string', short: 'f' },
        out: { type: 'string', short: 'o' },
        invalid: { type: 'string' },
        hang: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) fail('expected one argument: the number of contacts in thousands');
  const thousands = Number(positionals[0]);
  const count = Math.round(thousands * 1000);
  if (!Number.isFinite(thousands) || count < 1)
    fail(`the number of thousands must be a positive number, got "${positionals[0]}"`);
  const seed = integer('seed', values.seed, Math.floor(Math.random() * 2 ** 31));
  const invalid = integer('invalid', values.invalid, 0);
  if (invalid > count) fail(`--invalid ${invalid} is more than the ${count} contacts`);
  const hang = integer('hang', values.hang, 0);
  if (invalid + hang > count)
    fail(`--invalid ${invalid} and --hang ${hang} together are more than the ${count} contacts`);
  const format = (values.format ?? 'json') as ContactsFileFormat;
  if (!['json', 'ndjson', 'csv'].includes(format)) fail(`--format must be json, ndjson or csv, got "${values.format}"`);
  const file = values.out ?? `contacts_${positionals[0]}k.${format}`;

  const started = process.hrtime.bigint();
  await writeContactsFile(file, count, { seed, invalid, hang }, format);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { size } = await stat(file);
  console.log(
    `wrote ${count.toLocaleString('en-US')} contact${count === 1 ? '' : 's'}${invalid ? ` (${invalid} with a .invalid domain)` : ''}${hang ? ` (${hang} with a .hang domain)` : ''} to ${file} ` +
      `(${(size / 1024 / 1024).toFixed(1)} MB) in ${seconds.toFixed(1)}s; seed ${seed} (--seed ${seed} reproduces it)`,
  );
}

main().catch((err) => {
  console.error(`createJson failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
