/**
 * The pure firewall check (SPEC §12): classify one secret value against the rules table, and
 * build the guidance shown when it is blocked. No I/O, no secret ever enters a message.
 */
import { FIREWALL_RULES, type FirewallRule, type MechId } from './rules.ts'

export type FirewallVerdict =
  /** long-lived, and the provider offers a short-lived mech: refuse to store or serve */
  | { readonly verdict: 'blocked'; readonly rule: FirewallRule }
  /** long-lived with no short-lived alternative: allowed (as PERMANENT_VIA_REPLICA), but named */
  | { readonly verdict: 'labelled'; readonly rule: FirewallRule }
  /** a recognized short-lived credential: fine */
  | { readonly verdict: 'short-lived'; readonly rule: FirewallRule }
  /** no rule recognized the shape */
  | { readonly verdict: 'unknown' }

/**
 * First matching rule wins (the table orders specific shapes before general ones).
 * The value is trimmed first: env files and `read` often leave a trailing newline or spaces,
 * and a pasted key should not slip past the firewall because of them.
 */
export function checkCredential(
  secret: string,
  rules: readonly FirewallRule[] = FIREWALL_RULES,
): FirewallVerdict {
  const value = secret.trim()
  if (value === '') return { verdict: 'unknown' }
  for (const rule of rules) {
    if (!rule.pattern.test(value)) continue
    if (rule.lifetime === 'short') return { verdict: 'short-lived', rule }
    return rule.shortLivedMech === null ? { verdict: 'labelled', rule } : { verdict: 'blocked', rule }
  }
  return { verdict: 'unknown' }
}

/** where each short-lived mech keeps its source (SPEC §7–8) */
const VAULT_FOR_MECH: Partial<Record<MechId, string>> = {
  // the vault holds an aws cli profile name; the sso session behind it is the short-lived part
  EPHEMERAL_VIA_AWS_SSO: 'aws.config',
  // the app's private key must live in an encrypted vault
  EPHEMERAL_VIA_GITHUB_APP: 'os.secure',
}

export interface BlockedAdviceTarget {
  /** the key name as the repo manifest spells it, e.g. GITHUB_TOKEN */
  readonly key: string
  readonly env: string
  readonly owner?: string
}

/**
 * Hint lines for a blocked credential: why, and the exact command that replaces it.
 * Built only from the rule and the key's names, so the secret cannot leak into it; the one
 * fragment of a credential that appears is the rule's public prefix, via its description.
 */
export function blockedAdvice(rule: FirewallRule, target: BlockedAdviceTarget): string[] {
  const lines = [`${target.key} holds a ${rule.description}: ${rule.advice}`]
  const mech = rule.shortLivedMech
  if (mech === null) return lines
  const vault = VAULT_FOR_MECH[mech] ?? 'os.secure'
  const owner = target.owner === undefined ? '' : ` --owner ${target.owner}`
  lines.push(
    `replace it with: keyrack set --key ${target.key} --env ${target.env} --vault ${vault} --mech ${mech}${owner}`,
  )
  return lines
}
