/**
 * The bench's chart as SVG, drawn by Vega-Lite + Vega in Node (no browser, no network): throughput of whole
 * jobs and peak RSS per role, both against the request size (log scale).
 */
// vega and vega-lite are ES modules only; a plain import() keeps them so under ts-node's CommonJS output.
const esm = new Function('m', 'return import(m)') as <T>(m: string) => Promise<T>;

export async function renderChart(
  jobs: Array<{ contacts: number; 'contacts/s': number }>,
  rss: Array<{ role: string; contacts: number; MB: number }>,
): Promise<string> {
  const vega = await esm<typeof import('vega')>('vega');
  const vl = await esm<{ compile(spec: unknown): { spec: import('vega').Spec } }>('vega-lite');
  const x = {
    field: 'contacts',
    type: 'quantitative',
    scale: { type: 'log' },
    title: 'contacts in the request',
    axis: { format: '~s' },
  } as const;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: { font: 'sans-serif', view: { stroke: null } },
    hconcat: [
      {
        title: 'Whole jobs on the emulators (2 cores, mock latency 0)',
        width: 320,
        height: 220,
        data: { values: jobs.map((j) => ({ contacts: j.contacts, 'contacts/s': j['contacts/s'] })) },
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'contacts/s', type: 'quantitative', title: 'contacts per second' } },
      },
      {
        title: 'Peak RSS per role',
        width: 320,
        height: 220,
        data: { values: rss.filter((r) => Number.isFinite(r.MB)) },
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'MB', type: 'quantitative', title: 'peak RSS (MB)' },
          color: { field: 'role', type: 'nominal', legend: { orient: 'bottom', columns: 1 } },
        },
      },
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
