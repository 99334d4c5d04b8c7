/**
 * The firewall's rules table (SPEC §12): well-known credential shapes, how long each lives, and
 * what to use instead. Data only; the matching lives in ./check.ts.
 *
 * Shapes follow what public secret scanners (gitleaks, GitHub secret scanning, trufflehog) and the
 * providers' own docs describe. Every pattern is anchored (`^…$`, no `m` flag) and describes one
 * whole credential; check.ts trims whitespace and control characters before testing, and derives
 * from each pattern an unanchored, word-bounded search that finds the credential inside a larger
 * value (a `KEY=…` line, JSON, a URL) and inside its decoded forms (base64, hex, %XX, `\u` escapes).
 *
 * Where a provider may lengthen a token, the shape gives a minimum and no maximum, as gitleaks does
 * (config/gitleaks.toml at gitleaks/gitleaks b58d3f1: `ghp_[0-9a-zA-Z]{36}`, `github_pat_\w{82}`,
 * unanchored, so a longer token still matches): a drifted token must not slip past as unknown.
 *
 * Order matters only where shapes could overlap (e.g. Anthropic's `sk-ant-` inside the generic
 * `sk-` space); check.ts returns the first match, so specific rules come before general ones.
 */

// a type-only import: this table stays free of runtime imports
import type { MechId } from '../ids.ts'
export type { MechId }

export type CredentialLifetime = 'long' | 'short'

export interface FirewallRule {
  /** stable id, kebab-case, unique in the table */
  readonly id: string
  readonly provider: string
  /** what the credential is, lowercase, never containing a secret */
  readonly description: string
  /** anchored (`^…$`, no flags): one whole credential; check.ts derives the in-value search from it */
  readonly pattern: RegExp
  /**
   * literal strings at least one of which every match contains (as gitleaks' `keywords`): a value
   * that holds none of them is not tested against the pattern at all, which keeps the check cheap
   * on the `get` path (no regex of the rule is even compiled for an ordinary secret)
   */
  readonly keywords: readonly string[]
  readonly lifetime: CredentialLifetime
  /** the short-lived mech to use instead; null when the provider offers none */
  readonly shortLivedMech: MechId | null
  /** one line of why/what to do, shown next to the verdict; never contains a secret */
  readonly advice: string
  /**
   * the env var the short-lived mech grants, when it is not the key that held the long-lived
   * credential (the aws sso mech grants AWS_PROFILE, not AWS_ACCESS_KEY_ID)
   */
  readonly grantsKey?: string
  /** keys that travel with this credential and go away with it (AWS_SECRET_ACCESS_KEY) */
  readonly companionKeys?: readonly string[]
  /** for blocked rules: what to do instead inside ci, where `keyrack set` does not run */
  readonly ciAdvice?: string
  /** one more line after the replacement command, when the replacement works differently (aws sso grants a profile) */
  readonly replacementNote?: string
}

// GitHub's token formats: a 3-letter prefix, `_`, then base62 characters: 36 today (30 random + a
// 6-character checksum). GitHub has said the length may grow, so 36 is a minimum, as in gitleaks'
// `ghp_[0-9a-zA-Z]{36}` (unanchored there, so longer tokens match too).
const GITHUB_BASE62 = '[A-Za-z0-9]{36,}'

