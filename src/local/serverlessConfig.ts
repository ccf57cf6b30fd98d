import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import yaml from 'js-yaml';

/**
 * serverless.yml (and the parts it includes, serverless/*.yml) read the way CloudFormation and the framework see it,
 * for the offline stack.
 *
 * Why not the framework's own resolution (`sls print --format json`, which works with no AWS account and no network):
 * it takes 1.6 to 2 s a call (this reader: about 45 ms), and the reader is used synchronously for any stage, CLI
 * params and environment a test asks for, in every test service (test/support/service.ts), whose tests also edit the
 * document before provisioning. test/deploy/offlineConfig.test.ts checks this reader against `sls print` instead:
 * the same functions, resources and environment, for the local stage and a deployed one.
 */

const TAGS: Array<[string, 'scalar' | 'sequence' | 'mapping', (data: unknown) => unknown]> = [];
for (const kind of ['scalar', 'sequence', 'mapping'] as const) {
  TAGS.push(['Ref', kind, (d) => ({ Ref: d })]);
  TAGS.push(['GetAtt', kind, (d) => ({ 'Fn::GetAtt': typeof d === 'string' ? d.split('.') : d })]);
  for (const fn of [
    'Sub',
    'Join',
    'Select',
    'Split',
    'If',
    'Equals',
    'Not',
    'And',
    'Or',
    'FindInMap',
    'ImportValue',
    'Base64',
    'GetAZs',
    'Cidr',
  ]) {
    TAGS.push([fn, kind, (d) => ({ [`Fn::${fn}`]: d })]);
  }
}
const CFN_SCHEMA = yaml.DEFAULT_SCHEMA.extend(
  TAGS.map(([name, kind, construct]) => new yaml.Type(`!${name}`, { kind, construct })),
);

// biome-ignore lint/suspicious/noExplicitAny: a YAML document of any shape, walked by key
export type Doc = Record<string, any>;

export interface ResolveContext {
  stage: string;
  region: string;
  env: NodeJS.ProcessEnv;
  /** As `--param="name=value"` on the command line: wins over the stage's params. */
  params?: Record<string, string>;
}

/** The account the emulators live in (CloudFormation's pseudo parameters, offline). */
export const LOCAL_ACCOUNT_ID = '000000000000';

export class ServerlessConfig {
  readonly doc: Doc;
  /** ctx.env over the stage's `.env.<stage>` or `.env` file when `useDotenv` is on, as the framework loads them. */
  private readonly env: NodeJS.ProcessEnv;
  constructor(
    readonly ctx: ResolveContext,
    readonly file = path.resolve(__dirname, '../../serverless.yml'),
  ) {
    this.doc = this.expandIncludes(this.load(file)) as Doc;
    this.env = ctx.env;
    if (this.doc.useDotenv) {
      const dotenv = [`.env.${ctx.stage}`, '.env']
        .map((name) => path.join(path.dirname(file), name))
        .find((f) => existsSync(f));
      if (dotenv) this.env = { ...parseEnv(readFileSync(dotenv, 'utf8')), ...ctx.env };
    }
  }

  private load(file: string): unknown {
    return yaml.load(readFileSync(file, 'utf8'), { schema: CFN_SCHEMA, filename: file });
  }

