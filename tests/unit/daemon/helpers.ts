/** Shared setup for the daemon tests: temp runtime dirs, the second OS user, process cleanup. */
import { execFileSync, spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { tempRuntimeDir as createRuntimeTempDir } from '../../helpers/runtime-dir.ts'

export const FIXTURES = join(import.meta.dir, 'fixtures')
export const BUN = process.execPath
export const OTHER_USER = 'keyrack-test-other'

/** a fresh 0700 directory to act as XDG_RUNTIME_DIR; remember to rm it */
export const tempRuntimeDir = (): string => createRuntimeTempDir('keyrack-daemon-test-')

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/**
 * The second user's uid/gid, creating the user when we are root and it is missing.
 * Returns a reason string instead when that is impossible, so tests can skip loudly.
 */
export function otherUser(): { uid: number; gid: number } | string {
  if (process.getuid?.() !== 0) return 'not root: cannot create or switch to a second user'
  const lookup = (): { uid: number; gid: number } | undefined => {
    const out = spawnSync('id', ['-u', OTHER_USER], { encoding: 'utf8' })
    if (out.status !== 0) return undefined
    const gid = spawnSync('id', ['-g', OTHER_USER], { encoding: 'utf8' })
    return { uid: Number(out.stdout.trim()), gid: Number(gid.stdout.trim()) }
  }
  const found = lookup()
  if (found) return found
  try {
    execFileSync('useradd', ['-M', '-s', '/usr/sbin/nologin', OTHER_USER], { stdio: 'ignore' })
  } catch {
    return 'useradd failed: cannot create the second user'
  }
  return lookup() ?? 'useradd did not create the second user'
}

/** argv prefix that runs a command as `user` with no supplementary groups (and so no root capabilities) */
export function asUser(user: { uid: number; gid: number }): string[] {
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups']
}

/** a minimal environment for processes run as the other user (bun needs a HOME; no cache writes) */
export function otherUserEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: '/usr/bin:/bin', HOME: '/tmp', BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0', ...extra }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function waitFor(check: () => boolean, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (check()) return true
    await Bun.sleep(stepMs)
  }
  return check()
}
