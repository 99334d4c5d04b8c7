/**
 * What to tell someone whose key the repo manifest does not allowlist: the line to add and
 * where, and "did you mean" when a listed key is one typo away. Used by `set` (which still
 * stores the key: the host manifest is the user's) and by `get` (which refuses it).
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { ENV_ALL, ENV_SUDO } from '../domain/names.ts'
import { closest } from '../domain/suggest.ts'
import { allowlistFor, declaredEnvs, type RepoManifest } from '../manifests/repo.ts'

/** the keys a get of this env may serve; for env `all`, every key any env lists */
function allowlisted(manifest: RepoManifest, env: string): string[] {
  const envs = env === ENV_ALL ? [...manifest.envs.keys()] : [env]
  return [...new Set(envs.flatMap((e) => allowlistFor(manifest, e).map((k) => k.key)))]
}

/** the allowlisted key a mistyped one most likely meant (`XAI_APIKEY` → `XAI_API_KEY`) */
export function closestAllowlisted(manifest: RepoManifest, key: string, env: string): string | undefined {
  const guess = closest(key, allowlisted(manifest, env))
  return guess === key ? undefined : guess
}

/** where the `env.<env>:` section starts (file:line), to point the user at it */
function sectionAt(manifest: RepoManifest, env: string): string {
  const shown = relative(process.cwd(), manifest.file) || manifest.file
  try {
    const lines = readFileSync(manifest.file, 'utf8').split('\n')
    const at = lines.findIndex((l) => new RegExp(`^env\\.${env}\\s*:`).test(l))
    return at >= 0 ? `${shown}:${at + 1}` : shown
  } catch {
    return shown
  }
}

/**
 * A warning for storing a key that `get` in this repo would refuse, with the exact line to
 * add; undefined when the repo already allowlists it (directly or through `env.all`), for sudo
 * keys (never listed), and for another org's keys.
 */
export function notAllowlistedWarning(manifest: RepoManifest, input: { key: string; env: string; org: string }): string | undefined {
  const { key, env } = input
  if (env === ENV_SUDO || input.org !== manifest.org) return undefined
  const guess = closestAllowlisted(manifest, key, env)
  const typo = guess ? ` (did you mean ${guess}?)` : ''
  // an undeclared env serves nothing, not even env.all keys
  if (env !== ENV_ALL && !manifest.envs.has(env))
    return `stored, but env ${env} is not declared in ${sectionAt(manifest, env)}, so \`keyrack get --for repo\` will not serve ${key}${typo}: add the section \`env.${env}:\` with the line \`  - ${key}\` (declared: ${declaredEnvs(manifest).join(', ') || 'none'})`
  if (allowlisted(manifest, env).includes(key)) return undefined
  const section = env
  const empty = (manifest.envs.get(section)?.length ?? 0) === 0
  return `stored, but ${key} is not allowlisted for env ${env} by ${sectionAt(manifest, section)}, so \`keyrack get --for repo\` will not serve it${typo}: add the line \`  - ${key}\` under \`env.${section}:\`${empty ? ' (in place of its `[]`)' : ''}`
}
