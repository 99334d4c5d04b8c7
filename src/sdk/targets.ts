/**
 * What a `get`, `unlock` or `exec` may look up, decided before anything is looked up: the repo
 * manifest's allowlist for the env (`--for repo`), or one explicitly named key — sudo keys and
 * machine-wide `@all` keys being the only ones outside the allowlist (SPEC §5).
 */
import { existsSync } from 'node:fs'
import type { Context } from '../context.ts'
import { KeyrackNotAllowlistedError, KeyrackUsageError } from '../domain/errors.ts'
import { assertEnv, assertKey, assertOrg, ENV_ALL, ENV_SUDO, ORG_ALL, toSlug } from '../domain/names.ts'
import { allowlistFor, declaredEnvs, readRepoManifest, type AllowlistedKey, type RepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { printable } from '../domain/printable.ts'
import { closestAllowlisted } from './allowlist-advice.ts'
import type { GetInput } from './get.ts'

export interface Target {
  env: string
  keys: AllowlistedKey[]
  manifest: RepoManifest | null
}

/** resolves what may be looked up, before anything is looked up */
export function resolveTargets(ctx: Context, input: GetInput): Target {
  if (input.for !== undefined && input.for !== 'repo')
    throw new KeyrackUsageError(`\`--for\` only takes \`repo\``, ['use `--for repo`, or `--key KEY --env ENV` for one key'])
  if (input.for && input.key) throw new KeyrackUsageError('use either `--for repo` or `--key`, not both', ['drop `--key` to get every key of the repo'])
  if (!input.for && !input.key) throw new KeyrackUsageError('say which keys: `--for repo` or `--key KEY`', ['keyrack get --for repo --env test'])
  const worksite = findWorksite(ctx.cwd, ctx.env)
  const manifestFile = worksite ? repoManifestPath(worksite) : null
  const manifest = worksite && manifestFile && existsSync(manifestFile) ? readRepoManifest(worksite, ctx.env) : null

  if (input.for === 'repo') {
    if (!worksite)
      throw new KeyrackUsageError(`\`--for repo\` needs a git repo, and ${printable(ctx.cwd)} is not inside one`, [
        'cd into your repo and run it there',
        'outside a repo only sudo and machine-wide keys can be got, by name: `keyrack get --key KEY --env sudo --org ORG` or `keyrack get --key KEY --env ENV --org @all`',
      ])
    if (!manifest)
      throw new KeyrackUsageError(`this repo has no keyrack manifest (${printable(manifestFile!)})`, ['create one: `keyrack init --repo`'])
    const env = resolveEnv(manifest, input.env)
    return { env, keys: allowlistFor(manifest, env), manifest }
  }

  const key = assertKey(input.key!)
  if (!input.env) throw new KeyrackUsageError('`--key` needs `--env`', [`keyrack get --key ${key} --env test`])
  const env = assertEnv(input.env)
  const org = input.org ? assertOrg(input.org) : manifest?.org
  const explicitException = env === ENV_SUDO || org === ORG_ALL
  if (manifest && !explicitException) {
    const listed = allowlistFor(manifest, env).find((k) => k.key === key)
    if (!listed || (input.org && input.org !== manifest.org))
      throw new KeyrackNotAllowlistedError(`${key} is not allowlisted for env ${env} by ${printable(manifest.file)}`, [
        ...didYouMean(manifest, key, env, input.org),
        `if this repo needs it, add it under \`env.${env}:\` in .agent/keyrack.yml and commit that change`,
      ])
    return { env, keys: [listed], manifest }
  }
  if (!explicitException)
    throw new KeyrackNotAllowlistedError(
      manifest ? `${key} is not allowlisted` : `outside a repo with .agent/keyrack.yml only sudo and @all keys can be got (${printable(ctx.cwd)})`,
      ['cd into the repo that lists the key, or use `--env sudo --org ORG` / `--org @all` for a machine-wide key'],
    )
  if (!org) throw new KeyrackUsageError('outside a repo, `--key` needs `--org`', [`keyrack get --key ${key} --env ${env} --org @all`])
  const slugs = [toSlug({ org, env, key })]
  return { env, keys: [{ key, env, slugs, spec: { key } }], manifest }
}

/** `--key XAI_APIKEY` → "did you mean `--key XAI_API_KEY`?" (only within the repo's own org) */
function didYouMean(manifest: RepoManifest, key: string, env: string, org: string | undefined): string[] {
  const guess = org && org !== manifest.org ? undefined : closestAllowlisted(manifest, key, env)
  return guess ? [`did you mean \`--key ${guess}\`?`] : []
}

function resolveEnv(manifest: RepoManifest, env: string | undefined): string {
  const envs = declaredEnvs(manifest)
  if (env) {
    assertEnv(env)
    if (env !== ENV_ALL && !manifest.envs.has(env))
      throw new KeyrackNotAllowlistedError(`env ${env} is not declared in ${printable(manifest.file)} (it declares: ${envs.join(', ') || 'none'})`, [
        `add an \`env.${env}:\` section to .agent/keyrack.yml, or use one of: ${envs.map((e) => `--env ${e}`).join(', ')}`,
      ])
    return env
  }
  if (envs.length === 1) return envs[0]!
  throw new KeyrackUsageError(`say which env: this repo declares ${envs.join(', ')}`, envs.map((e) => `keyrack get --for repo --env ${e}`))
}
