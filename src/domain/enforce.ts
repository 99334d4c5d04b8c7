/**
 * What may be handed out: the repo's mech/grade requirements and the firewall, in one pure
 * function used by every path that produces a grant (`get`, `unlock`, `set`'s checks).
 *
 * A grant taken from the caller's environment without any record (`implicit`) has no known
 * mech or vault, so the repo's mech/grade requirement is not applied to it — CI, where keys
 * arrive as env vars, would be impossible otherwise (docs/decisions.md). The firewall applies
 * to every secret, wherever it came from.
 */
import { blockedAdvice, describeFinding, inspectSecret } from './firewall/check.ts'
import { formatGrade, meetsGrade, type Duration, type Grade, type Protection } from './grade.ts'
import { hints } from './hints.ts'
import { secretProblem } from './secret.ts'

/** what the repo manifest asks of one key (a RepoKeySpec fits) */
export interface Requirement {
  key: string
  mech?: string
  grade?: { protection?: Protection; duration?: Duration }
  /** `long-lived`: a reviewed exception to the firewall (with a reason) */
  allow?: 'long-lived'
  reason?: string
}

export interface Candidate {
  mech: string
  grade: Grade
  secret: string
  /** from the caller's environment with no record of a vault or mech */
  implicit?: boolean
}

export interface EnforceTarget {
  /** the env the key is requested for */
  env: string
  owner: string
  /** CI mode: blocked keys get the CI-fit advice first */
  ci?: boolean
}

export type Verdict =
  | { ok: true; warning?: string }
  | { ok: false; reason: string; hint: string[] }

export const formatRequiredGrade = (grade: NonNullable<Requirement['grade']>): string =>
  [grade.protection, grade.duration].filter(Boolean).join(',')

export function enforce(requirement: Requirement, candidate: Candidate, target: EnforceTarget): Verdict {
  // a secret no environment variable can carry (NUL), or over the limit: refused by name, never echoed
  const problem = secretProblem(candidate.secret)
  if (problem)
    return {
      ok: false,
      reason: `its ${candidate.implicit ? 'value in the environment' : 'stored secret'} ${problem}`,
      hint: candidate.implicit ? [`unset ${requirement.key}, or give it a value keyrack can serve`] : [hints.set(target, { key: requirement.key, env: target.env, mech: requirement.mech })],
    }
  const unmet = checkRequirement(requirement, candidate, target)
  if (unmet) return unmet
  const { key } = requirement
  const verdict = inspectSecret(candidate.secret)
  if (verdict.verdict !== 'blocked') return { ok: true }
  const what = describeFinding(verdict)
  if (requirement.allow === 'long-lived')
    return { ok: true, warning: `serving ${what} because the repo manifest allows it (allow: long-lived), reason: ${JSON.stringify(requirement.reason ?? '')}` }
  const advice = blockedAdvice(verdict.rule, { key, env: target.env, owner: target.owner })
  const inCi = target.ci && verdict.rule.ciAdvice ? [verdict.rule.ciAdvice] : []
  return {
    ok: false,
    reason: `${what}${candidate.implicit ? ', from the environment' : ''}`,
    hint: [...inCi, ...advice, exceptionHint(key)],
  }
}

/**
 * The repo's mech/grade requirement alone: it needs no secret, so a key that is set but locked
 * can already be reported `blocked` from its recorded mech and vault.
 * @returns the blocked verdict, or null when the requirement is met
 */
export function checkRequirement(requirement: Requirement, candidate: Omit<Candidate, 'secret'>, target: EnforceTarget): Extract<Verdict, { ok: false }> | null {
  if (candidate.implicit) return null
  const hint = () => [hints.set(target, { key: requirement.key, env: target.env, mech: requirement.mech })]
  if (requirement.mech && candidate.mech !== requirement.mech)
    return { ok: false, reason: `the repo requires mech ${requirement.mech}, but the stored key is ${candidate.mech}`, hint: hint() }
  if (requirement.grade && !meetsGrade(candidate.grade, requirement.grade))
    return { ok: false, reason: `the repo requires grade ${formatRequiredGrade(requirement.grade)}, but the grant is ${formatGrade(candidate.grade)}`, hint: hint() }
  return null
}

/** how a repo marks a reviewed long-lived key */
export const exceptionHint = (key: string): string =>
  `if this is a reviewed exception, mark it in .agent/keyrack.yml: \`- key: ${key}\` with \`allow: long-lived\` and a \`reason:\``