  /**
   * serverless.yml with its parts in place: every value that is a whole `${file(path)}` or `${file(path):address}`
   * (nothing else in it, no variable in path or address) is replaced by that file's content, or that key of it, its
   * own includes replaced too. So `${self:...}` finds what a part defines, and what resources() and functions()
   * return is part of the document (an edit to it stays). As in the framework (its file source), the path is
   * relative to the service's directory, also inside an included file. Every other variable stays for resolve().
   */
  private expandIncludes(value: unknown, seen: string[] = []): unknown {
    if (typeof value === 'string') {
      const included = /^\$\{file\(([^)$]+)\)(?::([^}$]+))?\}$/.exec(value);
      if (!included) return value;
      const file = path.resolve(this.dir, included[1].trim());
      if (seen.includes(file)) throw new Error(`serverless.yml: ${[...seen, file].join(' includes ')}: a cycle`);
      if (!existsSync(file)) throw new Error(`serverless.yml: ${value}: no file ${file}`);
      const address = included[2]?.trim();
      const content = this.load(file) as Doc;
      const part = address ? this.lookup(address, content) : content;
      if (part === undefined) throw new Error(`serverless.yml: ${value} has no value`);
      return this.expandIncludes(part, [...seen, file]);
    }
    if (Array.isArray(value)) return value.map((v) => this.expandIncludes(v, seen));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.expandIncludes(v, seen)]));
    }
    return value;
  }

  /** The service's directory: where serverless.yml is, and what a `${file(...)}` path is relative to. */
  private get dir(): string {
    return path.dirname(this.file);
  }

  private lookup(dotted: string, root: Doc): unknown {
    return dotted.split('.').reduce<unknown>((node, key) => (node as Doc | undefined)?.[key], root);
  }

  private param(name: string): unknown {
    const params = this.doc.params ?? {};
    return this.ctx.params?.[name] ?? params[this.ctx.stage]?.[name] ?? params.default?.[name];
  }

  /** One `${source:address, fallback}` reference. */
  private variable(expr: string): unknown {
    const [ref, ...rest] = expr.split(',');
    const literal = rest.length ? rest.join(',').trim() : undefined;
    // `null` unsets (a function or resources item that resolves to null does not exist), as in the framework.
    const fallback = literal === 'null' ? null : literal?.replace(/^['"]|['"]$/g, '');
    const [source, address] = [ref.slice(0, ref.indexOf(':')).trim(), ref.slice(ref.indexOf(':') + 1).trim()];
    let value: unknown;
    switch (source) {
      case 'self':
        value = this.lookup(address, this.doc);
        break;
      case 'sls':
        value = address === 'stage' ? this.ctx.stage : undefined;
        break;
      case 'opt':
        value = address === 'stage' ? this.ctx.stage : address === 'region' ? this.ctx.region : undefined;
        break;
      case 'aws':
        value = address === 'region' ? this.ctx.region : address === 'accountId' ? LOCAL_ACCOUNT_ID : undefined;
        break;
      case 'param':
        value = this.param(address);
        break;
      case 'env':
        value = this.env[address] || undefined;
        break;
      default:
        throw new Error(
          `serverless.yml: variable source "${source}" is not supported by the offline stack (in \${${expr}})`,
        );
    }
    if (value === undefined) value = fallback;
    if (value === undefined) throw new Error(`serverless.yml: \${${expr}} has no value for stage ${this.ctx.stage}`);
    return this.resolve(value);
  }

  /** The framework's `${strToBool(value)}`: "true" or "1", "false" or "0" (a --param is always a string). */
  private strToBool(value: string): boolean {
    const text = value.trim().toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw new Error(`serverless.yml: \${strToBool(${value})}: expected true, false, 1 or 0`);
  }

  /** `!Sub` of pseudo parameters only (e.g. an account-scoped name) becomes its string; other intrinsics stay. */
  private pseudoSub(template: string): string | undefined {
    const pseudo: Record<string, string> = {
      'AWS::AccountId': LOCAL_ACCOUNT_ID,
      'AWS::Region': this.ctx.region,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': `${this.service}-${this.ctx.stage}`,
    };
    let complete = true;
    const text = template.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
      if (name in pseudo) return pseudo[name];
      complete = false;
      return whole;
    });
    return complete ? text : undefined;
  }

  /**
   * Resolves framework variables in a value, leaving CloudFormation intrinsics as they are, except a
   * `!Sub` that only uses pseudo parameters (${AWS::AccountId} is the offline stack's fake account).
   */

  /**
   * `${file(./path.yml):address}` met while resolving (expandIncludes has already replaced every include it could):
   * a YAML file, path relative to the service's directory, or one key of it.
   */
  private include(file: string, address: string | undefined): unknown {
    const doc = this.load(path.resolve(this.dir, file.trim())) as Doc;
    const value = address ? this.lookup(address.trim(), doc) : doc;
    if (value === undefined) throw new Error(`serverless.yml: \${file(${file}):${address}} has no value`);
    return this.resolve(value);
  }

  resolve(value: unknown): unknown {
    if (typeof value === 'string') {
      const included = /^\$\{file\(([^)]+)\)(?::([^}]+))?\}$/.exec(value);
      if (included) return this.include(included[1], included[2]);
      // The innermost reference first, so nested defaults work; `${strToBool(...)}` once its argument is resolved.
      const inner = /\$\{([a-z]+:[^${}]*)\}|\$\{strToBool\(([^()${}]*)\)\}/;
      let text = value;
      for (let m = inner.exec(text); m; m = inner.exec(text)) {
        const resolved = m[1] === undefined ? this.strToBool(m[2]) : this.variable(m[1]);
        if (m[0] === text) return resolved;
        text = text.replace(m[0], String(resolved));
      }
      return text;
    }
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value && typeof value === 'object') {
      const resolved = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(v)]));
      const sub = resolved['Fn::Sub'];
      if (Object.keys(resolved).length === 1 && typeof sub === 'string') return this.pseudoSub(sub) ?? resolved;
      return resolved;
    }
    return value;
  }

  get service(): string {
    return this.doc.service;
  }

  /** resources.Resources; `resources` may be a list whose items (variables resolving to null drop out) merge, as in the framework. */
  resources(): Record<string, { Type: string; Properties: Doc }> {
    const raw = this.doc.resources;
    const items: unknown[] = Array.isArray(raw) ? raw : [raw];
    const out: Record<string, { Type: string; Properties: Doc }> = {};
    for (const item of items) {
      const part = (typeof item === 'string' ? this.resolve(item) : item) as Doc | null | undefined;
      Object.assign(out, part?.Resources ?? {});
    }
    return out;
  }

  /** The functions that exist on this stage: an entry that resolves to null (e.g. the mock where mockApi is false) does not. */
  functions(): Record<string, Doc> {
    const out: Record<string, Doc> = {};
    for (const [key, raw] of Object.entries<unknown>(this.doc.functions ?? {})) {
      const fn = (typeof raw === 'string' ? this.resolve(raw) : raw) as Doc | null;
      if (fn) out[key] = fn;
    }
    return out;
  }

  /** provider.environment with every value resolved to a string, as Lambda would see it. */
  environment(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, raw] of Object.entries(this.doc.provider?.environment ?? {})) {
      const value = this.resolve(raw);
      if (typeof value !== 'object') out[key] = String(value);
    }
    return out;
  }

  functionName(key: string): string {
    return `${this.service}-${this.ctx.stage}-${key}`;
  }

  /** A function's timeout in seconds (its own, else the provider's, else the framework's 6). */
  functionTimeoutSeconds(key: string): number {
    const fn = this.doc.functions?.[key];
    if (!fn) throw new Error(`serverless.yml has no function ${key}`);
    return Number(this.resolve(fn.timeout ?? this.doc.provider?.timeout ?? 6));
  }

  /** The SQS event sources of the functions: which function each queue (a resource) triggers. */
  sqsEventSources(): Array<{
    functionKey: string;
    queueLogicalId: string;
    batchSize: number;
    reportBatchItemFailures: boolean;
  }> {
    const out = [];
    for (const [functionKey, fn] of Object.entries(this.functions())) {
      for (const event of fn.events ?? []) {
        if (!event.sqs) continue;
        const arn = event.sqs.arn ?? event.sqs;
        const getAtt = arn?.['Fn::GetAtt'];
        if (!getAtt) throw new Error(`function ${functionKey}: the offline stack needs sqs.arn as !GetAtt <Queue>.Arn`);
        out.push({
          functionKey,
          queueLogicalId: getAtt[0],
          batchSize: Number(this.resolve(event.sqs.batchSize ?? 10)),
          reportBatchItemFailures: event.sqs.functionResponseType === 'ReportBatchItemFailures',
        });
      }
    }
    return out;
  }

  /** A gateway response (REQUEST_TOO_LARGE, INVALID_API_KEY, ...) as serverless.yml configures it, else API Gateway's default. */
  gatewayResponse(
    type: string,
    fallback: { statusCode: number; message: string },
  ): { statusCode: number; body: string } {
    const found = Object.values(this.resources()).find(
      (r) => r.Type === 'AWS::ApiGateway::GatewayResponse' && r.Properties?.ResponseType === type,
    );
    const body = JSON.stringify({ message: fallback.message });
    if (!found) return { statusCode: fallback.statusCode, body };
    return {
      statusCode: Number(found.Properties.StatusCode ?? fallback.statusCode),
      body: String(found.Properties.ResponseTemplates?.['application/json'] ?? body),
    };
  }

  /** The HTTP events of the functions: which function answers which method and path. */
  httpRoutes(): Array<{ functionKey: string; method: string; path: string }> {
    const out = [];
    for (const [functionKey, fn] of Object.entries(this.functions())) {
      for (const event of fn.events ?? []) {
        if (!event.http) continue;
        const http =
          typeof event.http === 'string'
            ? { method: event.http.split(' ')[0], path: event.http.split(' ')[1] }
            : event.http;
        out.push({ functionKey, method: String(this.resolve(http.method)), path: String(this.resolve(http.path)) });
      }
    }
    return out;
  }

  /** The API Gateway response for bodies over its limit, as serverless.yml configures it. */
  tooLargeResponse(): { statusCode: number; body: string } {
    return this.gatewayResponse('REQUEST_TOO_LARGE', { statusCode: 413, message: 'Request Too Long' });
  }

  /** The API Gateway response for a missing or unknown API key. */
  invalidApiKeyResponse(): { statusCode: number; body: string } {
    return this.gatewayResponse('INVALID_API_KEY', { statusCode: 403, message: 'Forbidden' });
  }

  scheduledFunctions(): string[] {
    return Object.entries(this.functions())
      .filter(([, fn]) => (fn.events ?? []).some((e: Doc) => e.schedule))
      .map(([key]) => key);
  }
}
