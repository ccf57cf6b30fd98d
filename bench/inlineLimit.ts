/**
 * How many createJson.ts contacts fit inline (docs/api.md: Limits). For each seed, a binary search for the
 * largest request whose Lambda proxy event (src/inlineLimits.ts) is smaller than 6,291,456 bytes, with
 * the headers the scripts' `fetch` sends.
 *
 *   npx ts-node --transpile-only bench/inlineLimit.ts [--seeds 1,2,3,42,777]
 */
import { parseArgs } from 'node:util';
import { checkInline, LAMBDA_MAX_EVENT_BYTES, proxyEventBytes } from '../src/inlineLimits';
import { generateContacts } from '../src/scripts/lib/contacts';
import { DEFAULT_FIELDS, fetchPostHeaders, inlineVerdict } from '../src/scripts/lib/api';

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '1,2,3,42,777' } } });
const headers = (body: string) => fetchPostHeaders(body, 'localhost:3000');
const request = (body: string) => ({ method: 'POST', url: '/enrichment', headers: headers(body), body });

/** The largest n in [1, max] for which fits(n) holds (fits is monotone). */
function largest(max: number, fits: (n: number) => boolean): number {
  let lo = 0;
  let hi = max;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

console.log(
  `Lambda event limit: smaller than ${LAMBDA_MAX_EVENT_BYTES.toLocaleString('en-US')} bytes; fields ${DEFAULT_FIELDS.join(',')}`,
);
console.log(
  'seed  max contacts  body bytes  event bytes  escaped/body  overhead  max contacts (scripts, 4 KiB margin)',
);
for (const seed of values.seeds.split(',').map(Number)) {
  const contacts = [...generateContacts(90_000, { seed })];
  const body = (n: number) => JSON.stringify({ contacts: contacts.slice(0, n), fields_to_enrich: DEFAULT_FIELDS });
  const n = largest(contacts.length, (k) => checkInline(request(body(k))).ok);
  const b = body(n);
  const event = proxyEventBytes(request(b));
  const escaped = Buffer.byteLength(JSON.stringify(b));
  const scripts = largest(contacts.length, (k) => inlineVerdict(body(k), 'http://localhost:3000').ok);
  console.log(
    [seed, n, Buffer.byteLength(b), event, (escaped / Buffer.byteLength(b)).toFixed(3), event - escaped + 2, scripts]
      .map((v, i) => String(v).padStart(i ? 12 : 4))
      .join('  '),
  );
}
