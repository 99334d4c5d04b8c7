/**
 * git's credential helper protocol (git-credential(1), "INPUT/OUTPUT FORMAT") answered from the
 * keyrack: for a GitHub host, the repo's GitHub token — a live GitHub App installation token the
 * daemon keeps fresh — so `git push` works with no token in the environment or on disk.
 *
 * Which key it serves: the key named `GITHUB_TOKEN` (or `key`) that the repo manifest of the
 * worksite git runs in allowlists, for `env` (or the one env that lists it). It goes through
 * `get` itself — the allowlist, the firewall, the daemon-first chain — exactly like any other use,
 * and never unlocks (no passphrase, no prompt: git may run it from anywhere).
 *
 * Which hosts it answers for: `https://github.com`, and the host of `GITHUB_API_URL` with its
 * scheme (GitHub Enterprise Server, `https://HOST/api/v3` → HOST). Any other host — a typo'd
 * remote, a malicious submodule URL — gets no answer, so the token is never sent elsewhere.
 * Outside a repo with a keyrack manifest, or for a repo that does not list the key, the helper
 * says nothing and git goes on to its next helper.
 */
import { existsSync } from 'node:fs'
import type { Context } from '../context.ts'
import { KeyrackUsageError } from '../domain/errors.ts'
import { ENV_ALL } from '../domain/names.ts'
import { allowlistFor, declaredEnvs, readRepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { get } from './get.ts'

/** the key the helper serves unless told otherwise: what `gh`, Actions and most tools call it */
export const GIT_CREDENTIAL_KEY = 'GITHUB_TOKEN'
/** the user name GitHub expects with an installation token */
const TOKEN_USER = 'x-access-token'

/** one request as git writes it: `key=value` lines, up to a blank line (array keys `x[]` are kept as their last value) */
export function parseCredentialRequest(text: string): Record<string, string> {
  const request: Record<string, string> = Object.create(null)
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/\r$/, '')
    if (trimmed === '') break
    const eq = trimmed.indexOf('=')
    if (eq > 0) request[trimmed.slice(0, eq)] = trimmed.slice(eq + 1)
  }
  return request
}

/** the `protocol://host` pairs the helper answers for: github.com, and GITHUB_API_URL's host */
export function servedHosts(env: Record<string, string | undefined>): { protocol: string; host: string }[] {
  const hosts = [{ protocol: 'https', host: 'github.com' }]
  const api = env.GITHUB_API_URL?.trim()
  if (!api) return hosts
  try {
    const url = new URL(api)
    if ((url.protocol === 'https:' || url.protocol === 'http:') && url.host !== 'api.github.com') hosts.push({ protocol: url.protocol.slice(0, -1), host: url.host.toLowerCase() })
  } catch {
    // not a URL: only github.com
  }
  return hosts
}

export interface GitCredentialInput {
  /** what git sent (parseCredentialRequest) */
  request: Record<string, string>
  /** the key to serve; default GITHUB_TOKEN */
  key?: string
  /** the env whose allowlist serves it; default the one env of the repo manifest that lists the key */
  env?: string
}

export interface GitCredential {
  username: string
  password: string
  /** epoch ms: git forgets the password then (`password_expiry_utc`) */
  expiresAt?: number
}

/**
 * The credential for git's `get`, or null when the helper has nothing to say (another host, no
 * keyrack manifest here, a repo that does not list the key).
 * @throws KeyrackError when the repo lists the key but it cannot be served (locked, expired, absent, blocked)
 */
export async function gitCredential(ctx: Context, input: GitCredentialInput): Promise<GitCredential | null> {
  const { protocol, host } = input.request
  if (!protocol || !host) return null
  const wanted = { protocol: protocol.toLowerCase(), host: host.toLowerCase() }
  if (!servedHosts(ctx.env).some((h) => h.protocol === wanted.protocol && h.host === wanted.host)) return null
  const worksite = findWorksite(ctx.cwd, ctx.env)
  if (!worksite || !existsSync(repoManifestPath(worksite))) return null
  const manifest = readRepoManifest(worksite, ctx.env)
  const key = input.key ?? GIT_CREDENTIAL_KEY
  const envs = input.env ? [input.env] : [...declaredEnvs(manifest), ENV_ALL].filter((env) => allowlistFor(manifest, env).some((k) => k.key === key))
  if (envs.length === 0 || (input.env && !allowlistFor(manifest, input.env).some((k) => k.key === key))) return null
  // a key in env.all is listed by every env: that is one key, not a choice
  const env = envs.length === 1 ? envs[0]! : envs.includes(ENV_ALL) ? ENV_ALL : undefined
  if (!env)
    throw new KeyrackUsageError(`${key} is allowlisted for several envs (${envs.join(', ')}): say which one git should use`, [
      `git config credential.${wanted.protocol}://${wanted.host}.helper '!keyrack git-credential --env ${envs[0]}'`,
    ])
  const result = await get(ctx, { key, env })
  const grant = result.grants[0]
  if (!grant) return null
  const password = grant.key.secret
  // the protocol is line-based: a value with a line break or NUL cannot be sent (and is no token)
  if (/[\n\r\0]/.test(password)) throw new KeyrackUsageError(`${key} is not a token git can use (it holds a line break)`, [`check what ${key} holds: \`keyrack get --key ${key} --env ${env} --output json\``])
  const username = input.request.username || TOKEN_USER
  return grant.expiresAt === undefined ? { username, password } : { username, password, expiresAt: grant.expiresAt }
}

/** the answer to `get`, in git's format */
export function formatCredential(credential: GitCredential): string {
  const lines = [`username=${credential.username}`, `password=${credential.password}`]
  if (credential.expiresAt !== undefined) lines.push(`password_expiry_utc=${Math.floor(credential.expiresAt / 1000)}`)
  return `${lines.join('\n')}\n`
}
