// Loads template.yaml and resolves the CloudFormation/SAM intrinsics that its IAM documents use,
// with fixed values for the pseudo parameters and plausible names and ARNs for the resources.
// Exports every IAM principal the stack creates (the explicit roles and the implicit role SAM
// creates for each AWS::Serverless::Function) with its identity policies and its trust policy.
//
// Anything it cannot resolve throws: a silent guess could make a policy look stricter or looser
// than the deployed one.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

// CLAWLESS_IAM_TEMPLATE runs the suite against another copy (e.g. an older revision's).
export const TEMPLATE_PATH =
  process.env.CLAWLESS_IAM_TEMPLATE ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'template.yaml')

export const PSEUDO = Object.freeze({
  'AWS::AccountId': '123456789012',
  'AWS::Region': 'us-east-1',
  'AWS::Partition': 'aws',
  'AWS::StackName': 'clawless',
  'AWS::URLSuffix': 'amazonaws.com'
})
const ACCOUNT = PSEUDO['AWS::AccountId']
const REGION = PSEUDO['AWS::Region']
const STACK = PSEUDO['AWS::StackName']
// Ids AWS generates: the user pool's and the console distribution's.
export const USER_POOL_ID = `${REGION}_AbCdEf123`
export const DISTRIBUTION_ID = 'E1A2B3C4D5E6F7'

// Values that replace parameters' defaults (and give values to parameters without one). The suite
// checks the stack as deployed with its defaults (an AgentImageUri given as a parameter widens
// AgentRole's image pulls; see template.yaml), except MemoryBackend: with "agentcore" the
// tenant-access role has its long-term memory grants, which the scenarios attack; every other
// denial must hold with them too. template.test.mjs checks the default ("s3") grants none.
export const PARAMETER_VALUES = Object.freeze({ MemoryBackend: 'agentcore' })
// The AgentCore memory id the template's LongTermMemory gets.
export const MEMORY_ID = 'clawless_agent-AbCdE12345'

// AWS managed policies that SAM attaches to the roles it creates. Only their IAM-relevant content
// is modelled (both are published by AWS with Resource "*").
export const MANAGED_POLICIES = Object.freeze({
  'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: '*'
      }
    ]
  },
  // Added by SAM for every function with an SQS event source.
  'arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole': {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents'
        ],
        Resource: '*'
      }
    ]
  }
})

const LAMBDA_TRUST = Object.freeze({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }]
})

// ------------------------------------------------------------------ YAML with CloudFormation tags

const FUNCTIONS = [
  'Base64', 'Cidr', 'FindInMap', 'GetAtt', 'GetAZs', 'If', 'ImportValue', 'Join', 'Select', 'Split',
  'Sub', 'Transform', 'And', 'Equals', 'Not', 'Or', 'ToJsonString', 'Length'
]

