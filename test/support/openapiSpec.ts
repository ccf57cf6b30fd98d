import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import yaml from 'js-yaml';
import type { APIGatewayProxyResult } from 'aws-lambda';

type Doc = Record<string, any>;

export const SPEC_PATH = path.join(__dirname, '../../docs/openapi.yaml');
export const spec = yaml.load(readFileSync(SPEC_PATH, 'utf8')) as Doc;

const SCHEMAS_ID = 'openapi-components';
/** The spec's `#/components/schemas/X` refs, pointed at the one schema document that holds them all. */
const rewriteRefs = <T>(schema: T): T =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${SCHEMAS_ID}#/$defs/`));

/**
 * OpenAPI 3.1 schemas are JSON Schema 2020-12: Ajv's 2020 draft, with formats (uuid, uri, date-time), strict
 * otherwise, knowing the few OpenAPI-only keywords (`discriminator`, `example`) as annotations.
 */
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
ajv.addVocabulary(['discriminator', 'example']);
ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(spec.components.schemas) });

const deref = (obj: Doc): Doc => {
  if (!obj?.$ref) return obj;
  const pointer = String(obj.$ref).replace(/^#\//, '').split('/');
  return deref(pointer.reduce((node: Doc, part) => node[part.replaceAll('~1', '/').replaceAll('~0', '~')], spec));
};

const validators = new Map<string, ValidateFunction>();
function validatorFor(schema: Doc): ValidateFunction {
  const key = JSON.stringify(schema);
  if (!validators.has(key)) validators.set(key, ajv.compile(rewriteRefs(schema)));
  return validators.get(key)!;
}

/** Every operation of the spec: `POST /enrichment`, … with its documented statuses. */
export function operations(): Array<{ method: string; path: string; statuses: string[]; op: Doc }> {
  const out = [];
  for (const [p, item] of Object.entries<Doc>(spec.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']) {
      if (item[method])
        out.push({
          method: method.toUpperCase(),
          path: p,
          statuses: Object.keys(item[method].responses),
          op: item[method],
        });
    }
  }
  return out;
}

/** The documented response of an operation for a status, resolved. */
export function documentedResponse(method: string, p: string, status: number | string): Doc | undefined {
  const op = spec.paths[p]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${p} is not in docs/openapi.yaml`);
  const response = op.responses[String(status)];
  return response && deref(response);
}

/** The schema errors of a request body against an operation's documented request schema (`[]`: valid). */
export function requestBodyErrors(method: string, p: string, value: unknown): string[] {
  const media = spec.paths[p]?.[method.toLowerCase()]?.requestBody?.content?.['application/json'];
  if (!media) return [`${method} ${p} takes no JSON body`];
  const validate = validatorFor(media.schema);
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message}`);
}

/** The schema errors of a value against a component schema (`[]`: valid). */
export function schemaErrors(component: string, value: unknown): string[] {
  const validate = validatorFor({ $ref: `#/components/schemas/${component}` });
  return validate(value)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message} ${JSON.stringify(e.params)}`);
}

/**
 * Why an HTTP answer does not match the spec for this operation ([] when it does): the status must be one the
 * operation documents; a documented JSON body must be JSON (content-type too) and valid against its schema; a
 * response documented without a body must have none; every required documented header must be there, and
 * every documented header that is there must be valid against its schema.
 */
export function mismatches(
  method: string,
  p: string,
  res: Pick<APIGatewayProxyResult, 'statusCode' | 'headers' | 'body'>,
): string[] {
  const response = documentedResponse(method, p, res.statusCode);
  if (!response) return [`${method} ${p}: status ${res.statusCode} is not documented`];
  const problems: string[] = [];
  const headers = Object.fromEntries(Object.entries(res.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  for (const [name, header] of Object.entries<Doc>(response.headers ?? {})) {
    const value = headers[name.toLowerCase()];
    if (value === undefined) {
      if (header.required) problems.push(`header ${name} is required but missing`);
      continue;
    }
    const validate = validatorFor(header.schema);
    if (!validate(value)) problems.push(`header ${name}: ${ajv.errorsText(validate.errors)}`);
  }
  const media = response.content?.['application/json'];
  if (!media) {
    if (res.body)
      problems.push(`a ${res.statusCode} is documented without a body, got ${JSON.stringify(res.body.slice(0, 200))}`);
    return problems;
  }
  if (!/^application\/json\b/.test(headers['content-type'] ?? ''))
    problems.push(`content-type ${headers['content-type']} is not application/json`);
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return [...problems, `the body is not JSON: ${JSON.stringify(res.body.slice(0, 200))}`];
  }
  const validate = validatorFor(media.schema);
  if (!validate(body)) {
    for (const e of validate.errors ?? [])
      problems.push(`body${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  }
  return problems;
}
