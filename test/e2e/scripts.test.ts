import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ContactSchema, type Contact } from '../../src/schemas/contact';
import { checkOutput } from '../../src/scripts/lib/checkOutput';
import { generateContacts, renderContactsFile } from '../../src/scripts/lib/contacts';
import { ownerIdOf, uploadPrefixOf } from '../../src/core/owner';
import { startTestStack, TEST_API_KEY, type RunningStack } from '../support/npmStart';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const FIELDS = ['professional_email', 'personal_phone'];

/**
 * The test run's environment without the unit-test resource names and without any AWS credentials: the users'
 * scripts need nothing but API_URL and API_KEY (uploads go through presigned URLs the API hands out).
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of [
    'BUCKET_NAME',
    'STAGE',
    'TABLE_NAME',
    'CACHE_TABLE',
    'BATCH_QUEUE_NAME',
    'PUBLIC_API_URL',
    'ENRICHMENT_API_URL',
    'S3_ENDPOINT',
  ])
    delete env[name];
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    delete env[name];
  return { ...env, AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent' };
}

/** The users' commands as they type them (`npx ts-node …`, type-checked), with `cwd` and extra environment. */
async function runTs(args: string[], cwd: string, env: Record<string, string> = {}) {
  try {
    const res = await run(process.execPath, ['-r', require.resolve('ts-node/register'), ...args], {
      cwd,
      env: { ...cleanEnv(), TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'), ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, ...res };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const script = (name: string) => path.join(ROOT, 'src/scripts', name);

async function readContacts(file: string): Promise<Contact[]> {
  return (JSON.parse(await readFile(file, 'utf8')) as { contacts: Contact[] }).contacts;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'scripts-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createJson', () => {
  it('writes N thousand valid contacts, identical for the same seed', async () => {
    const first = await runTs([script('createJson.ts'), '2', '--seed', '7'], dir);
    expect(first.code).toBe(0);
    const a = await readFile(path.join(dir, 'contacts_2k.json'), 'utf8');
    await runTs([script('createJson.ts'), '2', '--seed', '7', '--out', 'again.json'], dir);
    expect(await readFile(path.join(dir, 'again.json'), 'utf8')).toBe(a);

    const contacts = (JSON.parse(a) as { contacts: unknown[] }).contacts;
    expect(contacts).toHaveLength(2000);
    const invalid = contacts.filter((c) => !ContactSchema.safeParse(c).success);
    expect(invalid).toEqual([]);
    // Not one contact repeated over and over.
    expect(new Set(contacts.map((c) => JSON.stringify(c))).size).toBeGreaterThan(1990);
  }, 60_000);

  it('--invalid scatters exactly N .invalid domains and leaves the other contacts as they were', () => {
    const plain = [...generateContacts(5000, { seed: 3 })];
    const faulty = [...generateContacts(5000, { seed: 3, invalid: 25 })];
    const poisoned = faulty.map((c, i) => (c.company_domain.endsWith('.invalid') ? i : -1)).filter((i) => i >= 0);
    expect(poisoned).toHaveLength(25);
    expect(poisoned[0]).toBeLessThan(2500); // scattered, not bunched at the end
    expect(poisoned[24]).toBeGreaterThan(2500);
    faulty.forEach((c, i) => {
      if (!poisoned.includes(i)) expect(c).toEqual(plain[i]);
      else expect(c.first_name).toBe(plain[i].first_name);
    });
    expect(() => [...generateContacts(10, { seed: 1, invalid: 11 })]).toThrow(RangeError);
  });

  it('--hang gives exactly N other contacts a .hang domain and leaves the rest as they were', async () => {
    const plain = [...generateContacts(5000, { seed: 3, invalid: 25 })];
    const both = [...generateContacts(5000, { seed: 3, invalid: 25, hang: 10 })];
    const hanging = both.flatMap((c, i) => (c.company_domain.endsWith('.hang') ? [i] : []));
    expect(hanging).toHaveLength(10);
    expect(both.filter((c) => c.company_domain.endsWith('.invalid'))).toHaveLength(25);
    both.forEach((c, i) => {
      if (!hanging.includes(i)) expect(c).toEqual(plain[i]);
    });
    expect(both.every((c) => ContactSchema.safeParse(c).success)).toBe(true);
    expect(() => [...generateContacts(10, { seed: 1, invalid: 5, hang: 6 })]).toThrow(RangeError);

    const res = await runTs([script('createJson.ts'), '1', '--seed', '4', '--hang', '3', '--out', 'hang.json'], dir);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/3 with a \.hang domain/);
    expect(
      (await readContacts(path.join(dir, 'hang.json'))).filter((c) => c.company_domain.endsWith('.hang')),
    ).toHaveLength(3);
  }, 60_000);

  it('rejects a missing or bad count with a usage message', async () => {
    const res = await runTs([script('createJson.ts'), 'lots'], dir);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/usage: npx ts-node src\/scripts\/createJson.ts/);
  }, 60_000);
});

describe('checkOutput', () => {
  const input = [...generateContacts(300, { seed: 11 })];
  const outputFile = path.join(os.tmpdir(), `check-${process.pid}.json`);
  const write = (rows: unknown[]) =>
    writeFile(outputFile, JSON.stringify({ requestId: 'r', enriched_contacts: rows, summary: {} }));
  const row = (c: Contact) => ({
    ...c,
    professional_email: 'x@y.z',
    personal_phone: null,
    enrichment_status: 'enriched',
  });
  afterAll(() => rm(outputFile, { force: true }));

  it('passes an output with every contact once, in order, with the fields', async () => {
    await write(input.map(row));
    const res = await checkOutput(outputFile, input, FIELDS);
    expect(res).toMatchObject({
      ok: true,
      rows: 300,
      expected: 300,
      counts: { enriched: 300, not_found: 0, failed: 0 },
    });
  });

  it('catches swapped rows, a missing row, a missing field and a bad status', async () => {
    const swapped = input.map(row);
    [swapped[10], swapped[11]] = [swapped[11], swapped[10]];
    await write(swapped);
    const reordered = await checkOutput(outputFile, input, FIELDS);
    expect(reordered.ok).toBe(false);
    expect(reordered.problems).toHaveLength(2);
    expect(reordered.problems[0]).toMatch(/^row 10: .*order or content differs/);

    await write(input.slice(1).map(row));
    const short = await checkOutput(outputFile, input, FIELDS);
    expect(short.ok).toBe(false);
    expect(short.problems[0]).toBe('output has 299 rows, input has 300 contacts');
    expect(short.problemCount).toBe(300); // the count, and 299 rows that no longer line up

    const noField = input.map(row);
    delete (noField[5] as Record<string, unknown>).personal_phone;
    noField[6].enrichment_status = 'done';
    await write(noField);
    const bad = await checkOutput(outputFile, input, FIELDS);
    expect(bad.problems).toEqual(['row 5: missing field(s) personal_phone', 'row 6: enrichment_status is "done"']);
  });
});

/** The users' scripts against the real offline stack (`npm start` code path) on free ports. */
describe('users scripts against the offline stack', () => {
  let stack: RunningStack;
  let env: Record<string, string>;

  beforeAll(async () => {
    // On 2 cores the jobs are CPU-bound: four workers do them as fast as eight, and start sooner. The result cache is
    // off (CACHE_TTL_DAYS=0, as the README offers for large jobs): on a cold cache the 100k job writes 100k items to
    // dynalite, ~3x its time (offlineStack.test.ts runs its jobs with the cache on).
    stack = await startTestStack({ LOCAL_WORKERS: '4', CACHE_TTL_DAYS: '0' });
    env = { API_URL: stack.apiUrl, API_KEY: TEST_API_KEY };
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('createEnrichment.ts <file> true --wait, with no AWS credentials, uploads through the API, waits, downloads and checks the output', async () => {
    await writeFile(
      path.join(dir, 'contacts_s3.json'),
      [...renderContactsFile(generateContacts(2500, { seed: 5, invalid: 2 }))].join(''),
    );
    const res = await runTs(
      [script('createEnrichment.ts'), 'contacts_s3.json', 'true', '--wait', '--out', 'out_s3.json'],
      dir,
      env,
    );
    expect(res.stderr).toMatch(
      new RegExp(
        `uploaded: s3://enrichment-service-local-data/${uploadPrefixOf(ownerIdOf(TEST_API_KEY))}[0-9a-f-]{36}\\.json`,
      ),
    );
    expect(res.stderr).toMatch(/uploading \|.*\| 100% \|/);
    expect([res.code, res.stderr.slice(-1500)]).toEqual([0, expect.anything()]);
    const accepted = JSON.parse(res.stdout.slice(0, res.stdout.indexOf('\n}') + 2));
    // An upload is validated by the intake after the 202: no totals in the answer, they come with the status.
    expect(accepted).toMatchObject({ message: expect.stringMatching(/^Request accepted/), status: 'validating' });
    expect(res.stdout).toMatch(/contacts 2500, batches \d+ processed \/ \d+ failed of 25/);
    expect(res.stdout).toMatch(/completed_with_errors/);
    expect(res.stdout).toMatch(/check: 2500 rows, one per input contact, in input order/);

    // Independently of the script's own check: one row per input contact, in input order.
    const input = await readContacts(path.join(dir, 'contacts_s3.json'));
    const output = JSON.parse(await readFile(path.join(dir, 'out_s3.json'), 'utf8')) as {
      requestId: string;
      enriched_contacts: Array<Record<string, unknown>>;
    };
    expect(output.requestId).toBe(accepted.requestId);
    expect(output.enriched_contacts.map((r) => [r.first_name, r.last_name, r.company_domain])).toEqual(
      input.map((c) => [c.first_name, c.last_name, c.company_domain]),
    );
    expect(output.enriched_contacts.filter((r) => r.enrichment_status === 'failed')).toHaveLength(2);
  }, 180_000);

  it.each(['csv', 'ndjson'])(
    'createJson.ts --format %s, then createEnrichment.ts of it: uploaded, enriched, and checked against the file in its format',
    async (format) => {
      expect((await runTs([script('createJson.ts'), '2', '--seed', '11', '--format', format], dir)).code).toBe(0);
      const res = await runTs(
        [script('createEnrichment.ts'), `contacts_2k.${format}`, 'true', '--wait', '--out', `out_2k_${format}.json`],
        dir,
        env,
      );
      expect([res.code, res.stderr.slice(-1500)]).toEqual([0, expect.anything()]);
      expect(res.stderr).toMatch(new RegExp(`uploading contacts_2k\\.${format} \\([0-9.]+ MB, ${format}\\)`));
      expect(res.stdout).toMatch(/contacts 2000, batches 20 processed \/ 0 failed of 20/);
      expect(res.stdout).toMatch(/check: 2000 rows, one per input contact, in input order/);
    },
    120_000,
  );

  it("createEnrichement.ts (the seed's spelling, an alias of createEnrichment.ts) posts inline and prints the response; a bad field is a 400 and exit 1", async () => {
    await writeFile(
      path.join(dir, 'contacts_small.json'),
      [...renderContactsFile(generateContacts(150, { seed: 9 }))].join(''),
    );
    const ok = await runTs([script('createEnrichement.ts'), 'contacts_small.json'], dir, env);
    expect(ok.code).toBe(0);
    expect(ok.stderr).not.toMatch(/upload/);
    expect(JSON.parse(ok.stdout)).toMatchObject({ message: 'Request accepted', totalContacts: 150, totalBatches: 2 });

    const bad = await runTs([script('createEnrichement.ts'), 'contacts_small.json', '--fields', 'shoe_size'], dir, env);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).errors[0]).toMatchObject({ path: 'fields_to_enrich[0]' });
  }, 120_000);

  it('createEnrichment.ts of a 100k-contact file without "true" says it is over the inline limit, uploads it and completes', async () => {
    expect((await runTs([script('createJson.ts'), '100', '--seed', '3'], dir)).code).toBe(0);
    const res = await runTs(
      [script('createEnrichment.ts'), 'contacts_100k.json', '--wait', '--out', 'out_100k.json'],
      dir,
      env,
    );
    expect(res.stderr).toMatch(
      /contacts_100k\.json is 7\.\d MB, over the inline limit \(it would be a Lambda event of 8\.\d MB; .*67,000 contacts\): uploading to S3 instead/,
    );
    expect(res.stderr).toContain(
      `uploaded: s3://enrichment-service-local-data/${uploadPrefixOf(ownerIdOf(TEST_API_KEY))}`,
    );
    expect(res.code).toBe(0);
    const accepted = JSON.parse(res.stdout.slice(0, res.stdout.indexOf('\n}') + 2));
    expect(accepted).toMatchObject({ message: expect.stringMatching(/^Request accepted/), status: 'validating' });
    expect(res.stdout).toMatch(/contacts 100000, batches 1000 processed \/ 0 failed of 1000/);
    expect(res.stdout).toMatch(/: completed after/);
    expect(res.stdout).toMatch(/check: 100000 rows, one per input contact, in input order/);
  }, 400_000);

  it('bin/createEnrichment.sh posts the sample and bin/getEnrichment.sh prints its status', async () => {
    const shellEnv = { ...cleanEnv(), API_URL: stack.apiUrl, API_KEY: TEST_API_KEY };
    const created = await run(path.join(ROOT, 'bin/createEnrichment.sh'), [], { env: shellEnv });
    const { requestId, totalContacts } = JSON.parse(created.stdout);
    expect(totalContacts).toBe(3);
    const status = await run(path.join(ROOT, 'bin/getEnrichment.sh'), [requestId], { env: shellEnv });
    expect(JSON.parse(status.stdout)).toMatchObject({ requestId, totalContacts: 3, totalBatches: 1 });

    await expect(run(path.join(ROOT, 'bin/getEnrichment.sh'), [], { env: shellEnv })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/usage: .*getEnrichment.sh <requestId>/),
    });
    await expect(
      run(path.join(ROOT, 'bin/getEnrichment.sh'), ['00000000-0000-4000-8000-000000000000'], { env: shellEnv }),
    ).rejects.toMatchObject({
      code: 1,
    });
    // Without the key: 403, and the wrappers say which variable to set.
    await expect(
      run(path.join(ROOT, 'bin/createEnrichment.sh'), [], { env: { ...shellEnv, API_KEY: '' } }),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('set API_KEY'),
    });
  }, 60_000);
});
