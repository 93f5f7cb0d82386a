// The harness between the scenarios and @cloud-copilot/iam-simulate: builds one simulation per
// request from the template's principals, refuses any simulation the library could not run as
// given (validation errors, context keys it dropped), and reduces the answer to a verdict.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { loadTemplate, PSEUDO } from './template.mjs'

const here = dirname(fileURLToPath(import.meta.url))

export const ACCOUNT = PSEUDO['AWS::AccountId']
export const REGION = PSEUDO['AWS::Region']

// The tenant, bot and conversation that session-policy.json was written for.
export const TENANT = 't0123456789abcdef0123'
export const BOT = 'b0123456789abcdef0123'
export const CHANNEL = 'telegram'
export const CONVERSATION = '4242'

export const SESSION_POLICY_TEXT = readFileSync(join(here, 'session-policy.json'), 'utf8')
export const SESSION_POLICY = JSON.parse(SESSION_POLICY_TEXT)

export const TEMPLATE = loadTemplate()

/** The template's principal with this logical id; a scenario naming a missing one fails. */
export function principal(logicalId) {
  const p = TEMPLATE.principals[logicalId]
  if (!p) {
    throw new Error(
      `principal ${logicalId} named in a scenario is missing from template.yaml ` +
        `(it has: ${Object.keys(TEMPLATE.principals).join(', ')})`
    )
  }
  return p
}

/** The ARN a role session presents as the caller (what STS returns for its credentials). */
export function sessionArn(p, sessionName) {
  return `arn:aws:sts::${ACCOUNT}:assumed-role/${p.roleName}/${sessionName}`
}

export const ALLOW_ALL = Object.freeze({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }]
})

/** The trust policy of the template's role with this ARN, if the resource is one. */
export function trustPolicyFor(roleArn) {
  return Object.values(TEMPLATE.principals).find((p) => p.arn === roleArn)?.trustPolicy
}

/** A resource-based policy of the template that covers this resource (queue, bucket, secret). */
export function resourcePolicyFor(resourceArn) {
  const hits = TEMPLATE.resourcePolicies.filter((rp) =>
    rp.resources.some((r) => resourceArn === r || resourceArn.startsWith(`${r}/`))
  )
  if (hits.length > 1) throw new Error(`more than one resource policy covers ${resourceArn}`)
  return hits[0]?.policy
}

/**
 * Runs one request and returns 'Allowed', 'ImplicitlyDenied' or 'ExplicitlyDenied'.
 *
 * request: { principal: ARN, action, resource: ARN, context: {key: value | [values]} }
 * policies: { identity: [{name, policy}], session?: policy, resource?: policy }
 */
export async function evaluate(request, policies) {
  const simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: ACCOUNT },
      contextVariables: request.context ?? {}
    },
    identityPolicies: policies.identity,
    serviceControlPolicies: [],
    resourceControlPolicies: []
  }
  if (policies.session !== undefined) simulation.sessionPolicy = policies.session
  if (policies.resource !== undefined) simulation.resourcePolicy = policies.resource
  const response = await runSimulation(simulation, {})
  const what = `${request.action} on ${request.resource} by ${request.principal}`
  if (response.resultType === 'error') {
    throw new Error(`simulation of ${what} could not run: ${JSON.stringify(response.errors)}`)
  }
  if (response.resultType !== 'single') {
    throw new Error(`simulation of ${what} was a ${response.resultType} simulation (a wildcard in the request?)`)
  }
  const ignored = response.result.ignoredContextKeys ?? []
  if (ignored.length) {
    // A key the library drops would make a condition test vacuous.
    throw new Error(`simulation of ${what} ignored context keys ${ignored.join(', ')}`)
  }
  return response.overallResult
}

export const isAllowed = (verdict) => verdict === 'Allowed'
