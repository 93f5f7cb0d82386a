// Skills are the operator's: the tenant-access role itself denies writing or deleting any skill,
// so even credentials with a session policy that allowed everything could not install one. (The
// scenarios in scenarios.mjs show the same requests denied with the dispatcher's session policy.)

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ALLOW_ALL, BOT, TENANT, isAllowed } from './simulate.mjs'
import { OTHER_BOT, mem, run } from './scenarios.mjs'

const requests = [
  ['s3:PutObject', mem(`${TENANT}/bots/${BOT}/skills/weekly-report/SKILL.md`)],
  ['s3:PutObject', mem(`${TENANT}/bots/${BOT}/skills/index.json`)],
  ['s3:DeleteObject', mem(`${TENANT}/bots/${BOT}/skills/weekly-report/SKILL.md`)],
  ['s3:PutObject', mem(`${TENANT}/bots/${OTHER_BOT}/skills/index.json`)]
]

for (const [action, resource] of requests) {
  test(`tenant role with an allow-all session policy: ${action} ${resource.split('/tenants/')[1]} -> Denied`, async () => {
    const s = { as: 'tenant', action, resource, context: { 'aws:SecureTransport': 'true' } }
    const { verdict } = await run(s, { session: ALLOW_ALL })
    assert.equal(isAllowed(verdict) ? 'Allowed' : 'Denied', 'Denied', `${action} ${resource}: ${verdict}`)
  })
}

test('control: with an allow-all session policy the role still reads and writes its bot memory', async () => {
  const s = { as: 'tenant', action: 's3:PutObject', resource: mem(`${TENANT}/bots/${BOT}/memory.md`), context: { 'aws:SecureTransport': 'true' } }
  const { verdict } = await run(s, { session: ALLOW_ALL })
  assert.equal(isAllowed(verdict) ? 'Allowed' : 'Denied', 'Allowed', verdict)
})
