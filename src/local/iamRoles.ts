import type { LocalResources } from './provision';
import { LOCAL_ACCOUNT_ID, type Doc, type ServerlessConfig } from './serverlessConfig';

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Doc;
}

export interface RolePolicy {
  name: string;
  policy: { Version: string; Statement: PolicyStatement[] };
}

/** One function as IAM sees it: the role it runs with and that role's inline policies. */
export interface FunctionRole {
  functionKey: string;
  functionName: string;
  roleName: string;
  policies: RolePolicy[];
}

/** CloudFormation's view of the stack's resources: names and ARNs of what provisioning created. */
function resourceRefs(resources: LocalResources, region: string) {
  const arns: Record<string, string> = {};
  const refs: Record<string, string> = {};
  for (const [id, name] of Object.entries(resources.buckets)) {
    arns[id] = `arn:aws:s3:::${name}`;
    refs[id] = name;
  }
  for (const [id, queue] of Object.entries(resources.queues)) {
    arns[id] = queue.arn;
    refs[id] = queue.url;
  }
  for (const [id, name] of Object.entries(resources.tables)) {
    arns[id] = `arn:aws:dynamodb:${region}:${LOCAL_ACCOUNT_ID}:table/${name}`;
    refs[id] = name;
  }
  const pseudo: Record<string, string> = {
    'AWS::Region': region,
    'AWS::AccountId': LOCAL_ACCOUNT_ID,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const known = (table: Record<string, string>, id: string, what: string) => {
    const value = pseudo[id] ?? table[id];
    if (value === undefined)
      throw new Error(`serverless.yml: ${what} ${id} is not a resource the offline stack creates`);
    return value;
  };
  return {
    ref: (id: string) => known(refs, id, 'Ref'),
    attr: (id: string, attribute: string) => {
      if (attribute !== 'Arn')
        throw new Error(`serverless.yml: Fn::GetAtt ${id}.${attribute} is not supported offline (only .Arn)`);
      return known(arns, id, 'Fn::GetAtt');
    },
  };
}

/** Resolves the intrinsic functions IAM policies use (Ref, Fn::GetAtt, Fn::Sub, Fn::Join) against the local resources. */
function resolveIntrinsics(value: unknown, resources: LocalResources, region: string): unknown {
  const refs = resourceRefs(resources, region);
  const sub = (template: string, vars: Doc = {}) =>
    template.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (name in vars) return String(walk(vars[name]));
      const [id, attribute] = name.split('.');
      return attribute ? refs.attr(id, attribute) : refs.ref(id);
    });
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    const o = v as Doc;
    if ('Ref' in o) return refs.ref(o.Ref);
    if ('Fn::GetAtt' in o) return refs.attr(o['Fn::GetAtt'][0], o['Fn::GetAtt'][1]);
    if ('Fn::Sub' in o) return Array.isArray(o['Fn::Sub']) ? sub(o['Fn::Sub'][0], o['Fn::Sub'][1]) : sub(o['Fn::Sub']);
    if ('Fn::Join' in o) return (walk(o['Fn::Join'][1]) as unknown[]).join(o['Fn::Join'][0]);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value);
}

/**
 * Every function of serverless.yml with its role's policies (inline, and managed ones the template
 * defines), resolved the way the deployed template is: framework variables, then intrinsics against
 * the resources the offline stack created.
 */
export function functionRoles(sls: ServerlessConfig, resources: LocalResources): FunctionRole[] {
  const all = sls.resources();
  const region = sls.ctx.region;
  const managed = (arn: unknown, roleName: string): RolePolicy => {
    const id = (arn as Doc)?.Ref;
    const policy = id ? all[id] : undefined;
    if (policy?.Type !== 'AWS::IAM::ManagedPolicy') {
      throw new Error(
        `serverless.yml: ${roleName} attaches ${JSON.stringify(arn)}; offline only !Ref to an AWS::IAM::ManagedPolicy of the template can be enforced`,
      );
    }
    return {
      name: id,
      policy: resolveIntrinsics(
        sls.resolve(policy.Properties.PolicyDocument),
        resources,
        region,
      ) as RolePolicy['policy'],
    };
  };
  return Object.entries(sls.functions()).map(([functionKey, fn]) => {
    const roleName = sls.resolve(fn.role) as string | undefined;
    const role = roleName ? all[roleName] : undefined;
    if (!roleName || role?.Type !== 'AWS::IAM::Role') {
      throw new Error(
        `serverless.yml: function ${functionKey} needs \`role:\` naming an AWS::IAM::Role in resources (the offline stack enforces each function's role)`,
      );
    }
    const props = sls.resolve(role.Properties) as Doc;
    const policies: RolePolicy[] = [
      ...((props.Policies ?? []) as Doc[]).map((p) => ({
        name: p.PolicyName as string,
        policy: resolveIntrinsics(p.PolicyDocument, resources, region) as RolePolicy['policy'],
      })),
      ...((props.ManagedPolicyArns ?? []) as unknown[]).map((arn) => managed(arn, roleName)),
    ];
    return { functionKey, functionName: sls.functionName(functionKey), roleName, policies };
  });
}
