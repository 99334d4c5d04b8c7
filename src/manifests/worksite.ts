/**
 * The worksite is the git root of the current directory (SPEC §3). Found by walking up to the
 * nearest `.git` (a directory, or a file in a worktree/submodule) — what `git rev-parse
 * --show-toplevel` answers, without spawning git on the `get` path.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

export function findWorksite(cwd: string): string | null {
  let dir = resolve(cwd)
  for (;;) {
    if (existsSync(join(dir, '.git'))) return dir
    const parent = dirname(dir)
    if (parent === dir) return null
    dir = parent
  }
}

export function repoManifestPath(worksite: string): string {
  return join(worksite, '.agent', 'keyrack.yml')
}
