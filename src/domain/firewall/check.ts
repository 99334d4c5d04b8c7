/**
 * The pure firewall check (SPEC §12): classify one secret value against the rules table, and
 * build the guidance shown when it is blocked. No I/O, no secret ever enters a message.
 */
import { vaultForHint } from '../ids.ts'
import { DEFAULT_OWNER } from '../names.ts'
import { FIREWALL_RULES, type FirewallRule } from './rules.ts'
import { decoderLabel, trimJunk, visitViews, type DecoderId } from './views.ts'

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
 * The value is trimmed first, of whitespace and of control and format characters: env files and
 * `read` often leave a trailing newline, a paste can carry a BOM or a zero-width space, and a key
 * must not slip past the firewall because of them.
 */
export function checkCredential(
  secret: string,
  rules: readonly FirewallRule[] = FIREWALL_RULES,
): FirewallVerdict {
  return matchWhole(trimJunk(secret), rules)
}

/** checkCredential on a value that is already trimmed */
function matchWhole(value: string, rules: readonly FirewallRule[]): FirewallVerdict {
  if (value === '' || !anyKeyword(value, rules)) return { verdict: 'unknown' }
  for (const rule of rules) {
    if (!hasKeyword(value, rule) || !rule.pattern.test(value)) continue
    return verdictOf(rule)
  }
  return { verdict: 'unknown' }
}

function verdictOf(rule: FirewallRule): Exclude<FirewallVerdict, { verdict: 'unknown' }> {
  if (rule.lifetime === 'short') return { verdict: 'short-lived', rule }
  return rule.shortLivedMech === null ? { verdict: 'labelled', rule } : { verdict: 'blocked', rule }
}

/** the cheap prefilter: a rule's pattern can only match text holding one of its keywords */
function hasKeyword(text: string, rule: FirewallRule): boolean {
  for (const keyword of rule.keywords) if (text.includes(keyword)) return true
  return false
}

/**
 * Whether text holds any keyword of any rule: a few native substring searches, so that an
 * ordinary secret (no keyword at all: nearly every value) never compiles or runs a rule's pattern.
 * Plain loops: the `get` process is cold, and a closure or a generated regex costs more than this.
 */
function anyKeyword(text: string, rules: readonly FirewallRule[]): boolean {
  for (const rule of rules) for (const keyword of rule.keywords) if (text.includes(keyword)) return true
  return false
}

/** how strongly a verdict argues against a value: the worst one found inside a value wins */
const SEVERITY = { unknown: 0, 'short-lived': 1, labelled: 2, blocked: 3 } as const

// what may not touch a credential found inside a larger value: a letter, digit or `_` on either
// side means the shape is part of a longer word (`prefix_AKIA…`, `AKIA…X`), as gitleaks' `\b`
const WORD = 'A-Za-z0-9_'
const searches = new WeakMap<FirewallRule, RegExp>()

/**
 * The rule's anchored pattern as an unanchored, word-bounded search, built once per rule. The
 * table stays the one source of truth: no second list of in-value patterns to drift from it.
 */
export function searchPattern(rule: FirewallRule): RegExp {
  let search = searches.get(rule)
  if (search === undefined) {
    const body = rule.pattern.source.replace(/^\^/, '').replace(/\$$/, '')
    search = new RegExp(`(?<![${WORD}])(?:${body})(?![${WORD}])`)
    searches.set(rule, search)
  }
  return search
}

export type Inspection = FirewallVerdict & {
  /** true when the credential was found inside a larger value or a decoded form of it, not as the whole value */
  readonly embedded: boolean
  /** the decoders that revealed it, outermost first (empty when the value itself held it) */
  readonly via: readonly DecoderId[]
}

