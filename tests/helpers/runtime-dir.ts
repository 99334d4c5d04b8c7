/**
 * Every test gets its own XDG_RUNTIME_DIR (a fresh 0700 directory it created), so the daemon's
 * socket directory resolves inside the test's sandbox. Without one keyrack falls back to the
 * machine-wide `<tmp>/keyrack-<uid>`, which another program may have created loose or filled:
 * a test must never depend on, or touch, that shared state.
 */
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** `<parent>/run`, created 0700 (chmod too: the umask cannot add bits, but mkdir of an existing dir keeps its mode) */
export function createRuntimeDir(parent: string, name = 'run'): string {
  const dir = join(parent, name)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  return dir
}

/** a fresh 0700 directory under the system temp dir; the caller removes it */
export function tempRuntimeDir(prefix = 'keyrack-run-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o700)
  return dir
}
