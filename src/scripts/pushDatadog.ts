/**
 * Pushes the Datadog side of the service as code: the dashboard (docs/datadog-dashboard.json, found again by its
 * title), the monitors (docs/datadog-monitors.json, found again by their name) and the tag configurations that
 * enable percentiles on the distributions the dashboard and monitors read at p50/p95 (src/core/metricNames.ts).
 * Running it twice changes nothing the second time but the update timestamps.
 *
 *   DD_API_KEY=… DD_APP_KEY=… [DD_SITE=datadoghq.eu] npx ts-node src/scripts/pushDatadog.ts [--dry-run]
 *
 * --dry-run checks the documents (the API client's models, the metrics they query) and prints the plan: no key, no call.
 */
import { client, v1, v2 } from '@datadog/datadog-api-client';
import { METRICS, type MetricSpec } from '../core/metricNames';
import { checkRef, loadDocs, metricRefs, percentileTagConfig, queriesOf, unparsed } from './lib/datadogDocs';

type Log = (line: string) => void;

function validate(log: Log): ReturnType<typeof loadDocs> {
  const docs = loadDocs();
  const problems = [
    ...unparsed(docs.dashboard, 'Dashboard').map((p) => `dashboard${p}`),
    ...docs.monitors.flatMap((m) => unparsed(m, 'Monitor').map((p) => `monitor "${m.name}"${p}`)),
    ...queriesOf(docs).flatMap(metricRefs).flatMap(checkRef),
  ];
  if (problems.length) throw new Error(`the Datadog documents do not check:\n  ${problems.join('\n  ')}`);
  log(
    `checked: dashboard "${docs.dashboard.title}", ${docs.monitors.length} monitors, ${queriesOf(docs).length} queries`,
  );
  return docs;
}

const withPercentiles = (): MetricSpec[] =>
  Object.values(METRICS).filter(
    (m): m is MetricSpec & { percentiles: true } => 'percentiles' in m && m.percentiles === true,
  );

async function push(docs: ReturnType<typeof loadDocs>, log: Log): Promise<void> {
  const apiKeyAuth = process.env.DD_API_KEY;
  const appKeyAuth = process.env.DD_APP_KEY;
  if (!apiKeyAuth || !appKeyAuth) throw new Error('DD_API_KEY and DD_APP_KEY are required (or --dry-run)');
  const configuration = client.createConfiguration({ authMethods: { apiKeyAuth, appKeyAuth } });
  client.setServerVariables(configuration, { site: process.env.DD_SITE ?? 'datadoghq.com' });

  // 1. The dashboard, by title.
  const dashboards = new v1.DashboardsApi(configuration);
  const body = v1.ObjectSerializer.deserialize(docs.dashboard, 'Dashboard', '') as v1.Dashboard;
  const existing: string[] = [];
  for (let start = 0; ; start += 100) {
    const page = await dashboards.listDashboards({ filterDeleted: false, count: 100, start });
    const list = page.dashboards ?? [];
    existing.push(...list.filter((d) => d.title === body.title && d.id).map((d) => d.id!));
    if (list.length < 100) break;
  }
  if (existing.length > 1) log(`several dashboards are titled "${body.title}": updating ${existing[0]}`);
  const dashboard = existing.length
    ? await dashboards.updateDashboard({ dashboardId: existing[0], body })
    : await dashboards.createDashboard({ body });
  log(`dashboard ${existing.length ? 'updated' : 'created'}: ${dashboard.url ?? dashboard.id}`);

  // 2. The monitors, by name.
  const monitors = new v1.MonitorsApi(configuration);
  for (const doc of docs.monitors) {
    const monitor = v1.ObjectSerializer.deserialize(doc, 'Monitor', '') as v1.Monitor;
    const same = (await monitors.listMonitors({ name: monitor.name })).filter(
      (m) => m.name === monitor.name && m.id !== undefined,
    );
    if (same.length) {
      const { name, query, message, options, tags, priority, type } = monitor;
      await monitors.updateMonitor({
        monitorId: same[0].id!,
        body: { name, query, message, options, tags, priority, type },
      });
      log(`monitor updated: ${monitor.name} (${same[0].id})`);
    } else {
      const created = await monitors.createMonitor({ body: monitor });
      log(`monitor created: ${monitor.name} (${created.id})`);
    }
  }

  // 3. Percentiles on the distributions read at p50/p95 (a tag configuration; every tag the metric carries stays queryable).
  const metrics = new v2.MetricsApi(configuration);
  for (const spec of withPercentiles()) {
    const attributes = percentileTagConfig(spec);
    let found = true;
    try {
      await metrics.listTagConfigurationByName({ metricName: spec.name });
    } catch (err) {
      if (!(err instanceof client.ApiException && err.code === 404)) throw err;
      found = false;
    }
    if (found) {
      await metrics.updateTagConfiguration({
        metricName: spec.name,
        body: { data: { id: spec.name, type: 'manage_tags', attributes } },
      });
    } else {
      await metrics.createTagConfiguration({
        metricName: spec.name,
        body: {
          data: { id: spec.name, type: 'manage_tags', attributes: { ...attributes, metricType: 'distribution' } },
        },
      });
    }
    log(
      `percentiles enabled on ${spec.name} (${found ? 'updated' : 'created'}; queryable tags ${attributes.tags.join(', ')})`,
    );
  }
}

export async function main(argv: string[], log: Log = (line) => console.log(line)): Promise<void> {
  const docs = validate(log);
  if (argv.includes('--dry-run')) {
    log(`dry run: would push dashboard "${docs.dashboard.title}"`);
    for (const m of docs.monitors) log(`dry run: would push monitor "${m.name}"`);
    for (const spec of withPercentiles())
      log(`dry run: would enable percentiles on ${spec.name} (tags ${percentileTagConfig(spec).tags.join(', ')})`);
    return;
  }
  await push(docs, log);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