/**
 * The check `set`, `unlock` and `get` apply. Every view of the value (visitViews: trimmed, then
 * decoded from base64, hex, %XX and `\u` escapes, and with inner control characters dropped) is
 * tested whole against the table and then searched for any rule's shape inside it, so that a
 * credential pasted as `AWS_ACCESS_KEY_ID=AKIA…`, inside a `.env` or `~/.aws/credentials` blob, a
 * JSON document or a URL, or encoded, cannot slip past by being wrapped. The worst verdict wins
 * (blocked > labelled > short-lived); the search stops at the first blocked one.
 * See docs/decisions.md ("the firewall looks inside values").
 */
export function inspectSecret(secret: string, rules: readonly FirewallRule[] = FIREWALL_RULES): Inspection {
  let worst: Inspection = { verdict: 'unknown', embedded: false, via: [] }
  visitViews(secret, (view) => {
    const whole = matchWhole(view.text, rules)
    // the value itself is one credential: that is the answer, whatever a decoding of it looks like
    if (view.via.length === 0 && whole.verdict !== 'unknown') {
      worst = { ...whole, embedded: false, via: [] }
      return true
    }
    const found = whole.verdict !== 'unknown' ? whole : searchView(view.text, rules)
    if (SEVERITY[found.verdict] > SEVERITY[worst.verdict]) worst = { ...found, embedded: true, via: view.via }
    return worst.verdict === 'blocked'
  })
  return worst
}

/** the worst verdict of any rule's shape found anywhere inside text */
function searchView(text: string, rules: readonly FirewallRule[]): FirewallVerdict {
  let worst: FirewallVerdict = { verdict: 'unknown' }
  if (!anyKeyword(text, rules)) return worst
  for (const rule of rules) {
    const verdict = verdictOf(rule)
    if (SEVERITY[verdict.verdict] <= SEVERITY[worst.verdict]) continue
    if (!hasKeyword(text, rule) || !searchPattern(rule).test(text)) continue
    worst = verdict
    if (worst.verdict === 'blocked') break
  }
  return worst
}

/**
 * How a message names what was found: "an aws access key id …" for the whole value, "a value
 * containing an aws access key id …" inside a larger one, "a base64-encoded value containing …"
 * when decoding revealed it. Built from the rule and the decoder names only: never the secret.
 */
export function describeFinding(inspection: Inspection & { verdict: Exclude<Inspection['verdict'], 'unknown'> }): string {
  const what = withArticle(inspection.rule.description)
  if (!inspection.embedded) return what
  const encodings = inspection.via.map(decoderLabel).filter((label): label is string => label !== null)
  return `${withArticle([...encodings, 'value'].join(' '))} containing ${what}`
}

/** `a`/`an` for a rule description, so messages read as english ("an aws access key id") */
export function withArticle(description: string): string {
  return `${/^(?:[aeio]|xai\b)/.test(description) ? 'an' : 'a'} ${description}`
}

export interface BlockedAdviceTarget {
  /** the key name as the repo manifest spells it, e.g. GITHUB_TOKEN */
  readonly key: string
  readonly env: string
  /** only when the org is not the one the current repo manifest implies (outside a repo, `@all`, an import) */
  readonly org?: string
  /** the default owner (`human`) needs no flag */
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
  const vault = vaultForHint(mech)
  const org = target.org === undefined ? '' : ` --org ${target.org}`
  const owner = target.owner === undefined || target.owner === DEFAULT_OWNER ? '' : ` --owner ${target.owner}`
  // the short-lived mech may grant a different key (aws sso grants AWS_PROFILE): name that one
  const key = rule.grantsKey ?? target.key
  lines.push(`replace it with: keyrack set --key ${key} --env ${target.env}${org} --vault ${vault} --mech ${mech}${owner}`)
  if (key !== target.key) {
    const old = [target.key, ...(rule.companionKeys ?? []).filter((k) => k !== target.key)]
    lines.push(
      `${mech} grants ${key}, not ${target.key}: in .agent/keyrack.yml, list \`- key: ${key}\` with \`mech: ${mech}\` under env.${target.env} in place of ${old.join(' and ')}`,
    )
  }
  if (rule.replacementNote) lines.push(rule.replacementNote)
  return lines
}
