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

/** how strongly a verdict argues against a value: the worst one found inside a value wins */
const SEVERITY = { unknown: 0, 'short-lived': 1, labelled: 2, blocked: 3 } as const

/** what separates the parts of a config blob: whitespace, quotes, `=`, `:`, `,`, `;`, brackets, url punctuation */
const TOKEN_SEPARATORS = /[\s"'`=:,;{}[\]()<>/@?&#|\\]+/
/** longer than any rule's shape (the longest, ops_…, tops out near 4,000): not worth testing */
const MAX_TOKEN = 8192

export type Inspection = FirewallVerdict & {
  /** true when the credential was found inside a larger value (a `KEY=…` line, a config file) */
  readonly embedded: boolean
}

/**
 * The check `set` and `get` apply: the whole value first (checkCredential), then each token of
 * it, so that a credential pasted as `AWS_ACCESS_KEY_ID=AKIA…`, inside a `.env` or an
 * `~/.aws/credentials` blob, or in a JSON document cannot slip past the firewall by being
 * wrapped. Tokens are split on punctuation no rule's shape contains, and each must match a rule
 * whole, so the anchored patterns keep their precision. The worst verdict found wins.
 * See docs/decisions.md ("the firewall looks inside values").
 */
export function inspectSecret(secret: string, rules: readonly FirewallRule[] = FIREWALL_RULES): Inspection {
  const whole = checkCredential(secret, rules)
  if (whole.verdict !== 'unknown') return { ...whole, embedded: false }
  let worst: FirewallVerdict = whole
  for (const token of new Set(secret.split(TOKEN_SEPARATORS))) {
    if (token === '' || token.length > MAX_TOKEN) continue
    const verdict = checkCredential(token, rules)
    if (SEVERITY[verdict.verdict] > SEVERITY[worst.verdict]) worst = verdict
    if (worst.verdict === 'blocked') break
  }
  return { ...worst, embedded: worst.verdict !== 'unknown' }
}

/** `a`/`an` for a rule description, so messages read as english ("an aws access key id") */
export function withArticle(description: string): string {
  return `${/^(?:[aeio]|xai\b)/.test(description) ? 'an' : 'a'} ${description}`
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
  const lines = [`${target.key} holds ${withArticle(rule.description)}: ${rule.advice}`]
  const mech = rule.shortLivedMech
  if (mech === null) return lines
  const vault = VAULT_FOR_MECH[mech] ?? 'os.secure'
  const owner = target.owner === undefined ? '' : ` --owner ${target.owner}`
  // the short-lived mech may grant a different key (aws sso grants AWS_PROFILE): name that one
  const key = rule.grantsKey ?? target.key
  lines.push(`replace it with: keyrack set --key ${key} --env ${target.env} --vault ${vault} --mech ${mech}${owner}`)
  if (key !== target.key) {
    const old = [target.key, ...(rule.companionKeys ?? []).filter((k) => k !== target.key)]
    lines.push(
      `${mech} grants ${key}, not ${target.key}: in .agent/keyrack.yml, list \`- key: ${key}\` with \`mech: ${mech}\` under env.${target.env} in place of ${old.join(' and ')}`,
    )
  }
  return lines
}
