/**
 * The worksite is the git root of the current directory (SPEC §3). Found by walking up to the
 * nearest `.git` (a directory, or a file in a worktree/submodule) — what `git rev-parse
 * --show-toplevel` answers, without spawning git on the `get` path.
 *
 * Like git's `safe.directory` check, a worksite owned by another user is refused: whoever owns
 * the repo decides its allowlist, so a `/tmp/.git` + `/tmp/.agent/keyrack.yml` planted by
 * another user must not steer (or hang) keyrack for everyone who works below /tmp. The same
 * exceptions as git's apply: `git config --global --add safe.directory <dir>` (or `*`).
 */
import { lstatSync, realpathSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { Env } from '../context.ts'
import { KeyrackManifestInvalidError } from '../domain/errors.ts'
import { shellWord } from '../domain/printable.ts'

/** the uid whose repos are trusted; undefined where there are no uids (Windows) */
export const currentUid = (): number | undefined =>
  typeof process.geteuid === 'function' ? process.geteuid() : typeof process.getuid === 'function' ? process.getuid() : undefined

/**
 * @param env the environment git's own config lookup runs in (HOME finds ~/.gitconfig)
 * @throws KeyrackManifestInvalidError when the nearest git root (its directory or its `.git`)
 *   belongs to another user and git's `safe.directory` does not list it
 */
export function findWorksite(cwd: string, env: Env = process.env): string | null {
  let dir = resolve(cwd)
  for (;;) {
    const dotGit = join(dir, '.git')
    const stat = lstatOrNull(dotGit)
    if (stat) {
      assertOwnWorksite(dir, [{ path: dir, uid: statSync(dir).uid }, { path: dotGit, uid: stat.uid }], env)
      return dir
    }
    const parent = dirname(dir)
    if (parent === dir) return null
    dir = parent
  }
}

export function repoManifestPath(worksite: string): string {
  return join(worksite, '.agent', 'keyrack.yml')
}

/**
 * A file in the worksite that keyrack reads (the manifest, an `extends` target) must be owned by
 * the user too, unless git's `safe.directory` trusts the worksite.
 */
export function assertOwnFile(worksite: string, file: string, uid: number, env: Env = process.env): void {
  assertOwnWorksite(worksite, [{ path: file, uid }], env)
}

function assertOwnWorksite(worksite: string, owned: { path: string; uid: number }[], env: Env): void {
  const me = currentUid()
  if (me === undefined) return
  const foreign = owned.find((o) => o.uid !== me)
  if (!foreign || isSafeDirectory(worksite, env)) return
  throw new KeyrackManifestInvalidError(
    `${foreign.path} is owned by uid ${foreign.uid}, not by you (uid ${me}): keyrack takes a repo's allowlist only from a repo you own, ` +
      'so another user cannot plant one (e.g. a /tmp/.git with a /tmp/.agent/keyrack.yml) above where you work',
    [
      `if this is not your repo, work inside your own: \`git init\` in your project directory makes it the worksite`,
      `if you trust it, mark it safe as you would for git: \`git config --global --add safe.directory ${shellWord(worksite)}\``,
    ],
    foreign.path,
  )
}

/**
 * git's `safe.directory` from the config git itself trusts for it (system, global, command line:
 * never the repo's own config). `*` trusts every directory, `<dir>/*` every directory below it, an
 * empty value resets the list. Spawns git only when a worksite is foreign, never on the usual path.
 */
function isSafeDirectory(worksite: string, env: Env): boolean {
  // node:child_process loads only here (a foreign worksite): importing it costs every `get` start-up time
  const { spawnSync } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process')
  const result = spawnSync('git', ['config', '--show-scope', '--get-all', 'safe.directory'], {
    cwd: '/',
    env: Object.fromEntries(Object.entries(env).filter(([name]) => name !== 'GIT_DIR' && name !== 'GIT_WORK_TREE')) as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: 5000,
  })
  if (result.status !== 0 || typeof result.stdout !== 'string') return false
  let safe: string[] = []
  for (const line of result.stdout.split('\n')) {
    const tab = line.indexOf('\t')
    if (tab < 0) continue
    const scope = line.slice(0, tab)
    if (scope !== 'system' && scope !== 'global' && scope !== 'command') continue
    const value = line.slice(tab + 1)
    if (value === '') safe = []
    else safe.push(value)
  }
  const candidates = new Set([worksite, realpathOr(worksite)])
  return safe.some((entry) => {
    if (entry === '*') return true
    const path = entry.startsWith('~/') && env.HOME ? join(env.HOME, entry.slice(2)) : entry
    if (path.endsWith('/*')) {
      const prefix = path.slice(0, -1)
      return [...candidates].some((c) => `${c}/`.startsWith(prefix))
    }
    const normal = path.replace(/\/+$/, '') || '/'
    return candidates.has(normal) || candidates.has(realpathOr(normal))
  })
}

function lstatOrNull(path: string): import('node:fs').Stats | null {
  try {
    return lstatSync(path)
  } catch {
    return null
  }
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}
