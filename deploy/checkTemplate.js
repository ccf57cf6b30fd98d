/**
 * Checks a packaged CloudFormation template (.serverless/cloudformation-template-update-stack.json) against
 * the AWS resource specification that the AWS CDK builds from (@aws-cdk/aws-service-spec): every resource type
 * exists, every property (nested ones included) is one CloudFormation knows, and every required one is there.
 * `sls package` resolves the framework's variables but not CloudFormation's own intrinsics: a value that is an
 * intrinsic (Ref, Fn::*) is not looked into.
 *
 * Usage: node deploy/checkTemplate.js [template.json]   (exit 1 and one line per problem when it finds any)
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');

const RESOURCE_KEYS = new Set([
  'Type',
  'Properties',
  'DependsOn',
  'DeletionPolicy',
  'UpdateReplacePolicy',
  'Condition',
  'Metadata',
  'UpdatePolicy',
  'CreationPolicy',
]);

let spec;
function database() {
  if (!spec) spec = require('@aws-cdk/aws-service-spec').loadAwsServiceSpecSync();
  return spec;
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isIntrinsic = (v) =>
  isPlainObject(v) && Object.keys(v).length === 1 && /^(Ref|Fn::|Condition$)/.test(Object.keys(v)[0]);

/** Problems with `value` against a property type of the spec, at `where`. */
function checkValue(db, type, value, where, problems) {
  if (value === undefined || value === null || isIntrinsic(value)) return;
  switch (type.type) {
    case 'ref': {
      if (!isPlainObject(value)) return;
      const def = db.get('typeDefinition', type.reference.$ref);
      checkProperties(db, def.properties, value, where, problems);
      return;
    }
    case 'tag':
      if (isPlainObject(value))
        checkProperties(
          db,
          { Key: { type: { type: 'string' }, required: true }, Value: { type: { type: 'string' }, required: true } },
          value,
          where,
          problems,
        );
      return;
    case 'array':
      if (Array.isArray(value))
        for (const [i, item] of value.entries()) checkValue(db, type.element, item, `${where}[${i}]`, problems);
      return;
    case 'map':
      if (isPlainObject(value))
        for (const [k, v] of Object.entries(value)) checkValue(db, type.element, v, `${where}.${k}`, problems);
      return;
    case 'union': {
      // Fine when it fits one of the alternatives (a json or string alternative takes anything).
      const tries = type.types.map((t) => {
        const found = [];
        checkValue(db, t, value, where, found);
        return found;
      });
      if (!tries.some((found) => found.length === 0)) problems.push(...tries[0]);
      return;
    }
    default:
      return; // scalars and json: their values are CloudFormation's to judge.
  }
}

function checkProperties(db, known, props, where, problems) {
  for (const name of Object.keys(props)) {
    if (!known[name]) problems.push(`${where}: unknown property ${name}`);
    else checkValue(db, known[name].type, props[name], `${where}.${name}`, problems);
  }
  for (const [name, prop] of Object.entries(known)) {
    if (prop.required && props[name] === undefined) problems.push(`${where}: required property ${name} is missing`);
  }
}

/** Every problem of the template, one line each ([] when there is none). */
function checkTemplate(template) {
  const db = database();
  const problems = [];
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    for (const key of Object.keys(resource))
      if (!RESOURCE_KEYS.has(key)) problems.push(`${id}: unknown resource attribute ${key}`);
    // Custom resources take any properties.
    if (/^Custom::/.test(resource.Type) || resource.Type === 'AWS::CloudFormation::CustomResource') continue;
    const found = db.lookup('resource', 'cloudFormationType', 'equals', resource.Type);
    if (found.length === 0) {
      problems.push(`${id}: unknown resource type ${resource.Type}`);
      continue;
    }
    checkProperties(db, found[0].properties, resource.Properties ?? {}, `${id} (${resource.Type})`, problems);
  }
  return problems;
}

module.exports = { checkTemplate };

if (require.main === module) {
  const file = path.resolve(process.argv[2] ?? '.serverless/cloudformation-template-update-stack.json');
  const template = JSON.parse(readFileSync(file, 'utf8'));
  const problems = checkTemplate(template);
  const count = Object.keys(template.Resources ?? {}).length;
  if (problems.length) {
    console.error(`Template check: ${problems.length} problem(s) in ${file}:`);
    for (const p of problems) console.error(`  ${p}`);
    process.exit(1);
  }
  console.log(
    `Template check: ${count} resources, every type and property known to CloudFormation, required ones present (${path.relative(process.cwd(), file)}).`,
  );
}
