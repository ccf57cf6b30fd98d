// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS file (package.json has no "type": "module"), where it is not redundant
'use strict';

/**
 * Prints docs/deploy.md's bundle table (Bundles) from a `sls package --package DIR` output: each function's zip,
 * its minified handler bundle, and that bundle alone zipped. Usage: node deploy/bundleSizes.js DIR
 */
const fs = require('node:fs');
const path = require('node:path');
const JSZip = require('jszip');

const kb = (n) => `${Math.round(n / 1000)} KB`;
const size = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : kb(n));

async function main(dir) {
  const rows = ['| function | zip | bundle (minified) | bundle alone, zipped |', '| --- | ---: | ---: | ---: |'];
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.zip'))
    .sort()) {
    const data = fs.readFileSync(path.join(dir, file));
    const zip = await JSZip.loadAsync(data);
    const bundle = Object.keys(zip.files).find((f) => /^src\/handlers\/[^/]+\.js$/.test(f));
    if (!bundle) continue;
    const code = await zip.file(bundle).async('nodebuffer');
    const alone = await new JSZip().file(bundle, code).generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    rows.push(
      `| \`${file.replace(/\.zip$/, '')}\` | ${size(data.length)} | ${kb(code.length)} | ${kb(alone.length)} |`,
    );
  }
  console.log(rows.join('\n'));
}

if (!process.argv[2]) {
  console.error('usage: node deploy/bundleSizes.js <the --package folder of sls package>');
  process.exit(2);
}
main(process.argv[2]).catch((err) => {
  console.error(err);
  process.exit(1);
});
