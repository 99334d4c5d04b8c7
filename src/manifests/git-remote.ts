/**
 * The org a repo belongs to, read from its git remote's owner: what `keyrack init --repo` writes
 * as `org:` so the starter manifest never carries a placeholder the next command would use.
 */
import { spawnSync } from 'node:child_process'
import { ORG_PATTERN } from '../domain/names.ts'

/**
 * The owner (first path segment) of a git remote URL, lower-cased, or undefined for a remote
 * without one (a local path, `file://`). Every form git accepts:
 * `git@github.com:acme/widgets.git`, `https://github.com/acme/widgets`,
 * `ssh://git@github.com:22/acme/widgets.git`, `git://host/acme/widgets`,
 * `https://user:token@host/acme/widgets.git` (credentials are ignored, never returned).
 */
export function ownerOfRemote(url: string): string | undefined {
  const trimmed = url.trim()
  let path: string | undefined
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    try {
      const parsed = new URL(trimmed)
      if (parsed.protocol === 'file:' || !parsed.hostname) return undefined
      path = decodeURIComponent(parsed.pathname)
    } catch {
      return undefined
    }
  } else {
    // scp-like syntax: [user@]host:path — a colon before any slash (git's own rule)
    const scp = /^(?:[^@/]+@)?([^:/]+):(.+)$/.exec(trimmed)
    if (!scp) return undefined
    path = scp[2]!
  }
  const owner = path.replace(/^\/+/, '').split('/')[0]?.toLowerCase()
  return owner && owner !== '@all' && ORG_PATTERN.test(owner) && path.replace(/^\/+/, '').includes('/') ? owner : undefined
}

export interface RemoteOrg {
  org: string
  /** the remote it came from, e.g. `origin` (never its URL, which may hold a token) */
  remote: string
}

/** the org from the repo's `origin` remote (else its first remote that has an owner); undefined without git or remotes */
export function orgFromGitRemotes(worksite: string): RemoteOrg | undefined {
  const git = (args: string[]): string | undefined => {
    const r = spawnSync('git', ['-C', worksite, ...args], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
    return r.status === 0 ? r.stdout : undefined
  }
  const remotes = (git(['remote']) ?? '').split('\n').filter(Boolean)
  for (const remote of [...remotes.filter((r) => r === 'origin'), ...remotes.filter((r) => r !== 'origin')]) {
    const url = git(['remote', 'get-url', remote])
    const org = url ? ownerOfRemote(url) : undefined
    if (org) return { org, remote }
  }
  return undefined
}
