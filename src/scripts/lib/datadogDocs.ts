import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnparsedObject } from '@datadog/datadog-api-client/dist/packages/datadog-api-client-common/util';
import { v1 } from '@datadog/datadog-api-client';
import { METRICS, type MetricSpec } from '../../core/metricNames';

/** The dashboard and monitors as code (docs/), read and checked by pushDatadog.ts and test/unit/datadogDocs.test.ts. */
const DOCS_DIR = join(__dirname, '..', '..', '..', 'docs');

export interface DatadogDocs {
  dashboard: Record<string, unknown>;
  monitors: Record<string, unknown>[];
}

export function loadDocs(dir = DOCS_DIR): DatadogDocs {
  return {
    dashboard: JSON.parse(readFileSync(join(dir, 'datadog-dashboard.json'), 'utf8')),
    monitors: JSON.parse(readFileSync(join(dir, 'datadog-monitors.json'), 'utf8')),
  };
}

/**
 * Where the API client's models could not take a document as it is, as paths. The client does not throw on
 * what it does not know: an unknown field lands in the model's `additionalProperties`, a value outside an enum
 * or a oneOf that matches no variant (or several) becomes an `UnparsedObject` and marks its parents
 * `_unparsed: true`; a model without `additionalProperties` throws on an unknown field. So the whole parsed tree is walked.
 */
export function unparsed(doc: unknown, type: 'Dashboard' | 'Monitor'): string[] {
  let model: unknown;
  try {
    model = v1.ObjectSerializer.deserialize(doc, type, '');
  } catch (err) {
    return [`(root): ${(err as Error).message}`];
  }
  const problems: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object' || node instanceof Date) return;
    if (node instanceof UnparsedObject) {
      problems.push(`${path}: not parsed: ${JSON.stringify(node._data).slice(0, 200)}`);
      return;
    }
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) walk(item, `${path}[${i}]`);
      return;
    }
    const record = node as Record<string, unknown>;
    const extra = record.additionalProperties as Record<string, unknown> | undefined;
    if (extra && Object.keys(extra).length) problems.push(`${path}: unknown field(s) ${Object.keys(extra).join(', ')}`);
    for (const [key, value] of Object.entries(record)) {
      if (key === 'additionalProperties') continue;
      walk(value, `${path}.${key}`);
    }
    // Only where no child explains it (an UnparsedObject child is reported above).
    if (record._unparsed === true && !problems.some((p) => p.startsWith(path)))
      problems.push(`${path}: marked _unparsed`);
  };
  walk(model, '');
  return problems;
}

/** Every metric query string of the dashboard (`q`, `query`) and of the monitors (`query`). */
export function queriesOf(docs: DatadogDocs): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'q' || key === 'query') && typeof value === 'string') found.push(value);
      else walk(value);
    }
  };
  walk(docs.dashboard);
  for (const monitor of docs.monitors) found.push(String(monitor.query));
  return found;
}

export interface MetricRef {
  aggregator: string;
  metric: string;
  /** Tag keys filtered on (`{key:value,…}`) and grouped by (`by {key,…}`); template variables ($env) read as their tag. */
  tagKeys: string[];
  query: string;
}

const METRIC_QUERY =
  /\b(avg|sum|min|max|count|p50|p75|p90|p95|p99):([a-z][a-z0-9_.]*)\{([^}]*)\}(?:\s*by\s*\{([^}]*)\})?/g;

export function metricRefs(query: string): MetricRef[] {
  const refs: MetricRef[] = [];
  for (const m of query.matchAll(METRIC_QUERY)) {
    const keys = new Set<string>();
    for (const part of m[3].split(',').map((s) => s.trim())) {
      if (!part || part === '*') continue;
      keys.add(part.startsWith('$') ? part.slice(1) : part.split(':')[0].replace(/^!/, ''));
    }
    for (const part of (m[4] ?? '').split(',').map((s) => s.trim())) if (part) keys.add(part);
    refs.push({ aggregator: m[1], metric: m[2], tagKeys: [...keys], query });
  }
  return refs;
}

/** Tags the metrics adapter puts on every point of a custom metric. */
const COMMON_TAGS = ['env', 'service', 'version', 'stage'] as const;

/**
 * The AWS integration metrics the documents may use, by namespace, with the tag keys Datadog gives them (the
 * resource's own AWS tags, env/service/version included, come with them too).
 */
const AWS_METRICS: Record<string, { metrics: string[]; tags: string[] }> = {
  'aws.lambda.': {
    metrics: ['duration', 'duration.maximum', 'errors', 'throttles', 'invocations'],
    tags: ['functionname', 'resource', 'region', ...COMMON_TAGS],
  },
  'aws.sqs.': {
    metrics: [
      'approximate_number_of_messages_visible',
      'approximate_number_of_messages_delayed',
      'approximate_age_of_oldest_message',
    ],
    tags: ['queuename', 'region', ...COMMON_TAGS],
  },
  'aws.apigateway.': {
    metrics: ['4xxerror', '5xxerror', 'count', 'latency', 'integration_latency'],
    tags: ['apiname', 'stage', 'region', ...COMMON_TAGS],
  },
};

export const catalogueByName = (): Map<string, MetricSpec> =>
  new Map(Object.values(METRICS).map((m) => [m.name, m as MetricSpec]));

/** What is wrong with one metric reference: an unknown metric, a tag it does not carry, a percentile not enabled. */
export function checkRef(ref: MetricRef): string[] {
  const problems: string[] = [];
  const spec = catalogueByName().get(ref.metric);
  if (spec) {
    const allowed = new Set<string>([...COMMON_TAGS, ...Object.keys(spec.tags)]);
    for (const key of ref.tagKeys)
      if (!allowed.has(key)) problems.push(`${ref.metric} has no tag ${key} (in ${ref.query})`);
    if (/^p\d+$/.test(ref.aggregator) && !spec.percentiles)
      problems.push(`${ref.aggregator}: on ${ref.metric}, whose percentiles are not enabled (in ${ref.query})`);
    return problems;
  }
  const ns = Object.keys(AWS_METRICS).find((prefix) => ref.metric.startsWith(prefix));
  if (!ns)
    return [
      `${ref.metric} is neither in the catalogue (src/core/metricNames.ts) nor a known AWS integration metric (in ${ref.query})`,
    ];
  const { metrics, tags } = AWS_METRICS[ns];
  if (!metrics.includes(ref.metric.slice(ns.length)))
    problems.push(`${ref.metric} is not one of the AWS metrics the documents may use (in ${ref.query})`);
  for (const key of ref.tagKeys)
    if (!tags.includes(key)) problems.push(`${ref.metric} has no tag ${key} (in ${ref.query})`);
  if (/^p\d+$/.test(ref.aggregator))
    problems.push(`${ref.aggregator}: a percentile on the CloudWatch gauge ${ref.metric} (in ${ref.query})`);
  return problems;
}

/** The tag configuration that enables percentiles on a distribution: every tag it carries stays queryable. */
export function percentileTagConfig(spec: MetricSpec): { tags: string[]; includePercentiles: true } {
  return { tags: [...COMMON_TAGS, ...Object.keys(spec.tags)], includePercentiles: true };
}
