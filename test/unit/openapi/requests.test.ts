import { readFileSync } from 'node:fs';
import path from 'node:path';
import { operations, requestBodyErrors, spec } from '../../support/openapiSpec';

/** docs/requests.http stays true to docs/openapi.yaml: every request is an operation of the spec, sent as documented. */
const text = readFileSync(path.join(__dirname, '../../../docs/requests.http'), 'utf8');
const variables = Object.fromEntries([...text.matchAll(/^@(\w+) = (.*)$/gm)].map((m) => [m[1], m[2].trim()]));
const requests = text
  .split(/^###/m)
  .slice(1)
  .map((block) => {
    const [title, ...rest] = block.split('\n');
    const lines = rest.filter((l) => !l.startsWith('#'));
    const start = lines.findIndex((l) => /^[A-Z]+ /.test(l));
    const [method, url] = lines[start].split(' ');
    const blank = lines.indexOf('', start);
    const headers = Object.fromEntries(
      lines.slice(start + 1, blank).map((l) => [l.split(':')[0].toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    return {
      title: title.trim(),
      method,
      url,
      headers,
      body: lines
        .slice(blank + 1)
        .join('\n')
        .trim(),
    };
  });

/** `{{baseUrl}}/enrichment/{{requestId}}/download` → `/enrichment/{id}/download`, the spec's template. */
function operationOf(method: string, url: string) {
  const p = url.replace('{{baseUrl}}', '');
  return operations().find(
    (o) => o.method === method && new RegExp(`^${o.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(p),
  );
}

describe('docs/requests.http', () => {
  it('uses the local base URL and an apiKey variable', () => {
    expect(variables.baseUrl).toBe(spec.servers[0].url);
    expect(variables.apiKey).toBeDefined();
    expect(requests.length).toBeGreaterThanOrEqual(8);
  });

  it.each(requests.map((r) => [r.title, r]))(
    '%s: an operation of the spec, with the key, and a body valid unless it shows an error',
    (_t, r) => {
      const op = operationOf(r.method, r.url);
      expect(op).toBeDefined();
      // Only the request that shows the 403 goes without the key.
      expect(r.headers['x-api-key']).toBe(r.title.startsWith('403') ? undefined : '{{apiKey}}');
      const status = /^(\d{3})/.exec(r.title)?.[1];
      if (status) expect(op!.statuses).toContain(status);
      if (r.headers['content-type'] === 'application/json') {
        const errors = requestBodyErrors(r.method, op!.path, JSON.parse(r.body));
        if (status?.startsWith('4')) expect(errors).not.toEqual([]);
        else expect(errors).toEqual([]);
      }
    },
  );
});
