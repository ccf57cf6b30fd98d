/**
 * Where the time goes: self time of .cpuprofile files (node --cpu-prof, e.g. `npm run bench -- --profile
 * .cpuprofile`) by category: a package, a file of ours, GC, or the engine.
 *
 *   npx ts-node --transpile-only bench/profile.ts .cpuprofile/processBatch-*.cpuprofile [--top 15]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** The bucket a frame's self time goes to: a package, a source file of ours, or what V8 calls it. */
export function category(frame: Node['callFrame']): string {
  const { url, functionName } = frame;
  if (/\/\.bench-[^/]+\//.test(url)) return 'our src/ (the handler bundle bench/role.ts loads)';
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] === 'ts-node' || pkg[1] === 'typescript' ? 'ts-node / typescript (compiling)' : pkg[1];
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[1] ?? url.slice(5)}`;
  const ours = /\/(src|bench)\/(.*)$/.exec(url);
  return ours ? `${ours[1]}/${ours[2]}` : url;
}

export function selfTimeByCategory(profiles: Profile[]): Array<{ category: string; ms: number; share: string }> {
  const totals = new Map<string, number>();
  let all = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    p.samples.forEach((id, i) => {
      const us = p.timeDeltas[i] ?? 0;
      const key = category(byId.get(id)!.callFrame);
      totals.set(key, (totals.get(key) ?? 0) + us);
      all += us;
    });
  }
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .map(([c, us]) => ({ category: c, ms: Math.round(us / 1000), share: `${((100 * us) / all).toFixed(1)}%` }));
}

if (require.main === module) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' } },
  });
  const rows = selfTimeByCategory(positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Profile));
  console.table(rows.filter((r) => r.category !== '(idle)').slice(0, Number(values.top)));
  console.log(`idle: ${rows.find((r) => r.category === '(idle)')?.share ?? '0%'}`);
}