function cfnTags() {
  const tags = []
  const wrap = (name) => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`)
  for (const name of ['Ref', 'Condition', ...FUNCTIONS]) {
    const key = wrap(name)
    tags.push({
      tag: `!${name}`,
      resolve: (str) => {
        // !GetAtt Resource.Attribute (the short form) is the list form [Resource, Attribute].
        if (name === 'GetAtt') {
          const dot = str.indexOf('.')
          if (dot < 0) throw new Error(`!GetAtt ${str}: expected Resource.Attribute`)
          return { [key]: [str.slice(0, dot), str.slice(dot + 1)] }
        }
        return { [key]: str }
      }
    })
    tags.push({ tag: `!${name}`, collection: 'seq', resolve: (seq) => ({ [key]: seq.toJSON() }) })
    tags.push({ tag: `!${name}`, collection: 'map', resolve: (map) => ({ [key]: map.toJSON() }) })
  }
  return tags
}

export function parseTemplate(text) {
  return parse(text, { customTags: cfnTags(), maxAliasCount: -1 })
}

// ------------------------------------------------------------------ intrinsic resolution

class Resolver {
  constructor(template, parameterValues = PARAMETER_VALUES) {
    this.parameterValues = parameterValues
    this.template = template
    this.resources = template.Resources ?? {}
    this.parameters = template.Parameters ?? {}
    this.conditions = template.Conditions ?? {}
    this.conditionCache = new Map()
  }

  fail(where, message) {
    throw new Error(`template.yaml: cannot resolve ${where}: ${message}`)
  }

  resource(id, where) {
    const r = this.resources[id]
    if (r) return r
    // The role SAM creates for a function that names none.
    if (id.endsWith('Role')) {
      const fn = this.resources[id.slice(0, -'Role'.length)]
      if (fn?.Type === 'AWS::Serverless::Function' && fn.Properties?.Role === undefined) {
        return { Type: 'SAM::ImplicitFunctionRole', Properties: {} }
      }
    }
    this.fail(where, `no resource ${id}`)
  }

  // A property of a resource that is needed to name it, resolved.
  prop(id, name, where) {
    const r = this.resource(id, where)
    const v = r.Properties?.[name]
    return v === undefined ? undefined : this.resolve(v, `${id}.Properties.${name}`)
  }

  ref(name, where) {
    if (name in PSEUDO) return PSEUDO[name]
    if (name.startsWith('AWS::')) this.fail(where, `pseudo parameter ${name} has no fixed value`)
    if (name in this.parameters) {
      if (name in this.parameterValues) return this.parameterValues[name]
      const d = this.parameters[name].Default
      if (d === undefined) this.fail(where, `parameter ${name} has no Default and no test value`)
      return String(d)
    }
    const r = this.resource(name, where)
    switch (r.Type) {
      case 'AWS::DynamoDB::Table':
        return this.tableName(name, where)
      case 'AWS::SQS::Queue':
        return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${this.queueName(name, where)}`
      case 'AWS::S3::Bucket':
        return this.bucketName(name, where)
      case 'AWS::Scheduler::ScheduleGroup':
        return this.required(name, 'Name', where)
      case 'AWS::SecretsManager::Secret':
        return this.secretArn(name, where)
      case 'AWS::IAM::Role':
      case 'SAM::ImplicitFunctionRole':
        return this.roleName(name, where)
      case 'AWS::Serverless::Function':
        return this.functionName(name, where)
      case 'AWS::Logs::LogGroup':
        return this.required(name, 'LogGroupName', where)
      case 'AWS::SSM::Parameter':
        return this.required(name, 'Name', where)
      case 'AWS::Serverless::HttpApi':
        return 'a1b2c3d4e5'
      case 'AWS::BedrockAgentCore::Runtime':
        return 'clawless_agent-abc123'
      case 'AWS::BedrockAgentCore::Memory':
        return `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:memory/${MEMORY_ID}`
      case 'AWS::ECR::Repository':
        return this.repositoryName(name, where)
      // Cognito and CloudFront generate their ids; any plausible fixed one will do.
      case 'AWS::Cognito::UserPool':
        return USER_POOL_ID
      case 'AWS::Cognito::UserPoolClient':
        return '1example23456789abcdefghij'
      case 'AWS::CloudFront::Distribution':
        return DISTRIBUTION_ID
      default:
        this.fail(where, `!Ref of ${name} (${r.Type}) is not modelled`)
    }
  }

  getAtt(id, attr, where) {
    const r = this.resource(id, where)
    const t = r.Type
    const key = `${t}.${attr}`
    switch (key) {
      case 'AWS::DynamoDB::Table.Arn':
        return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${this.tableName(id, where)}`
      case 'AWS::SQS::Queue.Arn':
        return `arn:aws:sqs:${REGION}:${ACCOUNT}:${this.queueName(id, where)}`
      case 'AWS::SQS::Queue.QueueName':
        return this.queueName(id, where)
      case 'AWS::SQS::Queue.QueueUrl':
        return this.ref(id, where)
      case 'AWS::S3::Bucket.Arn':
        return `arn:aws:s3:::${this.bucketName(id, where)}`
      case 'AWS::Scheduler::ScheduleGroup.Arn':
        return `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/${this.required(id, 'Name', where)}`
      case 'AWS::IAM::Role.Arn':
      case 'SAM::ImplicitFunctionRole.Arn':
        return `arn:aws:iam::${ACCOUNT}:role/${this.roleName(id, where)}`
      case 'AWS::Serverless::Function.Arn':
        return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${this.functionName(id, where)}`
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${this.required(id, 'LogGroupName', where)}:*`
      case 'AWS::BedrockAgentCore::Runtime.AgentRuntimeArn':
        return `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:runtime/clawless_agent-abc123`
      case 'AWS::BedrockAgentCore::Runtime.AgentRuntimeId':
        return 'clawless_agent-abc123'
      case 'AWS::BedrockAgentCore::Memory.MemoryArn':
        return `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:memory/${MEMORY_ID}`
      case 'AWS::BedrockAgentCore::Memory.MemoryId':
        return MEMORY_ID
      case 'AWS::ECR::Repository.Arn':
        return `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${this.repositoryName(id, where)}`
      case 'AWS::Cognito::UserPool.Arn':
        return `arn:aws:cognito-idp:${REGION}:${ACCOUNT}:userpool/${USER_POOL_ID}`
      default:
        this.fail(where, `!GetAtt ${id}.${attr} (${t}) is not modelled`)
    }
  }

  required(id, name, where) {
    const v = this.prop(id, name, where)
    if (typeof v !== 'string') this.fail(where, `${id} has no ${name}`)
    return v
  }
  tableName(id, where) {
    return this.prop(id, 'TableName', where) ?? `${STACK}-${id}`
  }
  queueName(id, where) {
    const fifo = this.prop(id, 'FifoQueue', where) === true
    return this.prop(id, 'QueueName', where) ?? `${STACK}-${id}${fifo ? '.fifo' : ''}`
  }
  bucketName(id, where) {
    return this.prop(id, 'BucketName', where) ?? `${STACK}-${id.toLowerCase()}`
  }
  secretArn(id, where) {
    const name = this.prop(id, 'Name', where) ?? `${STACK}-${id}`
    return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`
  }
  roleName(id, where) {
    return this.prop(id, 'RoleName', where) ?? id
  }
  // CloudFormation names a repository without RepositoryName <stack>-<logical id>-<suffix>, lower case.
  repositoryName(id, where) {
    return this.prop(id, 'RepositoryName', where) ?? `${STACK}-${id.toLowerCase()}-a1b2c3d4e5f6`
  }
  functionName(id, where) {
    return this.prop(id, 'FunctionName', where) ?? `${STACK}-${id}`
  }

  sub(arg, where) {
    let text
    let vars = {}
    if (typeof arg === 'string') text = arg
    else if (Array.isArray(arg) && arg.length === 2 && typeof arg[0] === 'string') {
      text = arg[0]
      for (const [k, v] of Object.entries(arg[1] ?? {})) vars[k] = this.resolve(v, `${where} (Sub variable ${k})`)
    } else this.fail(where, `malformed Fn::Sub ${JSON.stringify(arg)}`)
    return text.replace(/\$\{([^}]*)\}/g, (_, inner) => {
      // ${!Literal} stays ${Literal}: IAM policy variables such as ${aws:PrincipalTag/tenant_id}.
      if (inner.startsWith('!')) return '${' + inner.slice(1) + '}'
      const name = inner.trim()
      if (name in vars) {
        if (typeof vars[name] !== 'string') this.fail(where, `Sub variable ${name} is not a string`)
        return vars[name]
      }
      if (name in PSEUDO || name in this.parameters || !name.includes('.')) return this.ref(name, where)
      const dot = name.indexOf('.')
      return this.getAtt(name.slice(0, dot), name.slice(dot + 1), where)
    })
  }

  condition(name, where) {
    if (this.conditionCache.has(name)) return this.conditionCache.get(name)
    if (!(name in this.conditions)) this.fail(where, `no condition ${name}`)
    const v = this.resolve(this.conditions[name], `Conditions.${name}`)
    if (typeof v !== 'boolean') this.fail(where, `condition ${name} is not a boolean`)
    this.conditionCache.set(name, v)
    return v
  }

  intrinsic(key, arg, where) {
    switch (key) {
      case 'Ref':
        if (typeof arg !== 'string') this.fail(where, `malformed Ref ${JSON.stringify(arg)}`)
        return this.ref(arg, where)
      case 'Fn::GetAtt': {
        const parts = typeof arg === 'string' ? [arg.slice(0, arg.indexOf('.')), arg.slice(arg.indexOf('.') + 1)] : arg
        if (!Array.isArray(parts) || parts.length !== 2 || !parts.every((p) => typeof p === 'string'))
          this.fail(where, `malformed Fn::GetAtt ${JSON.stringify(arg)}`)
        return this.getAtt(parts[0], parts[1], where)
      }
      case 'Fn::Sub':
        return this.sub(arg, where)
      case 'Fn::Join': {
        const [sep, list] = arg
        const items = this.resolve(list, where)
        if (!Array.isArray(items) || !items.every((i) => typeof i === 'string')) this.fail(where, 'Fn::Join of non-strings')
        return items.join(sep)
      }
      case 'Fn::Select': {
        const [index, list] = arg
        const items = this.resolve(list, where)
        const i = Number(this.resolve(index, where))
        if (!Array.isArray(items) || !(i >= 0 && i < items.length)) this.fail(where, 'Fn::Select out of range')
        return items[i]
      }
      case 'Fn::Split': {
        const [sep, str] = arg
        const s = this.resolve(str, where)
        if (typeof s !== 'string') this.fail(where, 'Fn::Split of a non-string')
        return s.split(sep)
      }
      case 'Fn::If': {
        const [cond, a, b] = arg
        return this.resolve(this.condition(cond, where) ? a : b, where)
      }
      case 'Condition':
        return this.condition(arg, where)
      case 'Fn::Equals': {
        const [a, b] = arg.map((x) => this.resolve(x, where))
        return JSON.stringify(a) === JSON.stringify(b)
      }
      case 'Fn::Not':
        return !this.bool(arg[0], where)
      case 'Fn::And':
        return arg.every((c) => this.bool(c, where))
      case 'Fn::Or':
        return arg.some((c) => this.bool(c, where))
      default:
        this.fail(where, `intrinsic ${key} is not supported by this resolver`)
    }
  }

  bool(v, where) {
    const b = this.resolve(v, where)
    if (typeof b !== 'boolean') this.fail(where, `expected a condition, got ${JSON.stringify(b)}`)
    return b
  }

  resolve(value, where) {
    if (Array.isArray(value)) {
      const out = []
      for (const [i, v] of value.entries()) {
        const r = this.resolve(v, `${where}[${i}]`)
        // AWS::NoValue drops the element.
        if (r !== NO_VALUE) out.push(r)
      }
      return out
    }
    if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value)
      if (keys.length === 1 && (keys[0] === 'Ref' || keys[0] === 'Condition' || keys[0].startsWith('Fn::'))) {
        if (keys[0] === 'Ref' && value.Ref === 'AWS::NoValue') return NO_VALUE
        return this.intrinsic(keys[0], value[keys[0]], where)
      }
      const out = {}
      for (const k of keys) {
        const r = this.resolve(value[k], `${where}.${k}`)
        if (r !== NO_VALUE) out[k] = r
      }
      return out
    }
    return value
  }
}
const NO_VALUE = Symbol('AWS::NoValue')

