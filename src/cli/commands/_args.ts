/** shared argument fragments: one definition of each flag, reused by every command that takes it */
import type { ArgsDef } from 'citty'
import { createContext, type Context, type PassphraseSource } from '../../context.ts'
import { say } from '../report.ts'

export const ownerArgs = {
  owner: { type: 'string', description: 'whose keys: human (default), or a robot such as seaturtle; also KEYRACK_OWNER', valueHint: 'name' },
} as const satisfies ArgsDef

export const keyEnvArgs = {
  key: { type: 'string', description: 'the env-var name of the key, e.g. XAI_API_KEY', valueHint: 'KEY' },
  env: { type: 'string', description: 'the env the key serves: test, prep, prod, sudo, all, …', valueHint: 'env' },
  org: { type: 'string', description: "the org (default: the repo manifest's org; @all for machine-wide keys)", valueHint: 'org' },
} as const satisfies ArgsDef

export const forArgs = {
  for: { type: 'string', description: '`repo`: every key the repo manifest allowlists for --env', valueHint: 'repo' },
} as const satisfies ArgsDef

export const passphraseArgs = {
  'passphrase-stdin': { type: 'boolean', description: 'read the identity passphrase from stdin (scripts)' },
  'passphrase-fd': { type: 'string', description: 'read the identity passphrase from this file descriptor, e.g. 3 with 3<file', valueHint: 'n' },
} as const satisfies ArgsDef

export const outputArgs = {
  output: { type: 'string', alias: 'o', description: 'exports (default off a TTY) | json | value | table (default on a TTY) | github-env (append to $GITHUB_ENV)', valueHint: 'format' },
  json: { type: 'boolean', description: 'same as --output json' },
} as const satisfies ArgsDef

export const credentialArgs = {
  'with-credentials': {
    type: 'boolean',
    description: "also the credentials a key's mech mints beside it: an AWS SSO profile's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
  },
} as const satisfies ArgsDef

export const ciArgs = {
  ci: { type: 'boolean', description: 'CI mode (also when $CI is set and not false/0): keys come only from the environment', negativeDescription: 'not CI mode, whatever $CI says' },
} as const satisfies ArgsDef

/**
 * `get --for repo` of an env whose section lists nothing succeeds with nothing: say so on
 * stderr, so an empty result is never mistaken for "all keys granted".
 */
export function noteEmptyEnv(result: { env: string; report: unknown[] }, forRepo: boolean): void {
  if (forRepo && result.report.length === 0)
    say(`env ${result.env} allowlists no keys in .agent/keyrack.yml, so there is nothing to get: list the keys this repo needs under \`env.${result.env}:\` (or \`env.all:\`)`)
}

export function cliContext(args: { owner?: string }, passphrase?: PassphraseSource): Context {
  return createContext({ owner: args.owner, passphrase })
}

/** the values of `CI` that say "not CI" (compared lower-case, trimmed) */
const CI_OFF = new Set(['', 'false', '0', 'no', 'off'])

/**
 * CI mode: `--ci` / `--no-ci` decide; otherwise the `CI` variable CI systems set. Any value but
 * an explicit no counts, in any case (`true`, `True` on AppVeyor, `TRUE`, `1`, or a system's own
 * name such as Woodpecker's `woodpecker`); `false`, `0`, `no`, `off` or empty mean not CI, so a
 * job can leave CI mode with `CI=false`. Erring towards CI mode is safe: it reads keys only from
 * the environment and never touches the keyrack home.
 */
export const isCiMode = (args: { ci?: boolean }, env: Record<string, string | undefined> = process.env): boolean =>
  args.ci ?? (env.CI !== undefined && !CI_OFF.has(env.CI.trim().toLowerCase()))
