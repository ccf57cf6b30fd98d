/**
 * Concurrent GETs against the offline stack (docs/benchmarks-history.md, "Concurrent requests on npm start").
 * Starts `npm start`'s entry point on free ports, creates one request, then sends --concurrency GET /enrichment/{id}
 * at once, --rounds times, and prints each round's latencies and the stack's memory: the summed RSS of every
 * process of the stack (found by an environment entry they all inherit), sampled from /proc every 100 ms.
 *
 *   npx ts-node --transpile-only bench/concurrentGets.ts [--concurrency 100] [--rounds 3]
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { startTestStack, TEST_API_KEY } from '../test/support/npmStart';
import { processesOf } from '../test/support/processes';

const { values } = parseArgs({
  options: { concurrency: { type: 'string', default: '100' }, rounds: { type: 'string', default: '3' } },
});
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

const [markerName, markerValue] = ['CONCURRENT_GETS_BENCH', randomUUID()];
const rssMb = () =>
  processesOf(`${markerName}=${markerValue}`).reduce((sum, p) => {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'));
    return sum + (m ? Number(m[1]) / 1024 : 0);
  }, 0);
// startTestStack gives the stack this key (API_KEY).
const headers: Record<string, string> = { 'content-type': 'application/json', 'x-api-key': TEST_API_KEY };
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main(): Promise<void> {
  const stack = await startTestStack({ [markerName]: markerValue });
  try {
    const created = await fetch(`${stack.apiUrl}/enrichment`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        contacts: [{ first_name: 'Ada', last_name: 'Lovelace', company_domain: 'example.com' }],
        fields_to_enrich: ['professional_email'],
      }),
    });
    const { requestId } = (await created.json()) as { requestId: string };
    if (!requestId) throw new Error(`POST /enrichment answered ${created.status}`);
    await new Promise((r) => setTimeout(r, 2000));
    console.log(
      `stack up, ${concurrency} concurrent GET /enrichment/{id} × ${rounds} rounds; RSS at rest ${rssMb().toFixed(0)} MB`,
    );
    for (let round = 1; round <= rounds; round++) {
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 100);
      const statuses = new Map<number, number>();
      const started = Date.now();
      const latencies = await Promise.all(
        Array.from({ length: concurrency }, async () => {
          const t0 = Date.now();
          const res = await fetch(`${stack.apiUrl}/enrichment/${requestId}`, { headers });
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          return Date.now() - t0;
        }),
      );
      const wall = Date.now() - started;
      clearInterval(sampler);
      peak = Math.max(peak, rssMb());
      latencies.sort((a, b) => a - b);
      console.log(
        `round ${round}: statuses ${JSON.stringify(Object.fromEntries(statuses))}, latency p50 ${pct(latencies, 50)} ms, p95 ${pct(latencies, 95)} ms, max ${latencies.at(-1)} ms, all in ${wall} ms; RSS peak ${peak.toFixed(0)} MB, after ${rssMb().toFixed(0)} MB`,
      );
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
