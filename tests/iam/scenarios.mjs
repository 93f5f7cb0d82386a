// The attack scenarios against the IAM policies of template.yaml, and how one is run through
// @cloud-copilot/iam-simulate. Each scenario is one request (caller, action, resource, context
// keys) and the verdict the template must produce. Threat model: the code inside an AgentCore
// microVM is hostile. It holds the microVM's own role (AgentRole) and, per invocation, the
// tenant credentials the dispatcher obtained (TenantAccessRole, session tags tenant_id and
// bot_id, session policy session-policy.json).
//
// A scenario's `as` names the caller: a logical id of a role in the template (a session of that
// role), 'tenant' (the credentials handed to an agent), or 'service:<principal>' (an AWS service
// assuming a role). A name missing from the template fails the scenario.

import {
  ACCOUNT,
  ALLOW_ALL,
  BOT,
  CHANNEL,
  CONVERSATION,
  REGION,
  SESSION_POLICY,
  TENANT,
  TEMPLATE,
  evaluate,
  principal,
  resourcePolicyFor,
  sessionArn,
  trustPolicyFor
} from './simulate.mjs'
import { MEMORY_ID } from './template.mjs'

// ------------------------------------------------------------------ names the scenarios use

export const OTHER_TENANT = 'tfedcba9876543210fedc'
export const OTHER_BOT = 'bfedcba9876543210fedc'

export const TABLE = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/clawless-data`
export const BUCKET = `arn:aws:s3:::clawless-memory-${ACCOUNT}-${REGION}`
export const param = (path) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/clawless/clawless/${path}`
export const SCOPE_KEY = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:clawless/scope-key-AbCdEf`
export const REPLY_QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:clawless-reply.fifo`
export const INBOUND_QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:clawless-inbound.fifo`
export const SCHEDULE_DLQ = `arn:aws:sqs:${REGION}:${ACCOUNT}:clawless-schedule-dlq`
export const AGENT_REPOSITORY = `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/clawless-agentrepository-a1b2c3d4e5f6`
export const OTHER_REPOSITORY = `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/someone-elses-image`
export const schedule = (name, group = 'clawless') => `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/${group}/${name}`
export const role = (name) => `arn:aws:iam::${ACCOUNT}:role/${name}`
export const lambdaFn = (id) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:clawless-${id}`
export const TENANT_ROLE = role('clawless-tenant-access')
export const SCHEDULER_ROLE = role('clawless-scheduler-invoke')
export const APPROVAL_ROLE = role('clawless-approval-invoke')
export const MEMORY = `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:memory/${MEMORY_ID}`
export const OTHER_MEMORY = `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:memory/someone_else-ZyXwV98765`
export const FOUNDATION_MODEL = `arn:aws:bedrock:${REGION}::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0`

export const mem = (path) => `${BUCKET}/tenants/${path}`
export const OWN_SHARED = mem(`${TENANT}/shared.md`)
export const OWN_BOT_MEMORY = mem(`${TENANT}/bots/${BOT}/memory.md`)
export const OWN_CONVERSATION_MEMORY = mem(`${TENANT}/bots/${BOT}/conversations/${CHANNEL}/${CONVERSATION}/memory.md`)
export const OTHER_CONVERSATION_MEMORY = mem(`${TENANT}/bots/${BOT}/conversations/${CHANNEL}/9999/memory.md`)

export const OWN_PROFILE = param(`tenants/${TENANT}/profile`)
export const OWN_USER_PROFILE = param(`tenants/${TENANT}/users/u123456/profile`)
export const OWN_CHANNEL_SECRET = param(`tenants/${TENANT}/bots/${BOT}/channels/${CHANNEL}`)
export const OWN_NOTICE = param(`tenants/${TENANT}/approvals/notice`)
export const OWN_PROVIDER_KEY = param(`tenants/${TENANT}/provider`)
export const OWN_BOT_PROVIDER_KEY = param(`tenants/${TENANT}/bots/${BOT}/provider`)
export const USER_POOL = `arn:aws:cognito-idp:${REGION}:${ACCOUNT}:userpool/${REGION}_AbCdEf123`
export const OTHER_USER_POOL = `arn:aws:cognito-idp:${REGION}:${ACCOUNT}:userpool/${REGION}_ZyXwVu987`
export const CONSOLE_BUCKET = `arn:aws:s3:::clawless-console-${ACCOUNT}-${REGION}`
export const CONSOLE_DISTRIBUTION = `arn:aws:cloudfront::${ACCOUNT}:distribution/E1A2B3C4D5E6F7`
export const OTHER_MODEL = `arn:aws:bedrock:${REGION}::foundation-model/anthropic.claude-3-opus-20240229-v1:0`

export const leading = (...keys) => ({ 'dynamodb:LeadingKeys': keys })
export const requestTags = (tags) => ({
  ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
  'aws:TagKeys': Object.keys(tags)
})
export const OWN_TAGS = requestTags({ tenant_id: TENANT, bot_id: BOT })

// ------------------------------------------------------------------ callers

// The credentials an agent is handed: TenantAccessRole with the dispatcher's session tags and
// session policy. Session tags are the session's aws:PrincipalTag keys.
function tenantCaller() {
  const p = principal('TenantAccessRole')
  return {
    principal: sessionArn(p, `${TENANT}-${BOT}`),
    roleArn: p.arn,
    identity: p.identityPolicies,
    session: SESSION_POLICY,
    context: { 'aws:PrincipalTag/tenant_id': TENANT, 'aws:PrincipalTag/bot_id': BOT }
  }
}

function roleCaller(logicalId) {
  const p = principal(logicalId)
  // Lambda names a function's session after the function; AgentCore and Scheduler use their own.
  const sessionName = p.function ? `clawless-${p.function}` : `${logicalId}-session`
  return { principal: sessionArn(p, sessionName), roleArn: p.arn, identity: p.identityPolicies, context: {} }
}

function serviceCaller(service) {
  return { principal: service, identity: [], context: {}, service: true }
}

export function caller(as) {
  if (as === 'tenant') return tenantCaller()
  if (as.startsWith('service:')) return serviceCaller(as.slice('service:'.length))
  return roleCaller(as)
}

// The resource-based policy that applies: a role's trust policy for STS actions on it, else any
// queue, bucket or secret policy the template defines.
function resourcePolicy(action, resource, override) {
  if (override !== undefined) return override
  if (action.startsWith('sts:')) {
    const trust = trustPolicyFor(resource)
    if (!trust) throw new Error(`${resource} is not a role of the template`)
    return trust
  }
  return resourcePolicyFor(resource)
}

// ------------------------------------------------------------------ the scenarios

export const scenarios = []
const add = (group, s) => scenarios.push({ group, ...s })

