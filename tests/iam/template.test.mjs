// The inputs of the attack suite: that template.mjs resolves the template as the scenarios
// assume, that the template wires the roles the way the scenarios model them, and that
// session-policy.json is what the dispatcher sends.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseTemplate, loadTemplate } from './template.mjs'
import { BOT, CHANNEL, CONVERSATION, SESSION_POLICY, SESSION_POLICY_TEXT, TEMPLATE, TENANT, principal } from './simulate.mjs'
import {
  BUCKET,
  AGENT_REPOSITORY,
  INBOUND_QUEUE,
  REPLY_QUEUE,
  SCHEDULE_DLQ,
  SCHEDULER_ROLE,
  APPROVAL_ROLE,
  CONSOLE_BUCKET,
  CONSOLE_DISTRIBUTION,
  SCOPE_KEY,
  USER_POOL,
  TABLE,
  TENANT_ROLE,
  lambdaFn,
  role,
  scenarios
} from './scenarios.mjs'

const fnEnv = (id) => TEMPLATE.resolve(TEMPLATE.template.Resources[id].Properties.Environment.Variables, `${id}.Environment`)

describe('template.yaml as the scenarios model it', () => {
  test('every principal of the stack is there, one role per function', () => {
    const resources = TEMPLATE.template.Resources
    const functions = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::Serverless::Function')
    assert.ok(functions.length >= 5, `functions: ${functions}`)
    for (const id of ['AgentRole', 'TenantAccessRole', 'SchedulerRole', 'ApprovalSchedulerRole', ...functions.map((f) => `${f}Role`)]) {
      assert.ok(principal(id).identityPolicies.length > 0, `${id} has no policies`)
    }
  })

  test('every principal a scenario names is in the template', () => {
    for (const s of scenarios) {
      if (s.as === 'tenant' || s.as.startsWith('service:')) continue
      assert.doesNotThrow(() => principal(s.as), s.name)
    }
  })

  test("the scenarios' ARNs are the template's", () => {
    assert.equal(TEMPLATE.getAtt('DataTable', 'Arn'), TABLE)
    assert.equal(TEMPLATE.ref('DataTable'), 'clawless-data')
    assert.equal(TEMPLATE.getAtt('MemoryBucket', 'Arn'), BUCKET)
    assert.equal(TEMPLATE.getAtt('ReplyQueue', 'Arn'), REPLY_QUEUE)
    assert.equal(TEMPLATE.getAtt('InboundQueue', 'Arn'), INBOUND_QUEUE)
    assert.equal(TEMPLATE.ref('ReplyQueue'), 'https://sqs.us-east-1.amazonaws.com/123456789012/clawless-reply.fifo')
    assert.equal(TEMPLATE.ref('ScopeKeySecret'), SCOPE_KEY)
    assert.equal(TEMPLATE.ref('ScheduleGroup'), 'clawless')
    assert.equal(TEMPLATE.getAtt('ScheduleDeadLetterQueue', 'Arn'), SCHEDULE_DLQ)
    assert.equal(TEMPLATE.getAtt('AgentRepository', 'Arn'), AGENT_REPOSITORY)
    assert.equal(principal('TenantAccessRole').arn, TENANT_ROLE)
    assert.equal(principal('SchedulerRole').arn, SCHEDULER_ROLE)
    assert.equal(principal('ApprovalSchedulerRole').arn, APPROVAL_ROLE)
    assert.equal(principal('AgentRole').arn, role('AgentRole'))
    for (const f of ['SchedulerFunction', 'DispatcherFunction', 'ApprovalTimeoutFunction'])
      assert.equal(TEMPLATE.getAtt(f, 'Arn'), lambdaFn(f))
    assert.equal(
      TEMPLATE.getAtt('AgentRuntime', 'AgentRuntimeArn'),
      'arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/clawless_agent-abc123'
    )
  })

  test('the dispatcher assumes the tenant-access role and narrows the memory bucket the session policy names', () => {
    const env = fnEnv('DispatcherFunction')
    assert.equal(env.CLAWLESS_TENANT_ROLE_ARN, TENANT_ROLE)
    assert.equal(env.CLAWLESS_MEMORY_BUCKET_ARN, BUCKET)
    assert.equal(env.CLAWLESS_SCOPE_KEY_SECRET, SCOPE_KEY)
  })

  test('the admin API names its own pool, queues, group and scope key, and never the HTTP API', () => {
    assert.equal(TEMPLATE.getAtt('UserPool', 'Arn'), USER_POOL)
    assert.equal(TEMPLATE.getAtt('ConsoleBucket', 'Arn'), CONSOLE_BUCKET)
    assert.equal(
      `arn:aws:cloudfront::123456789012:distribution/${TEMPLATE.ref('ConsoleDistribution')}`,
      CONSOLE_DISTRIBUTION
    )
    const env = fnEnv('AdminFunction')
    assert.equal(env.CLAWLESS_COGNITO_USER_POOL_ID, TEMPLATE.ref('UserPool'))
    assert.equal(env.CLAWLESS_COGNITO_ISSUER, `https://cognito-idp.us-east-1.amazonaws.com/${TEMPLATE.ref('UserPool')}`)
    assert.equal(env.CLAWLESS_REPLY_QUEUE_URL, TEMPLATE.ref('ReplyQueue'))
    assert.equal(env.CLAWLESS_INBOUND_QUEUE_URL, TEMPLATE.ref('InboundQueue'))
    assert.equal(env.CLAWLESS_SCHEDULE_GROUP, 'clawless')
    assert.equal(env.CLAWLESS_SCOPE_KEY_SECRET, SCOPE_KEY)
    assert.equal(env.CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN, APPROVAL_ROLE)
    assert.ok(!JSON.stringify(TEMPLATE.template.Resources.AdminFunction.Properties.Environment).includes('HttpApi'))
    // The console's app client can never write the claims the API trusts.
    const client = TEMPLATE.template.Resources.UserPoolClient.Properties
    assert.ok(!client.WriteAttributes.some((a) => a.startsWith('custom:')), client.WriteAttributes.join(', '))
    assert.equal(client.GenerateSecret, false)
  })

  test('the agent runtime runs as AgentRole and passes SchedulerRole to its schedules', () => {
    const props = TEMPLATE.resolve(TEMPLATE.template.Resources.AgentRuntime.Properties, 'AgentRuntime')
    assert.equal(props.RoleArn, principal('AgentRole').arn)
    assert.equal(props.EnvironmentVariables.CLAWLESS_SCHEDULER_ROLE_ARN, SCHEDULER_ROLE)
    assert.equal(props.EnvironmentVariables.CLAWLESS_SCHEDULER_FUNCTION_ARN, lambdaFn('SchedulerFunction'))
    assert.equal(props.EnvironmentVariables.CLAWLESS_SCHEDULE_DLQ_ARN, SCHEDULE_DLQ)
    // With the default parameters the image is AgentImageTag in the stack's repository, the one
    // repository AgentRole may pull from.
    assert.equal(
      props.AgentRuntimeArtifact.ContainerConfiguration.ContainerUri,
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/clawless-agentrepository-a1b2c3d4e5f6:v1'
    )
    // The agent no longer assumes anything itself.
    assert.equal(props.EnvironmentVariables.CLAWLESS_TENANT_ROLE_ARN, undefined)
  })

  test('the tenant-access trust policy trusts the dispatcher role only, and only with both tags', () => {
    const trust = principal('TenantAccessRole').trustPolicy
    const statements = [trust.Statement].flat()
    const allows = statements.filter((s) => s.Effect === 'Allow')
    assert.ok(allows.length > 0)
    for (const s of allows) {
      assert.deepEqual(Object.keys(s.Principal), ['AWS'], 'only an AWS principal')
      assert.deepEqual([s.Principal.AWS].flat(), [principal('DispatcherFunctionRole').arn])
      const like = s.Condition?.StringLike ?? {}
      assert.equal(like['aws:RequestTag/tenant_id'], 't*')
      assert.equal(like['aws:RequestTag/bot_id'], 'b*')
      assert.equal(s.NotPrincipal, undefined)
    }
    assert.ok(!JSON.stringify(trust).includes(principal('AgentRole').arn), 'the trust policy names AgentRole')
    assert.ok(!JSON.stringify(trust).includes(':root'), 'the trust policy trusts a whole account')
  })
})

