import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.join(__dirname, '../../..');

/**
 * `redocly lint` of docs/openapi.yaml with redocly.yaml (the recommended rules, invalid examples as errors): any
 * error or warning fails, except the few that .redocly.lint-ignore.yaml ignores on purpose. Offline: no
 * telemetry (redocly.yaml and REDOCLY_TELEMETRY), no update check, and `--no-install` so npx never asks the registry.
 */
it('docs/openapi.yaml passes redocly lint with no error or warning', async () => {
  const run = promisify(execFile);
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_NOTIFICATIONS: 'true', NO_COLOR: '1' };
  let stdout: string;
  try {
    ({ stdout } = await run('npx', ['--no-install', 'redocly', 'lint', 'docs/openapi.yaml', '--format=json'], {
      cwd: ROOT,
      env,
    }));
  } catch (err) {
    // redocly exits 1 when there are errors; its report is still on stdout.
    stdout = (err as { stdout?: string }).stdout ?? '';
    if (!stdout.trim().startsWith('{')) throw err;
  }
  const report = JSON.parse(stdout) as {
    totals: { errors: number; warnings: number };
    problems: Array<{ ruleId: string; message: string; location: Array<{ pointer: string }> }>;
  };
  const problems = report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
  expect(problems).toEqual([]);
  expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
});
