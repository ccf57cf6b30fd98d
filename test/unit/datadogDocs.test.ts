import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { METRICS } from '../../src/core/metricNames';
import {
  catalogueByName,
  checkRef,
  loadDocs,
  metricRefs,
  queriesOf,
  unparsed,
} from '../../src/scripts/lib/datadogDocs';

const docs = loadDocs();
const refs = queriesOf(docs).flatMap(metricRefs);
const SRC = join(__dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The catalogue keys the code emits: `….emit('<key>'`, anywhere in src except the catalogue itself. */
function emittedKeys(): Set<string> {
  const keys = new Set<string>();
  for (const file of sourceFiles(SRC)) {
    if (file.endsWith(join('core', 'metricNames.ts'))) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/\.emit\(\s*'(\w+)'/g)) keys.add(m[1]);
  }
  return keys;
}

describe('the dashboard and monitors as the Datadog API client models them', () => {
  it('parses the dashboard with no unknown field, enum value or unmatched oneOf anywhere in it', () => {
    expect(unparsed(docs.dashboard, 'Dashboard')).toEqual([]);
  });

  it.each(docs.monitors.map((m) => [m.name as string, m]))(
    'parses the monitor %s with nothing left unparsed',
    (_name, monitor) => {
      expect(unparsed(monitor, 'Monitor')).toEqual([]);
    },
  );

  it('notices an unknown field deep in a widget, an unknown widget type and an unknown monitor option', () => {
    const dashboard = structuredClone(docs.dashboard) as {
      widgets: { definition: { widgets: { definition: Record<string, unknown> }[] } }[];
    };
    dashboard.widgets[0].definition.widgets[3].definition.legend_colour = 'red';
    expect(unparsed(dashboard, 'Dashboard').join('\n')).toMatch(/legend_colour/);
    const typo = structuredClone(docs.dashboard) as { widgets: { definition: Record<string, unknown> }[] };
    typo.widgets[0].definition.type = 'grup';
    expect(unparsed(typo, 'Dashboard')).not.toEqual([]);
    const monitor = structuredClone(docs.monitors[0]) as { options: Record<string, unknown> };
    monitor.options.notify_on_everything = true;
    expect(unparsed(monitor, 'Monitor').join('\n')).toMatch(/notify_on_everything/);
  });

  it('has the $env template variable on the env tag, and every custom metric on the dashboard filters on it', () => {
    const vars = docs.dashboard.template_variables as { name: string; prefix: string }[];
    expect(vars).toContainEqual(expect.objectContaining({ name: 'env', prefix: 'env' }));
    const dashboardRefs = queriesOf({ dashboard: docs.dashboard, monitors: [] }).flatMap(metricRefs);
    const custom = dashboardRefs.filter((r) => catalogueByName().has(r.metric));
    expect(custom.length).toBeGreaterThan(0);
    expect(custom.filter((r) => !/\{\$env[,}]/.test(r.query))).toEqual([]);
  });

  it('gives every monitor a message that says what to do', () => {
    for (const monitor of docs.monitors) expect(String(monitor.message).length).toBeGreaterThan(80);
  });
});

describe('the metrics they query and the metrics the code emits', () => {
  it('finds the queries', () => {
    expect(refs.length).toBeGreaterThan(40);
  });

  it('queries only catalogue metrics (with their tags, percentiles only where enabled) or known AWS integration metrics', () => {
    expect(refs.flatMap(checkRef)).toEqual([]);
  });

  it('queries every catalogue metric, with a percentile wherever percentiles are enabled', () => {
    const queried = new Set(refs.map((r) => r.metric));
    expect(
      Object.values(METRICS)
        .map((m) => m.name)
        .filter((name) => !queried.has(name)),
    ).toEqual([]);
    const withPercentile = new Set(refs.filter((r) => /^p\d+$/.test(r.aggregator)).map((r) => r.metric));
    expect(
      Object.values(METRICS)
        .filter((m) => 'percentiles' in m && !withPercentile.has(m.name))
        .map((m) => m.name),
    ).toEqual([]);
  });

  it('emits every catalogue metric somewhere in src', () => {
    const emitted = emittedKeys();
    expect(Object.keys(METRICS).filter((key) => !emitted.has(key))).toEqual([]);
  });

  it('is documented: docs/operations.md names every catalogue metric and every monitor, with a runbook entry', () => {
    const page = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
    expect(
      Object.values(METRICS)
        .map((m) => m.name)
        .filter((name) => !page.includes(`| \`${name}\``)),
    ).toEqual([]);
    const monitorNames = docs.monitors.map((m) => String(m.name).replace('[enrichment-service] ', ''));
    expect(monitorNames.filter((name) => !page.includes(`| ${name} |`))).toEqual([]);
    // The runbook: one `### <monitor name>` entry per monitor, each saying what it means, what to look at, what to do.
    const start = page.indexOf('\n## Runbook\n');
    expect(start).toBeGreaterThan(0);
    const end = page.indexOf('\n## ', start + 1);
    const entries = new Map(
      page
        .slice(start, end === -1 ? undefined : end)
        .split('\n### ')
        .slice(1)
        .map((entry) => [entry.slice(0, entry.indexOf('\n')), entry] as const),
    );
    expect([...entries.keys()].sort()).toEqual([...monitorNames].sort());
    for (const [name, entry] of entries) {
      for (const part of ['**Means:**', '**Look at:**', '**Do:**'])
        expect(`${name}: ${entry.includes(part)}`).toBe(`${name}: true`);
    }
  });

  it('covers the monitors the service needs', () => {
    const queries = docs.monitors.map((m) => String(m.query));
    for (const metric of [
      'aws.sqs.approximate_number_of_messages_visible',
      'aws.sqs.approximate_age_of_oldest_message',
      'enrichment.batch.delivery',
      'aws.apigateway.5xxerror',
      'enrichment.requests.oldest_processing_age_s',
      'enrichment.api.call.duration_ms',
    ]) {
      expect(queries.some((q) => q.includes(`:${metric}{`))).toBe(true);
    }
  });
});