describe('session-policy.json', () => {
  test('is byte-stable: 2-space JSON, LF line ends, one trailing newline', () => {
    assert.ok(SESSION_POLICY_TEXT.endsWith('}\n') && !SESSION_POLICY_TEXT.endsWith('\n\n'))
    assert.ok(!SESSION_POLICY_TEXT.includes('\r') && !SESSION_POLICY_TEXT.includes('\t'))
    for (const line of SESSION_POLICY_TEXT.trimEnd().split('\n')) {
      const indent = line.length - line.trimStart().length
      assert.equal(indent % 2, 0, `odd indent: ${line}`)
      assert.equal(line, line.trimEnd(), `trailing space: ${line}`)
    }
  })

  test('fits the 2,048-character limit STS sets on a session policy', () => {
    assert.ok(SESSION_POLICY_TEXT.length <= 2048, `${SESSION_POLICY_TEXT.length} characters`)
    assert.ok(JSON.stringify(SESSION_POLICY).length <= 2048)
  })

  test("names the template's memory bucket and the scenarios' tenant, bot and conversation", () => {
    const s3 = SESSION_POLICY.Statement.flatMap((s) => [s.Resource].flat()).filter((r) => r.startsWith('arn:aws:s3:::'))
    assert.equal(s3.length, 4)
    for (const r of s3) assert.ok(r.startsWith(`${BUCKET}/tenants/${TENANT}/`), r)
    assert.ok(s3.includes(`${BUCKET}/tenants/${TENANT}/bots/${BOT}/conversations/${CHANNEL}/${CONVERSATION}/*`))
    assert.ok(s3.includes(`${BUCKET}/tenants/${TENANT}/bots/${BOT}/skills/*`))
    assert.deepEqual(SESSION_POLICY.Statement.map((s) => s.Sid), ['TenantMemory', 'BotAndConversationMemory', 'OwnBotSkills', 'EverythingButMemory'])
  })
})

