#!/usr/bin/env node
// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS file (package.json has no "type": "module"), where it is not redundant
'use strict';

/**
 * Compares two CloudFormation templates of `sls package` (cloudformation-template-update-stack.json) resource by
 * resource: the logical ids only one has, then each property that differs, by its path. What changes from one
 * package to the next of the same code is normalized first: the deployment's timestamp in ApiGatewayDeployment<ms>,
 * the code hash in <Function>LambdaVersion<hash>, CodeSha256, and the artifacts' S3 keys (timestamped folders).
 * Key order is not compared (CloudFormation does not read it). Exit code 0 when the two are the same, 1 when not.
 *
 *   node deploy/compareTemplates.js before/cloudformation-template-update-stack.json after/cloudformation-template-update-stack.json
 *
 * E.g. to check a change of serverless.yml (or its parts, serverless/*.yml) leaves the template as it was: package the
 * stage before and after the change, each with
 *   env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=ci AWS_SECRET_ACCESS_KEY=ci AWS_ENDPOINT_URL=http://127.0.0.1:9 \
 *     AWS_EC2_METADATA_DISABLED=true npx sls package --stage dev --param=... --package <dir>
 * (as .ci/run does), and compare the two.
 */
const { readFileSync } = require('node:fs');

/** The template as text with the per-package parts replaced, so equal configurations give equal text. */
function normalize(template) {
  let text = JSON.stringify(template);
  text = text.replace(/\bApiGatewayDeployment\d{10,}\b/g, 'ApiGatewayDeployment<timestamp>');
  text = text.replace(/\b(\w+LambdaVersion)[A-Za-z0-9]{20,}\b/g, '$1<hash>');
  const doc = JSON.parse(text);
  for (const resource of Object.values(doc.Resources ?? {})) {
    const props = resource.Properties ?? {};
    if (props.CodeSha256) props.CodeSha256 = '<hash>';
    if (props.Code?.S3Key) props.Code.S3Key = String(props.Code.S3Key).replace(/\/\d{10,}-[^/]+\//, '/<timestamp>/');
    if (props.Content?.S3Key)
      props.Content.S3Key = String(props.Content.S3Key).replace(/\/\d{10,}-[^/]+\//, '/<timestamp>/');
  }
  return doc;
}

const show = (v) => (v === undefined ? '(none)' : JSON.stringify(v));

/** Each path where a and b differ, with both values. */
function differences(a, b, at, out) {
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  const objects = a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b);
  if (objects && !Array.isArray(a)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[key], b[key], `${at}.${key}`, out);
  } else if (objects && a.length === b.length) {
    a.forEach((item, i) => {
      differences(item, b[i], `${at}[${i}]`, out);
    });
  } else {
    out.push(`${at}: ${show(a)} -> ${show(b)}`);
  }
  return out;
}

/** The differences of two templates, one line each: logical ids of one only, then properties. */
function compareTemplates(before, after) {
  const a = normalize(before);
  const b = normalize(after);
  const lines = [];
  for (const section of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[section];
    const y = b[section];
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x)) {
      for (const id of Object.keys(x)) if (!(id in y)) lines.push(`${section}.${id}: only in the first`);
      for (const id of Object.keys(y)) if (!(id in x)) lines.push(`${section}.${id}: only in the second`);
      for (const id of Object.keys(x)) if (id in y) differences(x[id], y[id], `${section}.${id}`, lines);
    } else {
      differences(x, y, section, lines);
    }
  }
  return lines;
}

module.exports = { compareTemplates };

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length !== 2) {
    console.error('usage: node deploy/compareTemplates.js <first template.json> <second template.json>');
    process.exit(2);
  }
  const [before, after] = files.map((f) => JSON.parse(readFileSync(f, 'utf8')));
  const lines = compareTemplates(before, after);
  const count = (t) => Object.keys(t.Resources ?? {}).length;
  if (lines.length === 0) {
    console.log(`Same template: ${count(before)} resources, same logical ids and properties.`);
  } else {
    console.log(`${lines.length} difference(s) (${count(before)} resources, then ${count(after)}):`);
    for (const line of lines) console.log(`  ${line}`);
  }
  process.exit(lines.length === 0 ? 0 : 1);
}
