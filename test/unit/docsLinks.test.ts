import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The README and the docs pages stay navigable and short, and say what the scripts really read: every relative
 * link resolves to a file (and its anchor to a heading of that file), the README is at most 250 lines and each
 * docs page at most 400, and the environment variables documented for the scripts are the ones their code reads.
 */
const ROOT = path.join(__dirname, '..', '..');
const DOCS = path.join(ROOT, 'docs');
const read = (file: string) => readFileSync(file, 'utf8');
const pages = [
  path.join(ROOT, 'README.md'),
  ...readdirSync(DOCS)
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join(DOCS, name)),
];
const rel = (file: string) => path.relative(ROOT, file);

/** A heading's anchor as GitHub makes it: lowercase, punctuation dropped except - and _, each space a -. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The text outside fenced code blocks, where markdown links and headings live. */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```[ \t]*$/gm, '');
}

/** Every anchor a page has: its headings' slugs, a repeated one with -1, -2… as GitHub numbers them. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** The relative links of a page, `[text](target)` and `[text](target#anchor)`, outside code blocks and spans. */
function relativeLinks(text: string): { target: string; anchor?: string }[] {
  const body = prose(text).replace(/`[^`\n]*`/g, '``');
  return [...body.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1])
    .filter((href) => !/^[a-z][a-z0-9+.-]*:/i.test(href))
    .map((href) => {
      const [target, anchor] = href.split('#', 2);
      return { target, anchor };
    });
}

/** What is wrong with the links of one page (empty when every link resolves). */
function brokenLinks(file: string, text: string): string[] {
  return relativeLinks(text).flatMap(({ target, anchor }) => {
    const resolved = target === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(target));
    const shown = `${rel(file)}: ${target}${anchor === undefined ? '' : `#${anchor}`}`;
    if (!existsSync(resolved)) return [`${shown}: no such file`];
    if (anchor === undefined || anchor === '') return [];
    if (!statSync(resolved).isFile() || !resolved.endsWith('.md'))
      return [`${shown}: an anchor into a non-markdown file`];
    return anchorsOf(read(resolved)).has(anchor) ? [] : [`${shown}: no such heading`];
  });
}

describe('links in README.md and docs/*.md', () => {
  it('finds the pages and their links', () => {
    expect(pages.length).toBeGreaterThan(5);
    expect(relativeLinks(read(pages[0])).length).toBeGreaterThan(10);
  });

  it.each(pages.map((file) => [rel(file), file]))('%s: every relative link resolves', (_name, file) => {
    expect(brokenLinks(file, read(file))).toEqual([]);
  });

  it('sees a broken file, a broken anchor, and a link in a code block as no link', () => {
    const readme = path.join(ROOT, 'README.md');
    expect(brokenLinks(readme, '[a](docs/nope.md) [b](docs/api.md#nope) [c](#try-it)')).toEqual([
      'README.md: docs/nope.md: no such file',
      'README.md: docs/api.md#nope: no such heading',
    ]);
    expect(brokenLinks(readme, '```\n[a](docs/nope.md)\n```\n`[b](nope.md)`')).toEqual([]);
  });

  it('makes anchors as GitHub does', () => {
    expect(slug('`POST /mock/enrich` (the mock enrichment API)')).toBe('post-mockenrich-the-mock-enrichment-api');
    expect(slug('`GET /enrichment/{id}/download`')).toBe('get-enrichmentiddownload');
    expect(slug("The functions' environment")).toBe('the-functions-environment');
    expect(slug('Pushing the dashboard, monitors and percentiles')).toBe(
      'pushing-the-dashboard-monitors-and-percentiles',
    );
    expect([...anchorsOf('# A\n## Setup\n### Setup\n```\n# not a heading\n```\n')]).toEqual(['a', 'setup', 'setup-1']);
  });
});

describe('page lengths', () => {
  it('keeps README.md to 250 lines at most', () => {
    expect(read(pages[0]).split('\n').length - 1).toBeLessThanOrEqual(250);
  });

  it.each(pages.slice(1).map((file) => [rel(file), file]))('keeps %s to 400 lines at most', (_name, file) => {
    expect(read(file).split('\n').length - 1).toBeLessThanOrEqual(400);
  });
});

/** Every file under dir (recursively) whose name ends with ext. */
function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file, ext) : file.endsWith(ext) ? [file] : [];
  });
}

/** Environment variables a TypeScript file reads: `process.env.X`, `env.X`, `env['X']` (an env parameter). */
function tsEnvReads(file: string): string[] {
  return [...read(file).matchAll(/\benv(?:\.([A-Z][A-Z0-9_]*)|\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\])/g)].map(
    (m) => m[1] ?? m[2],
  );
}

/** Variables a shell script reads: `$X` and `${X…}`, upper case (lower case names are the scripts' own locals). */
function shellEnvReads(file: string): string[] {
  const code = read(file)
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  return [...code.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]);
}

const SCRIPTS = path.join(ROOT, 'src', 'scripts');
const BIN = path.join(ROOT, 'bin');
const PUSH_DATADOG = path.join(SCRIPTS, 'pushDatadog.ts');
const sorted = (names: Iterable<string>) => [...new Set(names)].sort();
/** What the user scripts (createJson, createEnrichment, their lib, bin/) read; pushDatadog.ts is an operator's tool. */
const userScriptReads = sorted([
  ...filesUnder(SCRIPTS, '.ts')
    .filter((f) => f !== PUSH_DATADOG)
    .flatMap(tsEnvReads),
  ...filesUnder(BIN, '.sh').flatMap(shellEnvReads),
]);
const allScriptReads = sorted([...userScriptReads, ...tsEnvReads(PUSH_DATADOG)]);
const backticked = (text: string) => (text.match(/`[A-Z][A-Z0-9_]*`/g) ?? []).map((n) => n.slice(1, -1));

describe('the environment the scripts read', () => {
  it('finds what the code reads', () => {
    expect(userScriptReads).toContain('API_URL');
    expect(allScriptReads.length).toBeGreaterThan(userScriptReads.length);
  });

  it('README.md: "The scripts read only …" names exactly what the user scripts and bin/ read', () => {
    const line = read(pages[0])
      .split('\n\n')
      .find((paragraph) => paragraph.includes('The scripts read only'));
    expect(line).toBeDefined();
    const sentence = line!.slice(line!.indexOf('The scripts read only')).split(/[.;(]/)[0];
    expect(sorted(backticked(sentence))).toEqual(userScriptReads);
  });

  it('docs/configuration.md: the scripts table lists exactly what src/scripts and bin/ read', () => {
    const page = read(path.join(DOCS, 'configuration.md'));
    const start = page.indexOf('\n## The scripts\n');
    expect(start).toBeGreaterThan(0);
    const section = page.slice(start, page.indexOf('\n## ', start + 1));
    const rows = section.split('\n').filter((l) => l.startsWith('| `'));
    expect(sorted(rows.flatMap((row) => backticked(row.split(' | ')[0])))).toEqual(allScriptReads);
  });
});
