import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';

/** serverless.yml read the way CloudFormation and the framework see it, for the offline stack. */

const TAGS: Array<[string, 'scalar' | 'sequence' | 'mapping', (data: unknown) => unknown]> = [];
for (const kind of ['scalar', 'sequence', 'mapping'] as const) {
  TAGS.push(['Ref', kind, (d) => ({ Ref: d })]);
  TAGS.push(['GetAtt', kind, (d) => ({ 'Fn::GetAtt': typeof d === 'string' ? d.split('.') : d })]);
  for (const fn of ['Sub', 'Join', 'Select', 'Split', 'If', 'Equals', 'Not', 'And', 'Or', 'FindInMap', 'ImportValue', 'Base64', 'GetAZs', 'Cidr']) {
    TAGS.push([fn, kind, (d) => ({ [`Fn::${fn}`]: d })]);
  }
}
const CFN_SCHEMA = yaml.DEFAULT_SCHEMA.extend(
  TAGS.map(([name, kind, construct]) => new yaml.Type(`!${name}`, { kind, construct })),
);

export type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ResolveContext {
  stage: string;
  region: string;
  env: NodeJS.ProcessEnv;
}

export class ServerlessConfig {
  readonly doc: Doc;
  constructor(
    readonly ctx: ResolveContext,
    file = path.resolve(__dirname, '../../serverless.yml'),
  ) {
    this.doc = yaml.load(readFileSync(file, 'utf8'), { schema: CFN_SCHEMA }) as Doc;
  }

  private lookup(dotted: string, root: Doc): unknown {
    return dotted.split('.').reduce<unknown>((node, key) => (node as Doc | undefined)?.[key], root);
  }

  private param(name: string): unknown {
    const params = this.doc.params ?? {};
    return params[this.ctx.stage]?.[name] ?? params.default?.[name];
  }

  /** One `${source:address, fallback}` reference. */
  private variable(expr: string): unknown {
    const [ref, ...rest] = expr.split(',');
    const fallback = rest.length ? rest.join(',').trim().replace(/^['"]|['"]$/g, '') : undefined;
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
        value = address === 'region' ? this.ctx.region : address === 'accountId' ? '000000000000' : undefined;
        break;
      case 'param':
        value = this.param(address);
        break;
      case 'env':
        value = this.ctx.env[address] || undefined;
        break;
      default:
        throw new Error(`serverless.yml: variable source "${source}" is not supported by the offline stack (in \${${expr}})`);
    }
    if (value === undefined) value = fallback;
    if (value === undefined) throw new Error(`serverless.yml: \${${expr}} has no value for stage ${this.ctx.stage}`);
    return this.resolve(value);
  }

  /** Resolves framework variables in a value, leaving CloudFormation intrinsics as they are. */
  resolve(value: unknown): unknown {
    if (typeof value === 'string') {
      // The innermost reference first, so nested defaults work.
      const inner = /\$\{([a-z]+:[^${}]*)\}/;
      let text = value;
      for (let m = inner.exec(text); m; m = inner.exec(text)) {
        const resolved = this.variable(m[1]);
        if (m[0] === text) return resolved;
        text = text.replace(m[0], String(resolved));
      }
      return text;
    }
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(v)]));
    }
    return value;
  }

  get service(): string {
    return this.doc.service;
  }

  resources(): Record<string, { Type: string; Properties: Doc }> {
    return this.doc.resources?.Resources ?? {};
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
  sqsEventSources(): Array<{ functionKey: string; queueLogicalId: string; batchSize: number; reportBatchItemFailures: boolean }> {
    const out = [];
    for (const [functionKey, fn] of Object.entries<Doc>(this.doc.functions ?? {})) {
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

  /** The API Gateway response for bodies over its limit, as serverless.yml configures it. */
  tooLargeResponse(): { statusCode: number; body: string } {
    const found = Object.values(this.resources()).find(
      (r) => r.Type === 'AWS::ApiGateway::GatewayResponse' && r.Properties?.ResponseType === 'REQUEST_TOO_LARGE',
    );
    if (!found) return { statusCode: 413, body: JSON.stringify({ message: 'Request Too Long' }) };
    return {
      statusCode: Number(found.Properties.StatusCode ?? 413),
      body: String(found.Properties.ResponseTemplates?.['application/json'] ?? '{"message":"Request Too Long"}'),
    };
  }

  scheduledFunctions(): string[] {
    return Object.entries<Doc>(this.doc.functions ?? {})
      .filter(([, fn]) => (fn.events ?? []).some((e: Doc) => e.schedule))
      .map(([key]) => key);
  }
}