// --- the microVM's own role: everything of a tenant is out of reach, models are not.
{
  const as = 'AgentRole'
  add('agent role', { name: 'agent assumes the tenant-access role with its own tags', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Denied' })
  add('agent role', { name: 'agent tags a session of the tenant-access role', as, action: 'sts:TagSession', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Denied' })
  add('agent role', { name: 'agent reads a grant item directly', as, action: 'dynamodb:GetItem', resource: TABLE, context: leading(`${TENANT}#GRANT`), expect: 'Denied' })
  add('agent role', { name: 'agent writes its own task partition directly', as, action: 'dynamodb:PutItem', resource: TABLE, context: leading(`${TENANT}#TASK#${BOT}`), expect: 'Denied' })
  add('agent role', { name: 'agent queries a conversation directly', as, action: 'dynamodb:Query', resource: TABLE, context: leading(`${TENANT}#CONV#${BOT}#${CHANNEL}#${CONVERSATION}`), expect: 'Denied' })
  add('agent role', { name: 'agent reads tenant memory directly', as, action: 's3:GetObject', resource: OWN_BOT_MEMORY, expect: 'Denied' })
  add('agent role', { name: 'agent reads a channel secret', as, action: 'ssm:GetParameter', resource: param(`tenants/${OTHER_TENANT}/bots/${OTHER_BOT}/channels/telegram`), expect: 'Denied' })
  add('agent role', { name: 'agent reads a tenant profile', as, action: 'ssm:GetParameter', resource: OWN_PROFILE, expect: 'Denied' })
  add('agent role', { name: "agent reads a tenant's provider key", as, action: 'ssm:GetParameter', resource: OWN_PROVIDER_KEY, expect: 'Denied' })
  add('agent role', { name: "agent reads a bot's provider key", as, action: 'ssm:GetParameter', resource: OWN_BOT_PROVIDER_KEY, expect: 'Denied' })
  add('agent role', { name: 'agent reads the scope key', as, action: 'secretsmanager:GetSecretValue', resource: SCOPE_KEY, expect: 'Denied' })
  add('agent role', { name: 'agent sends to the reply queue with its role credentials', as, action: 'sqs:SendMessage', resource: REPLY_QUEUE, expect: 'Denied' })
  add('agent role', { name: 'agent creates a schedule', as, action: 'scheduler:CreateSchedule', resource: schedule(`${TENANT}-k1`), expect: 'Denied' })
  add('agent role', { name: 'agent passes the scheduler role', as, action: 'iam:PassRole', resource: SCHEDULER_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Denied' })
  add('agent role', { name: 'agent invokes the scheduler function', as, action: 'lambda:InvokeFunction', resource: lambdaFn('SchedulerFunction'), expect: 'Denied' })
  add('agent role', { name: 'agent calls a foundation model (the one thing it keeps)', as, action: 'bedrock:InvokeModel', resource: FOUNDATION_MODEL, expect: 'Allowed' })
  add('agent role', { name: "agent pulls an image from the stack's repository", as, action: 'ecr:BatchGetImage', resource: AGENT_REPOSITORY, expect: 'Allowed' })
  add('agent role', { name: "agent downloads a layer from the stack's repository", as, action: 'ecr:GetDownloadUrlForLayer', resource: AGENT_REPOSITORY, expect: 'Allowed' })
  add('agent role', { name: 'agent pulls an image from another repository of the account', as, action: 'ecr:BatchGetImage', resource: OTHER_REPOSITORY, expect: 'Denied' })
  add('agent role', { name: 'agent downloads a layer from another repository of the account', as, action: 'ecr:GetDownloadUrlForLayer', resource: OTHER_REPOSITORY, expect: 'Denied' })
  add('agent role', { name: "agent pushes an image to the stack's repository", as, action: 'ecr:PutImage', resource: AGENT_REPOSITORY, expect: 'Denied' })
}

// --- tenant credentials of tenant A, bot A, conversation telegram/4242.
{
  const as = 'tenant'
  const g = 'tenant credentials: table'
  add(g, { name: "GetItem on another tenant's grants", as, action: 'dynamodb:GetItem', resource: TABLE, context: leading(`${OTHER_TENANT}#GRANT`), expect: 'Denied' })
  add(g, { name: 'GetItem on own grants', as, action: 'dynamodb:GetItem', resource: TABLE, context: leading(`${TENANT}#GRANT`), expect: 'Allowed' })
  for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'])
    add(g, { name: `${action} on own grants (self-approval)`, as, action, resource: TABLE, context: leading(`${TENANT}#GRANT`), expect: 'Denied' })
  for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'])
    add(g, { name: `${action} on own approval requests`, as, action, resource: TABLE, context: leading(`${TENANT}#APPROVAL`), expect: 'Denied' })
  for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'])
    add(g, { name: `${action} on own usage partition (usage reset, budget raise, budget notice)`, as, action, resource: TABLE, context: leading(`${TENANT}#USAGE`), expect: 'Denied' })
  for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'])
    add(g, { name: `${action} on own tenant record and approver`, as, action, resource: TABLE, context: leading(`TENANT#${TENANT}`), expect: 'Denied' })
  // The admin indexes: the tenant's bots and console users (TENANT#…), the bot's conversations.
  for (const action of ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']) {
    add(g, { name: `${action} on own tenant's console users and bot index`, as, action, resource: TABLE, context: leading(`TENANT#${TENANT}`), expect: 'Denied' })
    add(g, { name: `${action} on own bot's conversation index (faking the console's history)`, as, action, resource: TABLE, context: leading(`${TENANT}#CONVS#${BOT}`), expect: 'Denied' })
  }
  for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'])
    add(g, { name: `${action} on own bot record and channel binding`, as, action, resource: TABLE, context: leading(`BOT#${BOT}`), expect: 'Denied' })
  // The bot's access items: DM allow items and pending pairing codes (one partition per bot).
  // An agent that wrote its own allow item or pairing item would let anyone in.
  for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem'])
    add(g, { name: `${action} of its own allow item (access partition)`, as, action, resource: TABLE, context: leading(`${TENANT}#ACCESS#${BOT}`), expect: 'Denied' })
  for (const action of ['dynamodb:PutItem', 'dynamodb:DeleteItem'])
    add(g, { name: `${action} of a pairing item (access partition)`, as, action, resource: TABLE, context: leading(`${TENANT}#ACCESS#${BOT}`), expect: 'Denied' })
  for (const action of ['dynamodb:GetItem', 'dynamodb:Query'])
    add(g, { name: `${action} on own access partition (reads pending codes)`, as, action, resource: TABLE, context: leading(`${TENANT}#ACCESS#${BOT}`), expect: 'Denied' })
  add(g, { name: "PutItem on another bot's access partition", as, action: 'dynamodb:PutItem', resource: TABLE, context: leading(`${TENANT}#ACCESS#${OTHER_BOT}`), expect: 'Denied' })
  add(g, { name: 'UpdateItem of own bot record (its dm/groups modes and group allowlist)', as, action: 'dynamodb:UpdateItem', resource: TABLE, context: leading(`BOT#${BOT}`), expect: 'Denied' })
  for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'])
    add(g, { name: `${action} on own conversation partition`, as, action, resource: TABLE, context: leading(`${TENANT}#CONV#${BOT}#${CHANNEL}#${CONVERSATION}`), expect: 'Denied' })
  for (const action of ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'])
    add(g, { name: `${action} on own bot's task partition`, as, action, resource: TABLE, context: leading(`${TENANT}#TASK#${BOT}`), expect: 'Allowed' })
  add(g, { name: "PutItem on another bot's task partition, same tenant", as, action: 'dynamodb:PutItem', resource: TABLE, context: leading(`${TENANT}#TASK#${OTHER_BOT}`), expect: 'Denied' })
  add(g, { name: "PutItem on another tenant's task partition, same bot id", as, action: 'dynamodb:PutItem', resource: TABLE, context: leading(`${OTHER_TENANT}#TASK#${BOT}`), expect: 'Denied' })
  add(g, { name: "multi-key request: own task partition + another tenant's (ForAllValues)", as, action: 'dynamodb:PutItem', resource: TABLE, context: leading(`${TENANT}#TASK#${BOT}`, `${OTHER_TENANT}#TASK#${OTHER_BOT}`), expect: 'Denied' })
  add(g, { name: 'BatchWriteItem across own and other partitions', as, action: 'dynamodb:BatchWriteItem', resource: TABLE, context: leading(`${TENANT}#TASK#${BOT}`, `${OTHER_TENANT}#GRANT`), expect: 'Denied' })
  add(g, { name: 'Scan (no leading keys: ForAllValues would hold vacuously)', as, action: 'dynamodb:Scan', resource: TABLE, expect: 'Denied' })
  add(g, { name: 'PartiQL statement on the table', as, action: 'dynamodb:PartiQLSelect', resource: TABLE, context: leading(`${TENANT}#GRANT`), expect: 'Denied' })
}
{
  const as = 'tenant'
  const g = 'tenant credentials: memory'
  add(g, { name: "GetObject on another tenant's shared memory", as, action: 's3:GetObject', resource: mem(`${OTHER_TENANT}/shared.md`), expect: 'Denied' })
  add(g, { name: "GetObject on another tenant's bot memory", as, action: 's3:GetObject', resource: mem(`${OTHER_TENANT}/bots/${BOT}/memory.md`), expect: 'Denied' })
  add(g, { name: 'PutObject on own tenant layer (read-only)', as, action: 's3:PutObject', resource: OWN_SHARED, expect: 'Denied' })
  add(g, { name: 'GetObject on own tenant layer', as, action: 's3:GetObject', resource: OWN_SHARED, expect: 'Allowed' })
  add(g, { name: 'PutObject on own bot memory', as, action: 's3:PutObject', resource: OWN_BOT_MEMORY, expect: 'Allowed' })
  add(g, { name: 'GetObject on own bot memory', as, action: 's3:GetObject', resource: OWN_BOT_MEMORY, expect: 'Allowed' })
  add(g, { name: 'PutObject on own conversation memory', as, action: 's3:PutObject', resource: OWN_CONVERSATION_MEMORY, expect: 'Allowed' })
  add(g, { name: 'PutObject on another conversation of the same bot', as, action: 's3:PutObject', resource: OTHER_CONVERSATION_MEMORY, expect: 'Denied', deniedBy: 'session' })
  add(g, { name: 'GetObject on another conversation of the same bot', as, action: 's3:GetObject', resource: OTHER_CONVERSATION_MEMORY, expect: 'Denied', deniedBy: 'session' })
  add(g, { name: 'PutObject on another object of own bot layer', as, action: 's3:PutObject', resource: mem(`${TENANT}/bots/${BOT}/notes.md`), expect: 'Denied', deniedBy: 'session' })
  add(g, { name: "GetObject on another bot's memory, same tenant", as, action: 's3:GetObject', resource: mem(`${TENANT}/bots/${OTHER_BOT}/memory.md`), expect: 'Denied' })
  add(g, { name: 'DeleteObject on own bot memory', as, action: 's3:DeleteObject', resource: OWN_BOT_MEMORY, expect: 'Denied' })
  add(g, { name: 'ListBucket on the memory bucket', as, action: 's3:ListBucket', resource: BUCKET, expect: 'Denied' })
  add(g, { name: 'GetObject on own bot memory over plain HTTP (the bucket policy refuses)', as, action: 's3:GetObject', resource: OWN_BOT_MEMORY, context: { 'aws:SecureTransport': 'false' }, expect: 'Denied' })
  add(g, { name: 'PutObject on own bot memory over TLS', as, action: 's3:PutObject', resource: OWN_BOT_MEMORY, context: { 'aws:SecureTransport': 'true' }, expect: 'Allowed' })
}
// --- skills: installed by the operator (the CLI); an agent reads its own bot's and writes none.
export const OWN_SKILL = mem(`${TENANT}/bots/${BOT}/skills/weekly-report/SKILL.md`)
export const OWN_SKILL_INDEX = mem(`${TENANT}/bots/${BOT}/skills/index.json`)
{
  const as = 'tenant'
  const g = 'tenant credentials: skills'
  add(g, { name: "GetObject on own bot's skill index", as, action: 's3:GetObject', resource: OWN_SKILL_INDEX, expect: 'Allowed' })
  add(g, { name: "GetObject on own bot's skill file", as, action: 's3:GetObject', resource: OWN_SKILL, expect: 'Allowed' })
  add(g, { name: "GetObject on another bot's skill, same tenant", as, action: 's3:GetObject', resource: mem(`${TENANT}/bots/${OTHER_BOT}/skills/weekly-report/SKILL.md`), expect: 'Denied' })
  add(g, { name: "GetObject on another bot's skill index, same tenant", as, action: 's3:GetObject', resource: mem(`${TENANT}/bots/${OTHER_BOT}/skills/index.json`), expect: 'Denied' })
  add(g, { name: "GetObject on another tenant's skill", as, action: 's3:GetObject', resource: mem(`${OTHER_TENANT}/bots/${BOT}/skills/weekly-report/SKILL.md`), expect: 'Denied' })
  add(g, { name: "PutObject on own bot's skill (install_skill by hand)", as, action: 's3:PutObject', resource: OWN_SKILL, expect: 'Denied' })
  add(g, { name: "PutObject on own bot's skill index", as, action: 's3:PutObject', resource: OWN_SKILL_INDEX, expect: 'Denied' })
  add(g, { name: "DeleteObject on own bot's skill", as, action: 's3:DeleteObject', resource: OWN_SKILL, expect: 'Denied' })
  add(g, { name: "DeleteObject on own bot's skill index", as, action: 's3:DeleteObject', resource: OWN_SKILL_INDEX, expect: 'Denied' })
  add(g, { name: "ListBucket on own bot's skills", as, action: 's3:ListBucket', resource: BUCKET, expect: 'Denied' })
}
{
  const tls = { 'aws:SecureTransport': 'true' }
  const g = 'functions: skills'
  add(g, { name: 'dispatcher writes a skill', as: 'DispatcherFunctionRole', action: 's3:PutObject', resource: OWN_SKILL, context: tls, expect: 'Denied' })
  add(g, { name: 'reply function reads a skill', as: 'ReplyFunctionRole', action: 's3:GetObject', resource: OWN_SKILL, context: tls, expect: 'Denied' })
}
{
  const as = 'tenant'
  const g = 'tenant credentials: parameters and secrets'
  add(g, { name: 'GetParameter on own tenant profile', as, action: 'ssm:GetParameter', resource: OWN_PROFILE, expect: 'Allowed' })
  add(g, { name: 'GetParameter on a user profile of own tenant', as, action: 'ssm:GetParameter', resource: OWN_USER_PROFILE, expect: 'Allowed' })
  add(g, { name: 'PutParameter on own tenant profile', as, action: 'ssm:PutParameter', resource: OWN_PROFILE, expect: 'Denied' })
  add(g, { name: "GetParameter on another tenant's profile", as, action: 'ssm:GetParameter', resource: param(`tenants/${OTHER_TENANT}/profile`), expect: 'Denied' })
  add(g, { name: "GetParameter on own bot's channel secret", as, action: 'ssm:GetParameter', resource: OWN_CHANNEL_SECRET, expect: 'Denied' })
  add(g, { name: "GetParameter on own tenant's notice wording", as, action: 'ssm:GetParameter', resource: OWN_NOTICE, expect: 'Denied' })
  add(g, { name: "PutParameter on own tenant's notice wording", as, action: 'ssm:PutParameter', resource: OWN_NOTICE, expect: 'Denied' })
  add(g, { name: "GetParametersByPath on own tenant's tree", as, action: 'ssm:GetParametersByPath', resource: param(`tenants/${TENANT}`), expect: 'Denied' })
  // Provider keys reach an agent only in its own invocation, from the dispatcher: never by reading.
  for (const [what, resource] of [
    ["own tenant's provider key", OWN_PROVIDER_KEY],
    ["own bot's provider key", OWN_BOT_PROVIDER_KEY],
    ["another tenant's provider key", param(`tenants/${OTHER_TENANT}/provider`)],
    ["another tenant's bot's provider key", param(`tenants/${OTHER_TENANT}/bots/${OTHER_BOT}/provider`)]
  ])
    add(g, { name: `GetParameter on ${what}`, as, action: 'ssm:GetParameter', resource, expect: 'Denied' })
  for (const action of ['dynamodb:GetItem', 'dynamodb:Query'])
    add(g, { name: `${action} on own tenant's provider setting (TENANT#…/PROVIDER)`, as, action, resource: TABLE, context: leading(`TENANT#${TENANT}`), expect: 'Denied' })
  add(g, { name: 'GetSecretValue on the scope key', as, action: 'secretsmanager:GetSecretValue', resource: SCOPE_KEY, expect: 'Denied' })
  // A key whose key policy delegates to IAM (the default key policy), so IAM policies decide.
  add(g, {
    name: 'kms:Decrypt of a SecureString via SSM', as, action: 'kms:Decrypt',
    resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
    context: { 'kms:ViaService': `ssm.${REGION}.amazonaws.com` },
    resourcePolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] },
    expect: 'Denied'
  })
}
{
  const as = 'tenant'
  const g = 'tenant credentials: schedules, queues, roles'
  add(g, { name: 'CreateSchedule for own tenant and bot', as, action: 'scheduler:CreateSchedule', resource: schedule(`${TENANT}-${BOT}-0123456789abcdef0123`), expect: 'Allowed' })
  add(g, { name: 'CreateSchedule for another tenant', as, action: 'scheduler:CreateSchedule', resource: schedule(`${OTHER_TENANT}-${OTHER_BOT}-0123456789abcdef0123`), expect: 'Denied' })
  add(g, { name: 'DeleteSchedule of another tenant', as, action: 'scheduler:DeleteSchedule', resource: schedule(`${OTHER_TENANT}-${OTHER_BOT}-0123456789abcdef0123`), expect: 'Denied' })
  add(g, { name: 'CreateSchedule for another bot of the same tenant', as, action: 'scheduler:CreateSchedule', resource: schedule(`${TENANT}-${OTHER_BOT}-0123456789abcdef0123`), expect: 'Denied' })
  add(g, { name: 'CreateSchedule in another schedule group', as, action: 'scheduler:CreateSchedule', resource: schedule(`${TENANT}-${BOT}-0123456789abcdef0123`, 'default'), expect: 'Denied' })
  add(g, { name: 'DeleteSchedule of an approval timeout (apr-*)', as, action: 'scheduler:DeleteSchedule', resource: schedule('apr-0123456789'), expect: 'Denied' })
  add(g, {
    name: "GetSchedule of another bot's task, same tenant (its input holds that conversation's scope token)",
    as, action: 'scheduler:GetSchedule', resource: schedule(`${TENANT}-${OTHER_BOT}-0123456789abcdef0123`), expect: 'Denied'
  })
  add(g, { name: 'PassRole of the scheduler role to EventBridge Scheduler', as, action: 'iam:PassRole', resource: SCHEDULER_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Allowed' })
  add(g, { name: 'PassRole of the scheduler role to Lambda', as, action: 'iam:PassRole', resource: SCHEDULER_ROLE, context: { 'iam:PassedToService': 'lambda.amazonaws.com' }, expect: 'Denied' })
  add(g, { name: 'PassRole of the approval scheduler role', as, action: 'iam:PassRole', resource: APPROVAL_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Denied' })
  add(g, { name: 'PassRole of the tenant-access role', as, action: 'iam:PassRole', resource: TENANT_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Denied' })
  add(g, { name: 'SendMessage to the reply queue', as, action: 'sqs:SendMessage', resource: REPLY_QUEUE, expect: 'Allowed' })
  add(g, { name: 'SendMessage to the inbound queue', as, action: 'sqs:SendMessage', resource: INBOUND_QUEUE, expect: 'Denied' })
  add(g, { name: 'SendMessage to the schedule DLQ (forged dead letters)', as, action: 'sqs:SendMessage', resource: SCHEDULE_DLQ, expect: 'Denied' })
  add(g, { name: 'ReceiveMessage from the reply queue', as, action: 'sqs:ReceiveMessage', resource: REPLY_QUEUE, expect: 'Denied' })
  add(g, { name: 'AssumeRole on the tenant-access role again (role chaining to new tags)', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: requestTags({ tenant_id: OTHER_TENANT, bot_id: OTHER_BOT }), expect: 'Denied' })
  add(g, { name: 'TagSession on the tenant-access role', as, action: 'sts:TagSession', resource: TENANT_ROLE, context: requestTags({ tenant_id: OTHER_TENANT, bot_id: OTHER_BOT }), expect: 'Denied' })
  add(g, { name: 'InvokeFunction on the scheduler function', as, action: 'lambda:InvokeFunction', resource: lambdaFn('SchedulerFunction'), expect: 'Denied' })
  add(g, { name: 'InvokeAgentRuntime (start another agent)', as, action: 'bedrock-agentcore:InvokeAgentRuntime', resource: `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:runtime/clawless_agent-abc123`, expect: 'Denied' })
}

// --- the dispatcher keeps the access items: it claims pairing codes and, for the approver's
// /pair, writes the allow item and deletes the used code.
{
  const g = 'dispatcher: access items'
  const as = 'DispatcherFunctionRole'
  for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'])
    add(g, { name: `${action} on a bot's access partition`, as, action, resource: TABLE, context: leading(`${TENANT}#ACCESS#${BOT}`), expect: 'Allowed' })
  add(g, { name: 'webhook writes an access item', as: 'WebhookFunctionRole', action: 'dynamodb:DeleteItem', resource: TABLE, context: leading(`${TENANT}#ACCESS#${BOT}`), expect: 'Denied' })
}

// --- the dispatcher erases a conversation's memory layer for /reset, and nothing else there.
{
  const g = 'dispatcher: /reset'
  const as = 'DispatcherFunctionRole'
  const tls = { 'aws:SecureTransport': 'true' }
  add(g, { name: "DeleteObject on a conversation's memory layer", as, action: 's3:DeleteObject', resource: OWN_CONVERSATION_MEMORY, context: tls, expect: 'Allowed' })
  add(g, { name: "DeleteObject on a bot's memory layer", as, action: 's3:DeleteObject', resource: OWN_BOT_MEMORY, context: tls, expect: 'Denied' })
  add(g, { name: "DeleteObject on a tenant's shared layer", as, action: 's3:DeleteObject', resource: mem(`${TENANT}/shared.md`), context: tls, expect: 'Denied' })
  add(g, { name: 'DeleteObject on another object under a conversation', as, action: 's3:DeleteObject', resource: mem(`${TENANT}/bots/${BOT}/conversations/${CHANNEL}/${CONVERSATION}/notes.md`), context: tls, expect: 'Denied' })
  add(g, { name: "GetObject on a conversation's memory layer", as, action: 's3:GetObject', resource: OWN_CONVERSATION_MEMORY, context: tls, expect: 'Denied' })
  add(g, { name: "PutObject on a conversation's memory layer", as, action: 's3:PutObject', resource: OWN_CONVERSATION_MEMORY, context: tls, expect: 'Denied' })
  add(g, { name: "DeleteObject on a conversation's memory layer over plain HTTP", as, action: 's3:DeleteObject', resource: OWN_CONVERSATION_MEMORY, context: { 'aws:SecureTransport': 'false' }, expect: 'Denied' })
}

// --- files in and out: the dispatcher stores what people send under a conversation's
// attachments (tagged) with the bot's channel secret; the reply function reads and deletes
// outbox files; an agent reads its own conversation's files and writes its own outbox only.
{
  const g = 'files in and out'
  const tls = { 'aws:SecureTransport': 'true' }
  const conv = `${TENANT}/bots/${BOT}/conversations/${CHANNEL}/${CONVERSATION}`
  const otherConv = `${TENANT}/bots/${BOT}/conversations/${CHANNEL}/999`
  const attachment = mem(`${conv}/attachments/abc/0.png`)
  const outbox = mem(`${conv}/outbox/run/0-report.pdf`)
  let as = 'DispatcherFunctionRole'
  add(g, { name: 'dispatcher stores an attachment', as, action: 's3:PutObject', resource: attachment, context: tls, expect: 'Allowed' })
  add(g, { name: 'dispatcher tags an attachment', as, action: 's3:PutObjectTagging', resource: attachment, context: tls, expect: 'Allowed' })
  add(g, { name: 'dispatcher reads an attachment back', as, action: 's3:GetObject', resource: attachment, context: tls, expect: 'Denied' })
  add(g, { name: 'dispatcher writes a memory layer', as, action: 's3:PutObject', resource: OWN_CONVERSATION_MEMORY, context: tls, expect: 'Denied' })
  add(g, { name: 'dispatcher writes an outbox', as, action: 's3:PutObject', resource: outbox, context: tls, expect: 'Denied' })
  add(g, { name: "dispatcher reads a bot's channel secret", as, action: 'ssm:GetParameter', resource: OWN_CHANNEL_SECRET, expect: 'Allowed' })
  add(g, { name: "dispatcher reads a tenant's profile", as, action: 'ssm:GetParameter', resource: param(`tenants/${TENANT}/profile`), expect: 'Allowed' })
  add(g, { name: 'dispatcher reads the platform user pool id', as, action: 'ssm:GetParameter', resource: param('platform/user-pool-id'), expect: 'Denied' })
  add(g, { name: "dispatcher reads a tenant's provider key", as, action: 'ssm:GetParameter', resource: OWN_PROVIDER_KEY, expect: 'Allowed' })
  add(g, { name: "dispatcher reads a bot's provider key", as, action: 'ssm:GetParameter', resource: OWN_BOT_PROVIDER_KEY, expect: 'Allowed' })
  add(g, { name: "dispatcher writes a tenant's provider key", as, action: 'ssm:PutParameter', resource: OWN_PROVIDER_KEY, expect: 'Denied' })
  as = 'ReplyFunctionRole'
  add(g, { name: 'reply reads an outbox file', as, action: 's3:GetObject', resource: outbox, context: tls, expect: 'Allowed' })
  add(g, { name: 'reply deletes an outbox file', as, action: 's3:DeleteObject', resource: outbox, context: tls, expect: 'Allowed' })
  add(g, { name: 'reply reads an attachment', as, action: 's3:GetObject', resource: attachment, context: tls, expect: 'Denied' })
  add(g, { name: 'reply reads a memory layer', as, action: 's3:GetObject', resource: OWN_CONVERSATION_MEMORY, context: tls, expect: 'Denied' })
  add(g, { name: 'reply writes an outbox file', as, action: 's3:PutObject', resource: outbox, context: tls, expect: 'Denied' })
  as = 'tenant'
  add(g, { name: "agent reads its conversation's attachment", as, action: 's3:GetObject', resource: attachment, context: tls, expect: 'Allowed' })
  add(g, { name: "agent writes its conversation's outbox", as, action: 's3:PutObject', resource: outbox, context: tls, expect: 'Allowed' })
  add(g, { name: "agent reads another conversation's attachment", as, action: 's3:GetObject', resource: mem(`${otherConv}/attachments/abc/0.png`), context: tls, expect: 'Denied' })
  add(g, { name: "agent writes another conversation's outbox", as, action: 's3:PutObject', resource: mem(`${otherConv}/outbox/run/0-x.pdf`), context: tls, expect: 'Denied' })
  add(g, { name: "agent reads another tenant's attachment", as, action: 's3:GetObject', resource: mem(`${OTHER_TENANT}/bots/${OTHER_BOT}/conversations/${CHANNEL}/${CONVERSATION}/attachments/abc/0.png`), context: tls, expect: 'Denied' })
  add(g, { name: 'agent deletes its outbox file', as, action: 's3:DeleteObject', resource: outbox, context: tls, expect: 'Denied' })
  add(g, { name: 'agent tags an object to escape the retention rule', as, action: 's3:PutObjectTagging', resource: attachment, context: tls, expect: 'Denied' })
  // Voice notes. StartTranscriptionJob takes no resource, so it is held by where the result
  // goes: the memory bucket, under the caller's own bot. Job names are account-wide; the agent
  // names its {tenant}-{bot}-{digest} and reads only jobs with its own prefix.
  const job = (name) => `arn:aws:transcribe:${REGION}:${ACCOUNT}:transcription-job/${name}`
  const digest = '0123456789abcdef0123456789abcdef01234567'
  const BUCKET_NAME = BUCKET.replace('arn:aws:s3:::', '')
  const output = (bucket, key) => ({ 'transcribe:OutputBucketName': bucket, 'transcribe:OutputKey': key })
  const start = 'transcribe:StartTranscriptionJob'
  add(g, { name: 'agent starts a transcription into its own conversation', as, action: start, resource: '*', context: output(BUCKET_NAME, `tenants/${conv}/transcripts/${digest}.json`), expect: 'Allowed' })
  add(g, { name: "agent starts a transcription into another tenant's conversation", as, action: start, resource: '*', context: output(BUCKET_NAME, `tenants/${OTHER_TENANT}/bots/${OTHER_BOT}/conversations/${CHANNEL}/${CONVERSATION}/transcripts/${digest}.json`), expect: 'Denied' })
  add(g, { name: "agent starts a transcription into another bot's conversation", as, action: start, resource: '*', context: output(BUCKET_NAME, `tenants/${TENANT}/bots/${OTHER_BOT}/conversations/${CHANNEL}/${CONVERSATION}/transcripts/${digest}.json`), expect: 'Denied' })
  add(g, { name: 'agent starts a transcription into another bucket', as, action: start, resource: '*', context: output('attacker-bucket', `tenants/${conv}/transcripts/${digest}.json`), expect: 'Denied' })
  add(g, { name: "agent starts a transcription into Transcribe's own bucket (no output bucket)", as, action: start, resource: '*', expect: 'Denied' })
  const get = 'transcribe:GetTranscriptionJob'
  add(g, { name: 'agent reads a transcription job with its own prefix', as, action: get, resource: job(`${TENANT}-${BOT}-${digest}`), expect: 'Allowed' })
  add(g, { name: "agent reads a transcription job with another tenant's prefix", as, action: get, resource: job(`${OTHER_TENANT}-${OTHER_BOT}-${digest}`), expect: 'Denied' })
  add(g, { name: 'agent reads a transcription job of another bot of its tenant', as, action: get, resource: job(`${TENANT}-${OTHER_BOT}-${digest}`), expect: 'Denied' })
  add(g, { name: 'agent reads a transcription job without a prefix', as, action: get, resource: job(digest), expect: 'Denied' })
  add(g, { name: 'agent lists every transcription job', as, action: 'transcribe:ListTranscriptionJobs', resource: '*', expect: 'Denied' })
  add(g, { name: 'agent writes a transcript under its conversation', as, action: 's3:PutObject', resource: mem(`${conv}/transcripts/${digest}.json`), context: tls, expect: 'Allowed' })
  add(g, { name: "agent writes a transcript under another conversation", as, action: 's3:PutObject', resource: mem(`${otherConv}/transcripts/${digest}.json`), context: tls, expect: 'Denied' })
}

// --- MCP servers: their secret headers live under the bot's parameters; the dispatcher reads
// them and hands a run its own bot's; no agent, and no other function, reads any of them.
{
  const g = 'mcp secret headers'
  const own = param(`tenants/${TENANT}/bots/${BOT}/mcp/crm`)
  const otherBot = param(`tenants/${TENANT}/bots/${OTHER_BOT}/mcp/crm`)
  const otherTenant = param(`tenants/${OTHER_TENANT}/bots/${OTHER_BOT}/mcp/crm`)
  add(g, { name: "dispatcher reads a bot's MCP header", as: 'DispatcherFunctionRole', action: 'ssm:GetParameter', resource: own, expect: 'Allowed' })
  add(g, { name: 'dispatcher writes an MCP header', as: 'DispatcherFunctionRole', action: 'ssm:PutParameter', resource: own, expect: 'Denied' })
  add(g, { name: "dispatcher reads every parameter under a bot's MCP path", as: 'DispatcherFunctionRole', action: 'ssm:GetParametersByPath', resource: param(`tenants/${TENANT}/bots/${BOT}/mcp`), expect: 'Denied' })
  for (const [who, as] of [['webhook', 'WebhookFunctionRole'], ['reply', 'ReplyFunctionRole'], ['scheduler', 'SchedulerFunctionRole'], ['approval timeout', 'ApprovalTimeoutFunctionRole']]) {
    add(g, { name: `${who} reads a bot's MCP header`, as, action: 'ssm:GetParameter', resource: own, expect: 'Denied' })
  }
  const as = 'tenant'
  add(g, { name: "agent reads its own bot's MCP header", as, action: 'ssm:GetParameter', resource: own, expect: 'Denied' })
  add(g, { name: "agent reads another bot's MCP header", as, action: 'ssm:GetParameter', resource: otherBot, expect: 'Denied' })
  add(g, { name: "agent reads another tenant's MCP header", as, action: 'ssm:GetParameter', resource: otherTenant, expect: 'Denied' })
  add(g, { name: "agent lists its bot's MCP parameters", as, action: 'ssm:GetParametersByPath', resource: param(`tenants/${TENANT}/bots/${BOT}/mcp`), expect: 'Denied' })
  add(g, { name: "agent reads its bot's record (where the MCP servers are listed)", as, action: 'dynamodb:Query', resource: TABLE, context: leading(`BOT#${BOT}`), expect: 'Denied' })
}

// --- the trust policy of the tenant-access role: the dispatcher, with both tags, and nobody else.
{
  const g = 'tenant-access trust policy'
  const as = 'DispatcherFunctionRole'
  add(g, { name: 'dispatcher assumes it with tenant_id and bot_id', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Allowed' })
  add(g, { name: 'dispatcher tags the session with tenant_id and bot_id', as, action: 'sts:TagSession', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Allowed' })
  add(g, { name: 'dispatcher assumes it without bot_id', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: requestTags({ tenant_id: TENANT }), expect: 'Denied' })
  add(g, { name: 'dispatcher assumes it without tenant_id', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: requestTags({ bot_id: BOT }), expect: 'Denied' })
  add(g, { name: 'dispatcher assumes it without tags', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, expect: 'Denied' })
  add(g, { name: 'dispatcher assumes it with a malformed tenant tag', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: requestTags({ tenant_id: 'TENANT#x', bot_id: BOT }), expect: 'Denied' })
  for (const other of ['AgentRole', 'WebhookFunctionRole', 'ReplyFunctionRole', 'SchedulerFunctionRole', 'ApprovalTimeoutFunctionRole', 'SchedulerRole', 'ApprovalSchedulerRole'])
    add(g, { name: `${other} assumes it with both tags`, as: other, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Denied' })
  add(g, {
    name: 'agent role assumes it even with an identity grant (the trust policy alone refuses)',
    as: 'AgentRole', identity: [{ name: 'allow-all', policy: ALLOW_ALL }],
    action: 'sts:AssumeRole', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Denied'
  })
  add(g, { name: 'AgentCore service assumes it', as: 'service:bedrock-agentcore.amazonaws.com', action: 'sts:AssumeRole', resource: TENANT_ROLE, context: { 'aws:SourceAccount': ACCOUNT, ...OWN_TAGS }, expect: 'Denied' })
}

// --- the other trust policies.
{
  const g = 'service trust policies'
  add(g, { name: 'EventBridge Scheduler assumes the scheduler role from this account', as: 'service:scheduler.amazonaws.com', action: 'sts:AssumeRole', resource: SCHEDULER_ROLE, context: { 'aws:SourceAccount': ACCOUNT }, expect: 'Allowed' })
  add(g, { name: 'EventBridge Scheduler assumes the scheduler role for another account', as: 'service:scheduler.amazonaws.com', action: 'sts:AssumeRole', resource: SCHEDULER_ROLE, context: { 'aws:SourceAccount': '210987654321' }, expect: 'Denied' })
  add(g, { name: 'EventBridge Scheduler assumes the approval role for another account', as: 'service:scheduler.amazonaws.com', action: 'sts:AssumeRole', resource: APPROVAL_ROLE, context: { 'aws:SourceAccount': '210987654321' }, expect: 'Denied' })
  add(g, { name: 'AgentCore assumes the agent role for a runtime of this account', as: 'service:bedrock-agentcore.amazonaws.com', action: 'sts:AssumeRole', resource: role('AgentRole'), context: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:runtime/clawless_agent-abc123` }, expect: 'Allowed' })
  add(g, { name: 'AgentCore assumes the agent role for another account', as: 'service:bedrock-agentcore.amazonaws.com', action: 'sts:AssumeRole', resource: role('AgentRole'), context: { 'aws:SourceAccount': '210987654321', 'aws:SourceArn': `arn:aws:bedrock-agentcore:${REGION}:210987654321:runtime/x-abc123` }, expect: 'Denied' })
  add(g, { name: 'Lambda assumes the tenant-access role', as: 'service:lambda.amazonaws.com', action: 'sts:AssumeRole', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Denied' })
}

// --- the trusted functions' roles.
{
  const g = 'function roles'
  add(g, { name: 'webhook reads the scope key', as: 'WebhookFunctionRole', action: 'secretsmanager:GetSecretValue', resource: SCOPE_KEY, expect: 'Denied' })
  add(g, { name: 'webhook sends to the reply queue', as: 'WebhookFunctionRole', action: 'sqs:SendMessage', resource: REPLY_QUEUE, expect: 'Denied' })
  add(g, { name: 'webhook sends to the inbound queue', as: 'WebhookFunctionRole', action: 'sqs:SendMessage', resource: INBOUND_QUEUE, expect: 'Allowed' })
  add(g, { name: 'webhook reads a channel secret', as: 'WebhookFunctionRole', action: 'ssm:GetParameter', resource: OWN_CHANNEL_SECRET, expect: 'Allowed' })
  add(g, { name: 'webhook reads a tenant profile', as: 'WebhookFunctionRole', action: 'ssm:GetParameter', resource: OWN_PROFILE, expect: 'Denied' })
  add(g, { name: 'reply function reads a tenant profile', as: 'ReplyFunctionRole', action: 'ssm:GetParameter', resource: OWN_PROFILE, expect: 'Denied' })
  // Approval notices worded per tenant: the reply function reads the wording, and only it asks
  // the summary model, that model only.
  add(g, { name: "reply function reads a tenant's notice wording", as: 'ReplyFunctionRole', action: 'ssm:GetParameter', resource: OWN_NOTICE, expect: 'Allowed' })
  add(g, { name: "reply function writes a tenant's notice wording", as: 'ReplyFunctionRole', action: 'ssm:PutParameter', resource: OWN_NOTICE, expect: 'Denied' })
  add(g, { name: 'reply function reads another path under approvals', as: 'ReplyFunctionRole', action: 'ssm:GetParameter', resource: param(`tenants/${TENANT}/approvals/other`), expect: 'Denied' })
  add(g, { name: 'reply function asks the notice summary model', as: 'ReplyFunctionRole', action: 'bedrock:InvokeModel', resource: FOUNDATION_MODEL, expect: 'Allowed' })
  add(g, { name: 'reply function asks another model', as: 'ReplyFunctionRole', action: 'bedrock:InvokeModel', resource: OTHER_MODEL, expect: 'Denied' })
  add(g, { name: 'reply function streams from the notice summary model', as: 'ReplyFunctionRole', action: 'bedrock:InvokeModelWithResponseStream', resource: FOUNDATION_MODEL, expect: 'Denied' })
  for (const fn of ['WebhookFunctionRole', 'DispatcherFunctionRole', 'SchedulerFunctionRole', 'ApprovalTimeoutFunctionRole']) {
    add(g, { name: `${fn} asks the notice summary model`, as: fn, action: 'bedrock:InvokeModel', resource: FOUNDATION_MODEL, expect: 'Denied' })
    add(g, { name: `${fn} reads a tenant's notice wording`, as: fn, action: 'ssm:GetParameter', resource: OWN_NOTICE, expect: 'Denied' })
  }
  for (const fn of ['ReplyFunctionRole', 'DispatcherFunctionRole', 'SchedulerFunctionRole', 'ApprovalTimeoutFunctionRole'])
    add(g, { name: `${fn} reads the scope key`, as: fn, action: 'secretsmanager:GetSecretValue', resource: SCOPE_KEY, expect: 'Allowed' })
  for (const r of ['SchedulerRole', 'ApprovalSchedulerRole'])
    add(g, { name: `${r} reads the scope key`, as: r, action: 'secretsmanager:GetSecretValue', resource: SCOPE_KEY, expect: 'Denied' })
  add(g, { name: 'SchedulerRole invokes the scheduler function', as: 'SchedulerRole', action: 'lambda:InvokeFunction', resource: lambdaFn('SchedulerFunction'), expect: 'Allowed' })
  add(g, { name: 'SchedulerRole invokes the dispatcher', as: 'SchedulerRole', action: 'lambda:InvokeFunction', resource: lambdaFn('DispatcherFunction'), expect: 'Denied' })
  add(g, { name: 'SchedulerRole invokes the approval-timeout function', as: 'SchedulerRole', action: 'lambda:InvokeFunction', resource: lambdaFn('ApprovalTimeoutFunction'), expect: 'Denied' })
  add(g, { name: 'SchedulerRole sends to the inbound queue', as: 'SchedulerRole', action: 'sqs:SendMessage', resource: INBOUND_QUEUE, expect: 'Denied' })
  add(g, { name: 'ApprovalSchedulerRole invokes the approval-timeout function', as: 'ApprovalSchedulerRole', action: 'lambda:InvokeFunction', resource: lambdaFn('ApprovalTimeoutFunction'), expect: 'Allowed' })
  add(g, { name: 'ApprovalSchedulerRole invokes the scheduler function', as: 'ApprovalSchedulerRole', action: 'lambda:InvokeFunction', resource: lambdaFn('SchedulerFunction'), expect: 'Denied' })
  // Scheduler delivers an undeliverable firing to the DLQ as the schedule's role; Lambda delivers
  // a failed asynchronous invocation as the function's role.
  for (const r of ['SchedulerRole', 'ApprovalSchedulerRole', 'SchedulerFunctionRole', 'ApprovalTimeoutFunctionRole'])
    add(g, { name: `${r} sends to the schedule DLQ`, as: r, action: 'sqs:SendMessage', resource: SCHEDULE_DLQ, expect: 'Allowed' })
  add(g, { name: 'ApprovalSchedulerRole sends to the reply queue', as: 'ApprovalSchedulerRole', action: 'sqs:SendMessage', resource: REPLY_QUEUE, expect: 'Denied' })
  add(g, { name: 'webhook sends to the schedule DLQ', as: 'WebhookFunctionRole', action: 'sqs:SendMessage', resource: SCHEDULE_DLQ, expect: 'Denied' })
  add(g, { name: 'scheduler function passes the scheduler role', as: 'SchedulerFunctionRole', action: 'iam:PassRole', resource: SCHEDULER_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Allowed' })
  add(g, { name: 'reply function passes the approval scheduler role', as: 'ReplyFunctionRole', action: 'iam:PassRole', resource: APPROVAL_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Allowed' })
  add(g, { name: 'reply function passes the scheduler role', as: 'ReplyFunctionRole', action: 'iam:PassRole', resource: SCHEDULER_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Denied' })
  for (const r of Object.keys(TEMPLATE.principals))
    for (const service of ['scheduler.amazonaws.com', 'lambda.amazonaws.com', 'bedrock-agentcore.amazonaws.com'])
      add(g, { name: `${r} passes the tenant-access role to ${service}`, as: r, action: 'iam:PassRole', resource: TENANT_ROLE, context: { 'iam:PassedToService': service }, expect: 'Denied' })
}

// --- the admin API (the console's backend): what it needs for its tenants' data and users, and
// nothing of the agents' or another stack's.
{
  const g = 'admin API function role'
  const as = 'AdminFunctionRole'
  const own = leading(`${TENANT}#BOT`)
  for (const action of ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem', 'BatchWriteItem'])
    add(g, { name: `admin ${action} on the data table`, as, action: `dynamodb:${action}`, resource: TABLE, context: own, expect: 'Allowed' })
  add(g, { name: 'admin scans the data table', as, action: 'dynamodb:Scan', resource: TABLE, expect: 'Denied' })
  add(g, { name: 'admin reads another stack\'s table', as, action: 'dynamodb:GetItem', resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/other-data`, context: own, expect: 'Denied' })
  add(g, { name: 'admin reads the table with PartiQL', as, action: 'dynamodb:PartiQLSelect', resource: TABLE, expect: 'Denied' })
  for (const action of ['GetParameter', 'PutParameter', 'DeleteParameter']) {
    add(g, { name: `admin ${action} a channel secret`, as, action: `ssm:${action}`, resource: OWN_CHANNEL_SECRET, expect: 'Allowed' })
    add(g, { name: `admin ${action} a profile`, as, action: `ssm:${action}`, resource: OWN_PROFILE, expect: 'Allowed' })
    add(g, { name: `admin ${action} under another stack's tenants`, as, action: `ssm:${action}`, resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/clawless/other/tenants/${TENANT}/profile`, expect: 'Denied' })
  }
  add(g, { name: 'admin reads the API URL', as, action: 'ssm:GetParameter', resource: param('platform/api-url'), expect: 'Allowed' })
  add(g, { name: 'admin writes the API URL', as, action: 'ssm:PutParameter', resource: param('platform/api-url'), expect: 'Denied' })
  add(g, { name: 'admin lists parameters by path', as, action: 'ssm:GetParametersByPath', resource: param('tenants'), expect: 'Denied' })
  for (const queue of [REPLY_QUEUE, INBOUND_QUEUE])
    add(g, { name: `admin sends to ${queue.split(':').pop()}`, as, action: 'sqs:SendMessage', resource: queue, expect: 'Allowed' })
  add(g, { name: 'admin sends to the schedule DLQ', as, action: 'sqs:SendMessage', resource: SCHEDULE_DLQ, expect: 'Denied' })
  add(g, { name: 'admin sends to another queue', as, action: 'sqs:SendMessage', resource: `arn:aws:sqs:${REGION}:${ACCOUNT}:other-inbound.fifo`, expect: 'Denied' })
  add(g, { name: 'admin receives from the inbound queue', as, action: 'sqs:ReceiveMessage', resource: INBOUND_QUEUE, expect: 'Denied' })
  for (const action of ['GetSchedule', 'UpdateSchedule', 'DeleteSchedule'])
    add(g, { name: `admin ${action} a task schedule`, as, action: `scheduler:${action}`, resource: schedule(`${TENANT}-${BOT}-0123456789abcdef0123`), expect: 'Allowed' })
  add(g, { name: 'admin deletes an approval timeout', as, action: 'scheduler:DeleteSchedule', resource: schedule('apr-r0123456789abcdef0123'), expect: 'Allowed' })
  add(g, { name: 'admin creates a schedule', as, action: 'scheduler:CreateSchedule', resource: schedule(`${TENANT}-${BOT}-0123456789abcdef0123`), expect: 'Denied' })
  add(g, { name: 'admin updates a schedule of another group', as, action: 'scheduler:UpdateSchedule', resource: schedule(`${TENANT}-${BOT}-0123456789abcdef0123`, 'other'), expect: 'Denied' })
  add(g, { name: 'admin passes the scheduler role to Scheduler', as, action: 'iam:PassRole', resource: SCHEDULER_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Allowed' })
  add(g, { name: 'admin passes the scheduler role to Lambda', as, action: 'iam:PassRole', resource: SCHEDULER_ROLE, context: { 'iam:PassedToService': 'lambda.amazonaws.com' }, expect: 'Denied' })
  add(g, { name: 'admin passes the approval scheduler role', as, action: 'iam:PassRole', resource: APPROVAL_ROLE, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' }, expect: 'Denied' })
  add(g, { name: 'admin reads the scope key', as, action: 'secretsmanager:GetSecretValue', resource: SCOPE_KEY, expect: 'Allowed' })
  add(g, { name: 'admin reads another secret', as, action: 'secretsmanager:GetSecretValue', resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:other/scope-key-AbCdEf`, expect: 'Denied' })
  for (const action of ['AdminCreateUser', 'AdminDeleteUser', 'AdminGetUser', 'AdminSetUserPassword', 'AdminUpdateUserAttributes']) {
    add(g, { name: `admin ${action} in its pool`, as, action: `cognito-idp:${action}`, resource: USER_POOL, expect: 'Allowed' })
    add(g, { name: `admin ${action} in another pool`, as, action: `cognito-idp:${action}`, resource: OTHER_USER_POOL, expect: 'Denied' })
  }
  // Group membership (platform-admin) is given by hand, never by the API.
  for (const action of ['AdminAddUserToGroup', 'AdminRemoveUserFromGroup', 'CreateGroup', 'UpdateUserPoolClient', 'UpdateUserPool', 'DeleteUserPool', 'ListUsers'])
    add(g, { name: `admin ${action} in its pool`, as, action: `cognito-idp:${action}`, resource: USER_POOL, expect: 'Denied' })
  add(g, { name: 'admin memory bucket read', as, action: 's3:GetObject', resource: OWN_BOT_MEMORY, expect: 'Denied' })
  add(g, { name: 'admin memory bucket delete', as, action: 's3:DeleteObject', resource: OWN_CONVERSATION_MEMORY, expect: 'Denied' })
  add(g, { name: 'admin writes the console', as, action: 's3:PutObject', resource: `${CONSOLE_BUCKET}/index.html`, expect: 'Denied' })
  add(g, { name: 'admin invokes the agent runtime', as, action: 'bedrock-agentcore:InvokeAgentRuntime', resource: `arn:aws:bedrock-agentcore:${REGION}:${ACCOUNT}:runtime/clawless_agent-abc123`, expect: 'Denied' })
  add(g, { name: 'admin asks a model', as, action: 'bedrock:InvokeModel', resource: FOUNDATION_MODEL, expect: 'Denied' })
  add(g, { name: 'admin assumes the tenant-access role', as, action: 'sts:AssumeRole', resource: TENANT_ROLE, context: OWN_TAGS, expect: 'Denied' })
  add(g, { name: 'admin invokes a function', as, action: 'lambda:InvokeFunction', resource: lambdaFn('DispatcherFunction'), expect: 'Denied' })
  // No other principal manages the console's users.
  for (const other of ['WebhookFunctionRole', 'DispatcherFunctionRole', 'ReplyFunctionRole', 'SchedulerFunctionRole', 'ApprovalTimeoutFunctionRole', 'AgentRole', 'SchedulerRole', 'ApprovalSchedulerRole'])
    add(g, { name: `${other} creates a console user`, as: other, action: 'cognito-idp:AdminCreateUser', resource: USER_POOL, expect: 'Denied' })
  add(g, { name: 'tenant credentials create a console user', as: 'tenant', action: 'cognito-idp:AdminCreateUser', resource: USER_POOL, expect: 'Denied' })
}

// --- long-term memory in AgentCore Memory (MemoryBackend agentcore): the agent builds the actor
// id, session id and namespace from its conversation, but IAM holds them to its session tags.
{
  const g = 'tenant credentials: long-term memory'
  const actor = (t, b) => `${t}-${b}`
  const session = (t, b) => `${t}-${b}-c0123456789abcdef0123456789abcdef`
  const namespace = (t, b) => `/actors/${t}-${b}/facts`
  const event = (a, s) => ({ 'bedrock-agentcore:actorId': a, 'bedrock-agentcore:sessionId': s })
  const search = (ns) => ({ 'bedrock-agentcore:namespace': ns })
  const create = 'bedrock-agentcore:CreateEvent'
  const retrieve = 'bedrock-agentcore:RetrieveMemoryRecords'
  let as = 'tenant'
  add(g, { name: 'agent stores an event as its own bot in its own session', as, action: create, resource: MEMORY, context: event(actor(TENANT, BOT), session(TENANT, BOT)), expect: 'Allowed' })
  add(g, { name: "agent stores an event as another tenant's bot", as, action: create, resource: MEMORY, context: event(actor(OTHER_TENANT, OTHER_BOT), session(TENANT, BOT)), expect: 'Denied' })
  add(g, { name: 'agent stores an event as another bot of its tenant', as, action: create, resource: MEMORY, context: event(actor(TENANT, OTHER_BOT), session(TENANT, BOT)), expect: 'Denied' })
  add(g, { name: "agent stores an event in another tenant's session", as, action: create, resource: MEMORY, context: event(actor(TENANT, BOT), session(OTHER_TENANT, OTHER_BOT)), expect: 'Denied' })
  add(g, { name: 'agent stores an event as a prefix of its actor', as, action: create, resource: MEMORY, context: event(TENANT, session(TENANT, BOT)), expect: 'Denied' })
  add(g, { name: 'agent stores an event without an actor id', as, action: create, resource: MEMORY, context: { 'bedrock-agentcore:sessionId': session(TENANT, BOT) }, expect: 'Denied' })
  add(g, { name: 'agent stores an event in another memory', as, action: create, resource: OTHER_MEMORY, context: event(actor(TENANT, BOT), session(TENANT, BOT)), expect: 'Denied' })
  add(g, { name: "agent searches its own bot's namespace", as, action: retrieve, resource: MEMORY, context: search(namespace(TENANT, BOT)), expect: 'Allowed' })
  add(g, { name: "agent searches another tenant's namespace", as, action: retrieve, resource: MEMORY, context: search(namespace(OTHER_TENANT, OTHER_BOT)), expect: 'Denied' })
  add(g, { name: "agent searches another bot's namespace of its tenant", as, action: retrieve, resource: MEMORY, context: search(namespace(TENANT, OTHER_BOT)), expect: 'Denied' })
  add(g, { name: 'agent searches the parent of every namespace', as, action: retrieve, resource: MEMORY, context: search('/actors/'), expect: 'Denied' })
  add(g, { name: 'agent searches by namespace path (no namespace)', as, action: retrieve, resource: MEMORY, expect: 'Denied' })
  add(g, { name: "agent searches its own namespace in another memory", as, action: retrieve, resource: OTHER_MEMORY, context: search(namespace(TENANT, BOT)), expect: 'Denied' })
  add(g, { name: 'agent lists its own records', as, action: 'bedrock-agentcore:ListMemoryRecords', resource: MEMORY, context: search(namespace(TENANT, BOT)), expect: 'Denied' })
  add(g, { name: 'agent lists the events of its own session', as, action: 'bedrock-agentcore:ListEvents', resource: MEMORY, context: event(actor(TENANT, BOT), session(TENANT, BOT)), expect: 'Denied' })
  // Record and event ids name no actor or namespace: none of these may be granted at all.
  for (const action of ['GetMemoryRecord', 'DeleteMemoryRecord', 'BatchCreateMemoryRecords', 'BatchUpdateMemoryRecords', 'GetEvent', 'DeleteEvent', 'ListActors', 'ListSessions', 'StartMemoryExtractionJob', 'GetMemory', 'UpdateMemory', 'DeleteMemory'])
    add(g, { name: `agent ${action}`, as, action: `bedrock-agentcore:${action}`, resource: MEMORY, expect: 'Denied' })
  for (const action of ['CreateMemory', 'ListMemories'])
    add(g, { name: `agent ${action}`, as, action: `bedrock-agentcore:${action}`, resource: '*', expect: 'Denied' })
  as = 'AgentRole'
  add(g, { name: 'the microVM role stores an event as the bot', as, action: create, resource: MEMORY, context: event(actor(TENANT, BOT), session(TENANT, BOT)), expect: 'Denied' })
  add(g, { name: "the microVM role searches the bot's namespace", as, action: retrieve, resource: MEMORY, context: search(namespace(TENANT, BOT)), expect: 'Denied' })
  as = 'DispatcherFunctionRole'
  add(g, { name: "the dispatcher searches a bot's namespace", as, action: retrieve, resource: MEMORY, context: search(namespace(TENANT, BOT)), expect: 'Denied' })
}

// --- the console bucket: CloudFront (this distribution, through its origin access control) reads
// it; nothing is public; plain HTTP is refused.
{
  const g = 'console bucket'
  add(g, { name: 'this distribution reads the console', as: 'service:cloudfront.amazonaws.com', action: 's3:GetObject', resource: `${CONSOLE_BUCKET}/index.html`, context: { 'aws:SourceArn': CONSOLE_DISTRIBUTION, 'aws:SecureTransport': 'true' }, expect: 'Allowed' })
  add(g, { name: 'another distribution reads the console', as: 'service:cloudfront.amazonaws.com', action: 's3:GetObject', resource: `${CONSOLE_BUCKET}/index.html`, context: { 'aws:SourceArn': `arn:aws:cloudfront::210987654321:distribution/EOTHER1234567`, 'aws:SecureTransport': 'true' }, expect: 'Denied' })
  add(g, { name: 'this distribution writes the console', as: 'service:cloudfront.amazonaws.com', action: 's3:PutObject', resource: `${CONSOLE_BUCKET}/index.html`, context: { 'aws:SourceArn': CONSOLE_DISTRIBUTION, 'aws:SecureTransport': 'true' }, expect: 'Denied' })
  add(g, { name: 'this distribution lists the console bucket', as: 'service:cloudfront.amazonaws.com', action: 's3:ListBucket', resource: CONSOLE_BUCKET, context: { 'aws:SourceArn': CONSOLE_DISTRIBUTION, 'aws:SecureTransport': 'true' }, expect: 'Denied' })
}

// ------------------------------------------------------------------ running them

export async function run(s, overrides = {}) {
  const c = caller(s.as)
  const request = { principal: c.principal, action: s.action, resource: s.resource, context: { ...c.context, ...(s.context ?? {}) } }
  const policies = {
    identity: overrides.identity ?? s.identity ?? c.identity,
    session: 'session' in overrides ? overrides.session : c.session,
    resource: 'resource' in overrides ? overrides.resource : resourcePolicy(s.action, s.resource, s.resourcePolicy)
  }
  return { verdict: await evaluate(request, policies), caller: c, request, policies }
}
