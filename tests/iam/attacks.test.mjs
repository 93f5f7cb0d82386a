// Runs every scenario of scenarios.mjs through the simulator and checks its verdict.
//
// Every scenario also runs a control that proves the verdict comes from the template's policies:
// a denied request must become allowed when every policy is replaced by allow-all (so the
// request itself is well formed and the simulator can allow it), and an allowed request must
// become denied when the caller's identity policies and any resource policy are removed. Tenant
// scenarios are additionally checked against a hand-made intersection (role policies alone AND
// session policy alone), which is IAM's documented semantics for session policies.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ALLOW_ALL, isAllowed } from './simulate.mjs'
import { run, scenarios } from './scenarios.mjs'

describe('IAM attack scenarios', () => {
  const groups = [...new Set(scenarios.map((s) => s.group))]
  for (const group of groups) {
    describe(group, () => {
      for (const s of scenarios.filter((x) => x.group === group)) {
        test(`${s.name} -> ${s.expect}`, async () => {
          const { verdict, caller: c, policies } = await run(s)
          assert.equal(isAllowed(verdict) ? 'Allowed' : 'Denied', s.expect, `${s.name}: the simulator says ${verdict}`)

          if (s.expect === 'Denied') {
            // Control: with every policy replaced by allow-all the same request is allowed, so the
            // denial above comes from the template's policies, not from a malformed request.
            const permissiveResource = policies.resource && {
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Principal: c.service ? { Service: c.principal } : { AWS: c.roleArn }, Action: '*', Resource: '*' }]
            }
            const control = await run(s, {
              identity: [{ name: 'allow-all', policy: ALLOW_ALL }],
              session: c.session && ALLOW_ALL,
              resource: permissiveResource
            })
            assert.equal(control.verdict, 'Allowed', `control for "${s.name}": allow-all policies still give ${control.verdict}`)
          } else {
            // Control: without the caller's policies (and any resource policy) it is denied, so the
            // allow above comes from the template's policies.
            const control = await run(s, { identity: [], resource: undefined })
            assert.notEqual(control.verdict, 'Allowed', `control for "${s.name}": allowed with no policies at all`)
          }

          if (c.session) {
            // IAM: a session's permissions are the intersection of the role's identity policies and
            // the session policy. Check the library's native session-policy evaluation against it.
            const roleAlone = await run(s, { session: undefined })
            const sessionAlone = await run(s, { identity: [{ name: 'session-policy', policy: c.session }], session: undefined })
            assert.equal(
              isAllowed(verdict),
              isAllowed(roleAlone.verdict) && isAllowed(sessionAlone.verdict),
              `"${s.name}": native session evaluation ${verdict}, role alone ${roleAlone.verdict}, session alone ${sessionAlone.verdict}`
            )
            if (s.deniedBy === 'session') {
              assert.equal(roleAlone.verdict, 'Allowed', `"${s.name}": expected the role to allow it and the session policy to narrow it`)
              assert.notEqual(sessionAlone.verdict, 'Allowed')
            }
          }
        })
      }
    })
  }

  test('the suite has at least 30 scenarios, both allowed and denied ones in every caller kind', () => {
    assert.ok(scenarios.length >= 30, `${scenarios.length} scenarios`)
    for (const kind of ['AgentRole', 'tenant', 'DispatcherFunctionRole', 'SchedulerRole']) {
      const mine = scenarios.filter((s) => s.as === kind)
      assert.ok(mine.some((s) => s.expect === 'Allowed'), `${kind}: no allowed scenario`)
      assert.ok(mine.some((s) => s.expect === 'Denied'), `${kind}: no denied scenario`)
    }
  })
})

