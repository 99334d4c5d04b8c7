/**
 * The owner's rules for AI agents, kept in the host manifest (`policy:`) and mirrored, value-free,
 * in the inventory so that commands without the identity can read them:
 *
 *   redact:       always | agents | never   when `keyrack exec` redacts the child's output
 *                                            (agents: when keyrack runs under an AI agent)
 *   agent-values: allow | deny              whether `keyrack guard` lets an agent's tool call run
 *                                            `keyrack get`/`source`, which print secrets
 *
 * Defaults: redact under agents, values allowed (the guard still blocks direct reads of files).
 *
 * Beside the agent rules, the owner may narrow what keyrack reads from a vault that holds much
 * more than keyrack's keys (a 1Password account): `scope: { <vault id>: [<part>, …] }`, e.g. the
 * 1Password vaults keyrack may read. The vault adapter enforces it (it knows what a part is);
 * absent = no narrowing.
 */
import { KeyrackPolicyError } from './errors.ts'

export const REDACT_RULES = ['always', 'agents', 'never'] as const
export type RedactRule = (typeof REDACT_RULES)[number]
export const AGENT_VALUES_RULES = ['allow', 'deny'] as const
export type AgentValuesRule = (typeof AGENT_VALUES_RULES)[number]

export interface AgentPolicy {
  redact: RedactRule
  'agent-values': AgentValuesRule
}

export const DEFAULT_POLICY: AgentPolicy = { redact: 'agents', 'agent-values': 'allow' }

/** per vault id, the parts of that vault keyrack may read (e.g. 1Password vault names) */
export type VaultScopes = Record<string, string[]>

/** a policy as stored: any rule may be left out (its default applies) */
export type StoredPolicy = Partial<AgentPolicy> & { scope?: VaultScopes }

export function effectivePolicy(stored: StoredPolicy | undefined | null): AgentPolicy {
  return { redact: stored?.redact ?? DEFAULT_POLICY.redact, 'agent-values': stored?.['agent-values'] ?? DEFAULT_POLICY['agent-values'] }
}

export function isStoredPolicy(data: unknown): data is StoredPolicy {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return false
  const { redact, 'agent-values': values, scope, ...rest } = data as Record<string, unknown>
  return (
    Object.keys(rest).length === 0 &&
    (redact === undefined || (REDACT_RULES as readonly unknown[]).includes(redact)) &&
    (values === undefined || (AGENT_VALUES_RULES as readonly unknown[]).includes(values)) &&
    (scope === undefined || isVaultScopes(scope))
  )
}

function isVaultScopes(data: unknown): data is VaultScopes {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return false
  return Object.values(data).every((parts) => Array.isArray(parts) && parts.length > 0 && parts.every((p) => typeof p === 'string' && p.length > 0))
}

export interface RedactDecision {
  redact: boolean
  /** why, in a few words: `--no-redact`, `redact: always`, `under claude-code (env CLAUDECODE)`, … */
  because: string
}

/**
 * Whether exec redacts: an explicit --redact always wins; --no-redact unless the rule is
 * `always`; otherwise the rule, with `agents` meaning "when an agent was found".
 * @throws KeyrackPolicyError for --no-redact under `redact: always`
 */
export function decideRedact(input: { requested?: boolean; rule: RedactRule; agent: { agent: string; evidence: string } | null; owner: string }): RedactDecision {
  const { requested, rule, agent } = input
  if (requested === true) return { redact: true, because: '--redact' }
  if (requested === false) {
    if (rule === 'always')
      throw new KeyrackPolicyError("--no-redact is refused: the owner's policy says `redact: always`", [
        'run it without --no-redact (the output is redacted: each secret shows as [keyrack:KEY])',
        `a human can change the rule: \`keyrack policy --redact agents${input.owner === 'human' ? '' : ` --owner ${input.owner}`}\``,
      ])
    return { redact: false, because: '--no-redact' }
  }
  if (rule === 'always') return { redact: true, because: 'redact: always' }
  if (rule === 'never') return { redact: false, because: 'redact: never' }
  return agent ? { redact: true, because: `under ${agent.agent} (${agent.evidence})` } : { redact: false, because: 'no agent found' }
}
