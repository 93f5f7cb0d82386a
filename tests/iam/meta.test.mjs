// Meta-tests: the suite can fail. Each one weakens a policy in memory (never template.yaml) and
// shows that a scenario which passes against the real template flips to the wrong verdict.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { principal } from './simulate.mjs'
import { run, scenarios } from './scenarios.mjs'

const clone = (x) => structuredClone(x)

function scenario(name) {
  const s = scenarios.find((x) => x.name === name)
  assert.ok(s, `no scenario named "${name}"`)
  return s
}

test('meta: a LeadingKeys condition weakened to "*" lets tenant A read tenant B\'s grants', async () => {
  const s = scenario("GetItem on another tenant's grants")
  assert.equal((await run(s)).verdict !== 'Allowed', true, 'the real template must deny it')

  const weakened = clone(principal('TenantAccessRole').identityPolicies)
  let changed = 0
  for (const { policy } of weakened) {
    for (const st of [policy.Statement].flat()) {
      for (const [op, keys] of Object.entries(st.Condition ?? {})) {
        if ('dynamodb:LeadingKeys' in keys) {
          delete st.Condition[op]
          st.Condition['ForAllValues:StringLike'] = { 'dynamodb:LeadingKeys': '*' }
          changed++
        }
      }
    }
  }
  assert.ok(changed > 0, 'TenantAccessRole has no LeadingKeys condition to weaken')
  assert.equal((await run(s, { identity: weakened })).verdict, 'Allowed')
})

test('meta: a session policy opened to every conversation lets the agent write another conversation', async () => {
  const s = scenario('PutObject on another conversation of the same bot')
  assert.notEqual((await run(s)).verdict, 'Allowed', 'the real session policy must deny it')

  const session = clone((await run(s)).policies.session)
  let changed = 0
  for (const st of session.Statement) {
    st.Resource = [st.Resource].flat().map((r) => {
      const w = r.replace(/\/conversations\/telegram\/4242\/\*$/, '/conversations/*')
      if (w !== r) changed++
      return w
    })
  }
  assert.equal(changed, 1, 'the session policy has no conversation resource to weaken')
  assert.equal((await run(s, { session })).verdict, 'Allowed')
})

test('meta: a trust policy that also names AgentRole lets the agent assume the tenant-access role', async () => {
  const s = scenario('agent assumes the tenant-access role with its own tags')
  assert.notEqual((await run(s)).verdict, 'Allowed', 'the real trust policy must deny it')

  const trust = clone(principal('TenantAccessRole').trustPolicy)
  for (const st of trust.Statement) st.Principal = { AWS: [st.Principal.AWS, principal('AgentRole').arn].flat() }
  assert.equal((await run(s, { resource: trust })).verdict, 'Allowed')
})

test('meta: a tenant-access role allowed everything fails every tenant scenario its policies decide', async () => {
  // An allow-everything bug must not let the deny scenarios pass vacuously. With the role's
  // policies replaced by allow-all, what stays denied is only what something else decides: S3
  // requests outside the session policy, and STS requests the trust policy refuses.
  const allowAll = [{ name: 'allow-all', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } }]
  const tenantDenied = scenarios.filter((s) => s.as === 'tenant' && s.expect === 'Denied')
  assert.ok(tenantDenied.length >= 30)
  const stillDenied = []
  for (const s of tenantDenied) if ((await run(s, { identity: allowAll })).verdict !== 'Allowed') stillDenied.push(s)
  for (const s of stillDenied) {
    assert.ok(s.action.startsWith('s3:') || s.action.startsWith('sts:'), `"${s.name}" is still denied with an allow-all role`)
  }
  assert.ok(stillDenied.length < tenantDenied.length / 3, `${stillDenied.length} of ${tenantDenied.length} still denied`)
})