describe('long-term memory grants', () => {
  const memoryStatements = (principals) =>
    principals.TenantAccessRole.identityPolicies.flatMap((p) => [p.policy.Statement].flat()).filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('bedrock-agentcore:'))
    )

  test('with the default MemoryBackend (s3) the tenant-access role has no AgentCore Memory grant', () => {
    const defaults = loadTemplate(undefined, {})
    assert.deepEqual(memoryStatements(defaults.principals), [])
  })

  test('with agentcore it may only CreateEvent and RetrieveMemoryRecords, on the one memory, under conditions', () => {
    const statements = memoryStatements(TEMPLATE.principals)
    assert.deepEqual(statements.flatMap((s) => [s.Action].flat()).sort(), ['bedrock-agentcore:CreateEvent', 'bedrock-agentcore:RetrieveMemoryRecords'])
    for (const s of statements) {
      assert.equal(s.Effect, 'Allow')
      assert.match(String(s.Resource), /^arn:aws:bedrock-agentcore:us-east-1:123456789012:memory\/[^*]+$/)
      assert.ok(s.Condition, `${s.Sid} has no condition`)
    }
  })
})

describe('template.mjs resolver', () => {
  test('parses the short-form tags into their long forms', () => {
    const t = parseTemplate('a: !Ref X\nb: !GetAtt R.Arn\nc: !Sub ["${A}", {A: !Ref Y}]\nd: !If [C, !Ref X, !Ref Y]\ne: !Join ["", [a, b]]\n')
    assert.deepEqual(t.a, { Ref: 'X' })
    assert.deepEqual(t.b, { 'Fn::GetAtt': ['R', 'Arn'] })
    assert.deepEqual(t.c, { 'Fn::Sub': ['${A}', { A: { Ref: 'Y' } }] })
    assert.deepEqual(t.d, { 'Fn::If': ['C', { Ref: 'X' }, { Ref: 'Y' }] })
    assert.deepEqual(t.e, { 'Fn::Join': ['', ['a', 'b']] })
  })

  test('keeps ${!Literal} as an IAM policy variable and resolves everything else', () => {
    assert.equal(
      TEMPLATE.resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${MemoryBucket}/tenants/${!aws:PrincipalTag/tenant_id}/x' }),
      `${BUCKET}/tenants/\${aws:PrincipalTag/tenant_id}/x`
    )
    assert.equal(TEMPLATE.resolve({ 'Fn::Sub': ['${A}-${AWS::Region}', { A: { Ref: 'AWS::StackName' } }] }), 'clawless-us-east-1')
  })

  test('fails loudly on what it cannot resolve', () => {
    assert.throws(() => TEMPLATE.resolve({ Ref: 'NoSuchThing' }), /no resource NoSuchThing/)
    assert.throws(() => TEMPLATE.resolve({ 'Fn::GetAtt': ['DataTable', 'StreamArn'] }), /not modelled/)
    assert.throws(() => TEMPLATE.resolve({ 'Fn::ImportValue': 'x' }), /not supported/)
    assert.throws(() => TEMPLATE.resolve({ Ref: 'AWS::NotificationARNs' }), /no fixed value/)
  })

  test('loads the template twice to the same principals (no hidden state)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(loadTemplate().principals)), JSON.parse(JSON.stringify(TEMPLATE.principals)))
  })
})
