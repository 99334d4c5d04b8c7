/**
 * The name patterns of SPEC §3, each in one place, with the errors that say how to fix a bad one.
 * Errors never echo the rejected input beyond what the user typed as a name (no secrets are names).
 */
import { KeyrackUsageError } from './errors.ts'

export const OWNER_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/
/**
 * Env and key names are as wide as rhachet's keyrack reads them (upper/lower case, `_`; dotted
 * key names), so its repo manifests work unchanged. Org and env names never hold a dot: a slug
 * `<org>.<env>.<KEY>` splits at its first two dots, and a dotted key stays whole (see parseSlug).
 */
export const ENV_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/
export const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/
/** a key name a POSIX shell can `export` (no dot): what `--output exports` can print */
export const SHELL_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/
export const ORG_PATTERN = /^(@all|[A-Za-z0-9][A-Za-z0-9_-]*)$/

export const DEFAULT_OWNER = 'human'
/** org of machine-wide keys usable from any repo by explicit --key */
export const ORG_ALL = '@all'
/** env of admin keys: explicit --key only, never listed in a repo manifest */
export const ENV_SUDO = 'sudo'
export const ENV_ALL = 'all'

/** shows a name only when it is short and printable, so a pasted secret is never echoed back */
const shown = (name: string): string => (name.length <= 40 && /^[\w@.-]*$/.test(name) ? `'${name}'` : 'given')

export function assertOwner(owner: string): string {
  if (!OWNER_PATTERN.test(owner))
    throw new KeyrackUsageError(`the ${shown(owner)} owner name is invalid: owner names match ${OWNER_PATTERN.source}`, [
      'use a lowercase name such as `--owner human` or `--owner seaturtle`',
    ])
  return owner
}

export function assertEnv(env: string): string {
  if (!ENV_PATTERN.test(env))
    throw new KeyrackUsageError(`the ${shown(env)} env name is invalid: env names match ${ENV_PATTERN.source}`, [
      'use an env such as `--env test`, `--env prep`, `--env prod` or `--env all`',
    ])
  return env
}

export function assertKey(key: string): string {
  if (!KEY_PATTERN.test(key))
    throw new KeyrackUsageError(`the ${shown(key)} key name is invalid: keys are env-var names matching ${KEY_PATTERN.source}`, [
      'use an env-var name such as `--key XAI_API_KEY`',
    ])
  return key
}

export function assertOrg(org: string): string {
  if (!ORG_PATTERN.test(org))
    throw new KeyrackUsageError(`the ${shown(org)} org name is invalid: orgs match ${ORG_PATTERN.source}`, [
      'use your GitHub org such as `--org ehmpathy`, or `--org @all` for machine-wide keys',
    ])
  return org
}

export interface SlugParts {
  org: string
  env: string
  key: string
}

export function toSlug(parts: SlugParts): string {
  return `${parts.org}.${parts.env}.${parts.key}`
}

/**
 * Splits at the first two dots, as rhachet does (`parts.slice(2).join('.')`): org and env names
 * have no dot (ORG_PATTERN, ENV_PATTERN), so `acme.test.aws.profile` is key `aws.profile`.
 */
export function parseSlug(slug: string): SlugParts {
  const orgDot = slug.indexOf('.')
  const envDot = slug.indexOf('.', orgDot + 1)
  if (orgDot < 0 || envDot < 0) throw new KeyrackUsageError('a slug has the form <org>.<env>.<KEY>', [])
  return { org: slug.slice(0, orgDot), env: slug.slice(orgDot + 1, envDot), key: slug.slice(envDot + 1) }
}