export const FIREWALL_RULES: readonly FirewallRule[] = [
  // --- AWS ---------------------------------------------------------------------------------
  {
    id: 'aws-access-key-id',
    provider: 'aws',
    description: 'aws access key id of an iam user (AKIA…), long-lived',
    pattern: /^AKIA[0-9A-Z]{16}$/,
    keywords: ['AKIA'],
    lifetime: 'long',
    shortLivedMech: 'EPHEMERAL_VIA_AWS_SSO',
    advice: 'iam user keys never expire; use an aws sso profile, which grants hour-long role credentials',
    grantsKey: 'AWS_PROFILE',
    companionKeys: ['AWS_SECRET_ACCESS_KEY'],
    replacementNote:
      'tools that read AWS_ACCESS_KEY_ID rather than a profile get the role\'s short-lived credentials (ASIA…) with it: add `with-credentials: true` to that entry (or pass `--with-credentials` to `keyrack get`)',
    ciAdvice:
      'in github actions, assume an iam role with oidc instead of keeping an access key in secrets: in .agent/keyrack.yml list `- key: AWS_ACCESS_KEY_ID` with `mech: EPHEMERAL_VIA_GITHUB_OIDC` and `role-arn: arn:aws:iam::<account>:role/<role>`, and give the job `permissions: id-token: write`',
  },
  {
    id: 'aws-sts-access-key-id',
    provider: 'aws',
    description: 'aws temporary access key id from sts (ASIA…), short-lived',
    pattern: /^ASIA[0-9A-Z]{16}$/,
    keywords: ['ASIA'],
    lifetime: 'short',
    shortLivedMech: null,
    advice: 'a temporary sts credential expires on its own; nothing to replace',
  },

  // --- GitHub ------------------------------------------------------------------------------
  {
    id: 'github-classic-pat',
    provider: 'github',
    description: 'github classic personal access token (ghp_…), long-lived',
    pattern: new RegExp(`^ghp_${GITHUB_BASE62}$`),
    keywords: ['ghp_'],
    lifetime: 'long',
    shortLivedMech: 'EPHEMERAL_VIA_GITHUB_APP',
    advice: 'a personal access token lives until revoked; use a github app, which grants hour-long installation tokens',
    ciAdvice:
      'in github actions, use the job\'s own `secrets.GITHUB_TOKEN`, or mint an app installation token with `actions/create-github-app-token`',
  },
  {
    id: 'github-fine-grained-pat',
    provider: 'github',
    description: 'github fine-grained personal access token (github_pat_…), long-lived',
    // today 22 base62 characters, `_`, 59 base62 characters: 82 word characters after the prefix.
    // As gitleaks' `github_pat_\w{82}`: any split, and 82 or more, so a reshaped token still matches
    pattern: /^github_pat_\w{82,}$/,
    keywords: ['github_pat_'],
    lifetime: 'long',
    shortLivedMech: 'EPHEMERAL_VIA_GITHUB_APP',
    advice: 'a fine-grained token still lives for months; use a github app, which grants hour-long installation tokens',
    ciAdvice:
      'in github actions, use the job\'s own `secrets.GITHUB_TOKEN`, or mint an app installation token with `actions/create-github-app-token`',
  },
  {
    id: 'github-oauth-token',
    provider: 'github',
    description: 'github oauth app access token (gho_…), long-lived',
    pattern: new RegExp(`^gho_${GITHUB_BASE62}$`),
    keywords: ['gho_'],
    lifetime: 'long',
    shortLivedMech: 'EPHEMERAL_VIA_GITHUB_APP',
    advice: 'oauth app tokens live until revoked; use a github app, which grants hour-long installation tokens',
    ciAdvice:
      'in github actions, use the job\'s own `secrets.GITHUB_TOKEN`, or mint an app installation token with `actions/create-github-app-token`',
  },
  {
    id: 'github-user-to-server-token',
    provider: 'github',
    description: 'github app user-to-server token (ghu_…), acts as a user',
    pattern: new RegExp(`^ghu_${GITHUB_BASE62}$`),
    keywords: ['ghu_'],
    lifetime: 'long',
    shortLivedMech: 'EPHEMERAL_VIA_GITHUB_APP',
    // a ghu_ token itself may expire after 8 h, but it comes with a 6-month refresh token and
    // acts as a person: a robot should hold an installation token instead
    advice: 'user-to-server tokens act as a person and are refreshed for months; use a github app installation token',
    ciAdvice:
      'in github actions, use the job\'s own `secrets.GITHUB_TOKEN`, or mint an app installation token with `actions/create-github-app-token`',
  },
  {
    id: 'github-refresh-token',
    provider: 'github',
    description: 'github app refresh token (ghr_…), long-lived',
    // scanners disagree on the length (36 vs 76); gitleaks' `ghr_[0-9a-zA-Z]{36}` takes both and more
    pattern: new RegExp(`^ghr_${GITHUB_BASE62}$`),
    keywords: ['ghr_'],
    lifetime: 'long',
    shortLivedMech: 'EPHEMERAL_VIA_GITHUB_APP',
    advice: 'a refresh token mints user tokens for months; use a github app installation token',
    ciAdvice:
      'in github actions, use the job\'s own `secrets.GITHUB_TOKEN`, or mint an app installation token with `actions/create-github-app-token`',
  },
  {
    id: 'github-installation-token',
    provider: 'github',
    description: 'github app installation token (ghs_…), short-lived',
    pattern: new RegExp(`^ghs_${GITHUB_BASE62}$`),
    keywords: ['ghs_'],
    lifetime: 'short',
    shortLivedMech: null,
    advice: 'an installation token expires after an hour; nothing to replace',
  },

  // --- LLM APIs (no short-lived alternative: allowed as PERMANENT_VIA_REPLICA, labelled) ------
  {
    id: 'anthropic-api-key',
    provider: 'anthropic',
    description: 'anthropic api key (sk-ant-api03-…), long-lived',
    // 93 url-safe base64 characters, then a fixed `AA` tail (108 characters in all)
    pattern: /^sk-ant-api03-[A-Za-z0-9_-]{93}AA$/,
    keywords: ['sk-ant-api03-'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'anthropic offers no short-lived api credential; keep it as PERMANENT_VIA_REPLICA in an encrypted vault and rotate it',
  },
  {
    id: 'anthropic-other-key',
    provider: 'anthropic',
    description: 'anthropic admin or oauth key (sk-ant-…), long-lived',
    // other families share the `sk-ant-<kind><2 digits>-` prefix (admin01, oat01, …); their
    // bodies are less documented, so the shape is looser than the api03 one above
    pattern: /^sk-ant-[a-z]{3,8}[0-9]{2}-[A-Za-z0-9_-]{80,120}$/,
    keywords: ['sk-ant-'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'anthropic offers no short-lived alternative; keep it as PERMANENT_VIA_REPLICA in an encrypted vault and rotate it',
  },
  {
    id: 'openai-project-key',
    provider: 'openai',
    description: 'openai project, service account or admin key (sk-proj-…), long-lived',
    // the base64 of "openai" (`T3BlbkFJ`) sits between two url-safe halves of 58 or 74 characters
    pattern:
      /^sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})$/,
    keywords: ['T3BlbkFJ'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'openai offers no short-lived api credential; keep it as PERMANENT_VIA_REPLICA in an encrypted vault and rotate it',
  },
  {
    id: 'openai-legacy-key',
    provider: 'openai',
    description: 'openai legacy user api key (sk-…, 48 characters), long-lived',
    // 48 alphanumerics after `sk-`, the middle 8 being the `T3BlbkFJ` marker; requiring the marker
    // keeps other vendors' `sk-` keys (deepseek, …) out of this label
    pattern: /^sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}$/,
    keywords: ['T3BlbkFJ'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'openai offers no short-lived api credential; keep it as PERMANENT_VIA_REPLICA in an encrypted vault and rotate it',
  },
  {
    id: 'xai-api-key',
    provider: 'xai',
    description: 'xai api key (xai-…), long-lived',
    pattern: /^xai-[A-Za-z0-9_]{80}$/,
    keywords: ['xai-'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'xai offers no short-lived api credential; keep it as PERMANENT_VIA_REPLICA in an encrypted vault and rotate it',
  },

  // --- other long-lived tokens with no short-lived mech in keyrack ---------------------------
  {
    id: 'slack-token',
    provider: 'slack',
    description: 'slack bot, user, app or legacy token (xoxb-/xoxp-/xoxa-/xoxo-/xoxs-/xoxr-…), long-lived',
    // xoxb-<team>-<bot>-<24 alnum>, xoxp-<team>-<user>-<id>-<32 hex>, legacy forms with fewer
    // numeric groups: 1–4 numeric groups, then one alphanumeric tail
    pattern: /^xox[abposr]-[0-9]{1,13}(?:-[0-9]{1,13}){0,3}-[A-Za-z0-9]{10,64}$/,
    keywords: ['xox'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'slack tokens live until revoked (unless token rotation is on); keep it as PERMANENT_VIA_REPLICA and rotate it',
  },
  {
    id: 'stripe-live-key',
    provider: 'stripe',
    description: 'stripe live secret or restricted key (sk_live_/rk_live_…), long-lived',
    pattern: /^(?:sk|rk)_live_[A-Za-z0-9]{24,247}$/,
    keywords: ['_live_'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'stripe keys live until rolled; prefer a restricted key (rk_live_) and keep it as PERMANENT_VIA_REPLICA',
  },
  {
    id: '1password-service-account-token',
    provider: '1password',
    description: '1password service account token (ops_…), long-lived',
    // `ops_` then base64 of a json object, which always starts `eyJ` (`{"`)
    pattern: /^ops_eyJ[A-Za-z0-9+/]{250,4000}={0,3}$/,
    keywords: ['ops_eyJ'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'a service account token lives until revoked; keep it as PERMANENT_VIA_REPLICA in an encrypted vault and scope its vaults narrowly',
  },
  {
    id: 'age-secret-key',
    provider: 'age',
    description: 'age x25519 identity (AGE-SECRET-KEY-1…), long-lived',
    // uppercase bech32: `1` separator, then 58 characters from the bech32 alphabet
    pattern: /^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$/,
    keywords: ['AGE-SECRET-KEY-1'],
    lifetime: 'long',
    shortLivedMech: null,
    advice: 'an age identity is a private key; keep it as PERMANENT_VIA_REPLICA in an encrypted vault',
  },
]