// ------------------------------------------------------------------ principals

function assertPolicyDocument(doc, where) {
  if (!doc || typeof doc !== 'object' || doc.Statement === null || typeof doc.Statement !== 'object')
    throw new Error(`template.yaml: ${where} is not a policy document`)
  return doc
}

/**
 * Loads the template and returns:
 *   principals: { [logicalId]: { logicalId, kind: 'role' | 'function-role', arn, roleName,
 *                 function?: logicalId, identityPolicies: [{ name, policy }], trustPolicy } }
 *   resolve(expr): resolves any intrinsic expression of the template
 *   resourcePolicies: [{ logicalId, type, resources: [arn], policy }] (queue, bucket, secret policies)
 */
export function loadTemplate(path = TEMPLATE_PATH, parameterValues = PARAMETER_VALUES) {
  const template = parseTemplate(readFileSync(path, 'utf8'))
  const r = new Resolver(template, parameterValues)
  const resources = template.Resources ?? {}
  const principals = {}

  const globalsFn = template.Globals?.Function ?? {}
  for (const k of ['Policies', 'Role', 'PermissionsBoundary', 'RolePath']) {
    if (k in globalsFn) throw new Error(`template.yaml: Globals.Function.${k} is not modelled by tests/iam`)
  }

  for (const [id, res] of Object.entries(resources)) {
    const p = res.Properties ?? {}
    if (res.Type === 'AWS::IAM::Role') {
      if (p.PermissionsBoundary !== undefined) throw new Error(`template.yaml: ${id}.PermissionsBoundary is not modelled`)
      const identityPolicies = []
      for (const [i, pol] of (p.Policies ?? []).entries()) {
        const name = r.resolve(pol.PolicyName, `${id}.Policies[${i}].PolicyName`)
        identityPolicies.push({ name, policy: assertPolicyDocument(r.resolve(pol.PolicyDocument, `${id}.Policies[${i}]`), `${id}.Policies[${i}]`) })
      }
      for (const arn of r.resolve(p.ManagedPolicyArns ?? [], `${id}.ManagedPolicyArns`)) {
        if (!(arn in MANAGED_POLICIES)) throw new Error(`template.yaml: ${id} attaches managed policy ${arn}, not modelled`)
        identityPolicies.push({ name: arn, policy: MANAGED_POLICIES[arn] })
      }
      const roleName = r.roleName(id, id)
      principals[id] = {
        logicalId: id,
        kind: 'role',
        roleName,
        arn: `arn:aws:iam::${ACCOUNT}:role/${roleName}`,
        identityPolicies,
        trustPolicy: assertPolicyDocument(r.resolve(p.AssumeRolePolicyDocument, `${id}.AssumeRolePolicyDocument`), `${id}.AssumeRolePolicyDocument`)
      }
    } else if (res.Type === 'AWS::Serverless::Function') {
      if (p.Role !== undefined) {
        // The function runs as a role defined elsewhere; SAM creates none and ignores Policies.
        if (p.Policies !== undefined) throw new Error(`template.yaml: ${id} has both Role and Policies`)
        continue
      }
      if (p.PermissionsBoundary !== undefined) throw new Error(`template.yaml: ${id}.PermissionsBoundary is not modelled`)
      const roleId = `${id}Role`
      if (roleId in resources) throw new Error(`template.yaml: ${roleId} clashes with the role SAM creates for ${id}`)
      const identityPolicies = []
      const basic = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'
      identityPolicies.push({ name: basic, policy: MANAGED_POLICIES[basic] })
      const events = Object.values(p.Events ?? {})
      if (events.some((e) => e.Type === 'SQS')) {
        const sqs = 'arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole'
        identityPolicies.push({ name: sqs, policy: MANAGED_POLICIES[sqs] })
      }
      for (const e of events) {
        if (!['SQS', 'HttpApi', 'Api', 'Schedule', 'ScheduleV2'].includes(e.Type))
          throw new Error(`template.yaml: ${id} has an event of type ${e.Type}, whose role policies are not modelled`)
      }
      // Asynchronous invocation destinations: SAM grants the function's role the right to deliver
      // to each one (an inline policy <LogicalId>EventInvokeConfig<OnFailure|OnSuccess><Type>Policy).
      for (const [when, dest] of Object.entries(p.EventInvokeConfig?.DestinationConfig ?? {})) {
        const where = `${id}.EventInvokeConfig.DestinationConfig.${when}`
        if (dest?.Type !== 'SQS' || dest.Destination === undefined)
          throw new Error(`template.yaml: ${where} is not an SQS queue named by Destination, whose grant is not modelled`)
        identityPolicies.push({
          name: `${id}EventInvokeConfig${when}SQSPolicy`,
          policy: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: r.resolve(dest.Destination, where) }]
          }
        })
      }
      const policies = p.Policies === undefined ? [] : Array.isArray(p.Policies) ? p.Policies : [p.Policies]
      for (const [i, pol] of policies.entries()) {
        const where = `${id}.Policies[${i}]`
        if (typeof pol === 'string' || pol?.Statement === undefined)
          throw new Error(`template.yaml: ${where} is a managed policy or a SAM policy template, not modelled`)
        identityPolicies.push({ name: `${roleId}Policy${i}`, policy: assertPolicyDocument(r.resolve(pol, where), where) })
      }
      principals[roleId] = {
        logicalId: roleId,
        kind: 'function-role',
        function: id,
        roleName: roleId,
        arn: `arn:aws:iam::${ACCOUNT}:role/${roleId}`,
        identityPolicies,
        trustPolicy: LAMBDA_TRUST
      }
    }
  }

  // Policies attached to roles from outside them.
  for (const [id, res] of Object.entries(resources)) {
    const p = res.Properties ?? {}
    if (res.Type === 'AWS::IAM::Policy' || res.Type === 'AWS::IAM::ManagedPolicy') {
      if ((p.Users ?? []).length || (p.Groups ?? []).length) throw new Error(`template.yaml: ${id} attaches to users or groups`)
      const doc = r.resolve(p.PolicyDocument, `${id}.PolicyDocument`)
      for (const [i, role] of (p.Roles ?? []).entries()) {
        const roleRef = role?.Ref
        if (typeof roleRef !== 'string' || !principals[roleRef]) throw new Error(`template.yaml: ${id}.Roles[${i}] is not a role of this template`)
        principals[roleRef].identityPolicies.push({ name: id, policy: doc })
      }
    }
  }

  // Resource-based policies that could widen access to the stack's resources.
  const resourcePolicies = []
  const resourcePolicyTypes = {
    'AWS::SQS::QueuePolicy': (p, id) => ({ resources: r.resolve(p.Queues, `${id}.Queues`).map(urlToQueueArn), policy: p.PolicyDocument }),
    'AWS::S3::BucketPolicy': (p, id) => ({ resources: [`arn:aws:s3:::${r.resolve(p.Bucket, `${id}.Bucket`)}`], policy: p.PolicyDocument }),
    'AWS::SecretsManager::ResourcePolicy': (p, id) => ({ resources: [r.resolve(p.SecretId, `${id}.SecretId`)], policy: p.ResourcePolicy })
  }
  for (const [id, res] of Object.entries(resources)) {
    const f = resourcePolicyTypes[res.Type]
    if (f) {
      const { resources: arns, policy } = f(res.Properties ?? {}, id)
      resourcePolicies.push({ logicalId: id, type: res.Type, resources: arns, policy: r.resolve(policy, `${id}.policy`) })
    }
    if (res.Type === 'AWS::SQS::Queue' && res.Properties?.KmsMasterKeyId !== undefined)
      throw new Error(`template.yaml: ${id} uses a KMS key, whose key policy is not modelled`)
  }

  return {
    template,
    principals,
    resourcePolicies,
    resolve: (expr, where = 'expression') => r.resolve(expr, where),
    ref: (id) => r.ref(id, `Ref ${id}`),
    getAtt: (id, attr) => r.getAtt(id, attr, `GetAtt ${id}.${attr}`)
  }
}

function urlToQueueArn(url) {
  const m = /^https:\/\/sqs\.([^.]+)\.amazonaws\.com\/(\d+)\/(.+)$/.exec(url)
  if (!m) throw new Error(`template.yaml: queue URL ${url} not understood`)
  return `arn:aws:sqs:${m[1]}:${m[2]}:${m[3]}`
}
