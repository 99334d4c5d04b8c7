/**
 * Where the daemon's socket lives (SPEC §10), and the checks that make that place safe.
 *
 * The socket directory is the enforced per-user boundary: the kernel refuses other users
 * at the directory (0700, owned by us) before the daemon's peer-uid check ever runs. So the
 * directory is verified on every use, never trusted because "we created it earlier": on a
 * shared /tmp another user could have created `/tmp/keyrack-<uid>/` first, or swapped in a
 * symlink to a directory they control.
 *
 * Every function takes the environment and uid as arguments (no globals read at import
 * time), so the CLI passes its Context and tests pass temp dirs.
 */
import { lstatSync, mkdirSync } from 'node:fs'
import { basename, dirname, isAbsolute, join } from 'node:path'
import { KeyrackError, KeyrackUnsafePathError, KeyrackUsageError } from '../domain/errors.ts'

export type Env = Readonly<Record<string, string | undefined>>

/** SPEC §3: owner names; also what keeps `<owner>.sock` inside the socket dir */
export const OWNER_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/

export interface SocketLocationInput {
  /** the caller's environment (XDG_RUNTIME_DIR, TMPDIR, KEYRACK_SOCK are read from it) */
  env: Env
  /** the current user's uid (process.getuid() in production) */
  uid: number
  /** defaults to process.platform; injectable to exercise the macOS branch in tests */
  platform?: NodeJS.Platform
  /**
   * the shared temp directory of the last-resort fallback when TMPDIR is not an absolute path;
   * defaults to SHARED_TMP. Injectable so that tests compute the fallback inside a sandbox instead
   * of naming the machine's /tmp
   */
  sharedTmp?: string
}

/** where the last-resort socket directory `keyrack-<uid>` lives (SPEC §10) */
export const SHARED_TMP = '/tmp'

/**
 * The socket directory for this user, without touching it (except the lstat of
 * XDG_RUNTIME_DIR, which decides whether it may be used at all).
 *
 * - `$XDG_RUNTIME_DIR/keyrack` when XDG_RUNTIME_DIR is a real (not symlinked) 0700
 *   directory owned by `uid` — the logind-managed dir that disappears at logout;
 * - on macOS `$TMPDIR/keyrack` (TMPDIR is the per-user `/var/folders/…/T/`, already 0700);
 * - otherwise `$TMPDIR/keyrack-<uid>`, which is `/tmp/keyrack-<uid>` unless TMPDIR names
 *   another absolute directory (as ssh-agent does: TMPDIR is where a user's temp files go).
 *   Either way the directory is verified before use, so a squatted one is refused, never used.
 */
export function resolveSocketDir({ env, uid, platform = process.platform, sharedTmp }: SocketLocationInput): string {
  const runtimeDir = env.XDG_RUNTIME_DIR
  if (runtimeDir && isAbsolute(runtimeDir) && isPrivateDir(runtimeDir, uid)) return join(runtimeDir, 'keyrack')
  const tmp = env.TMPDIR && isAbsolute(env.TMPDIR) ? env.TMPDIR : undefined
  if (platform === 'darwin' && tmp) return join(tmp, 'keyrack')
  return join(tmp ?? sharedTmp ?? SHARED_TMP, `keyrack-${uid}`)
}

/** `<dir>/<owner>.sock`; throws KeyrackUsageError for a bad owner name (it becomes a file name) */
export function socketPathFor(dir: string, owner: string): string {
  assertOwner(owner)
  return join(dir, `${owner}.sock`)
}

/**
 * The socket path for `owner`: `KEYRACK_SOCK` when it names this owner's socket
 * (`…/<owner>.sock`, like ssh-agent's SSH_AUTH_SOCK), else the default location.
 *
 * A KEYRACK_SOCK for another owner is ignored rather than obeyed: `--owner seaturtle`
 * must never talk to the human's daemon because an exported variable said so. The
 * directory checks are NOT done here; call `prepareSocketDir` (daemon, ensureDaemon) or
 * `verifySocketDir` (clients) on `dirname(path)` before use.
 */
export function resolveSocketPath(input: SocketLocationInput & { owner: string }): string {
  assertOwner(input.owner)
  const explicit = input.env.KEYRACK_SOCK
  if (explicit && isAbsolute(explicit) && basename(explicit) === `${input.owner}.sock`) return explicit
  return socketPathFor(resolveSocketDir(input), input.owner)
}

/**
 * Create the socket directory (0700) if missing, then verify it. Returns the directory.
 * Only the last path component is created: parents (XDG_RUNTIME_DIR, TMPDIR, /tmp) must exist.
 */
export function prepareSocketDir(dir: string, uid: number): string {
  try {
    // mode is filtered by the umask, which can only remove bits: the result is 0700 or tighter
    mkdirSync(dir, { mode: 0o700 })
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') {
      throw new KeyrackError(`cannot create the keyrack socket directory ${dir}`, {
      exit: 'environment',
        hint: [`mkdir -m 700 ${dir}`],
      })
    }
  }
  verifySocketDir(dir, uid)
  return dir
}

/**
 * Throw a KeyrackError naming the exact fix unless `dir` is a real directory (not a symlink),
 * owned by `uid`, with no group/other permission bits.
 */
export function verifySocketDir(dir: string, uid: number): void {
  let stats
  try {
    stats = lstatSync(dir)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new KeyrackError(`the keyrack socket directory ${dir} does not exist`, {
      exit: 'environment',
        hint: [`mkdir -m 700 ${dir}`],
      })
    }
    throw new KeyrackError(`cannot inspect the keyrack socket directory ${dir}`, { exit: 'environment', hint: [`ls -ld ${dir}`] })
  }
  if (stats.isSymbolicLink()) {
    throw new KeyrackUnsafePathError(`the keyrack socket directory ${dir} is a symlink, refusing to use it`, [`rm ${dir}`], dir)
  }
  if (!stats.isDirectory()) {
    throw new KeyrackError(`the keyrack socket path ${dir} is not a directory`, { exit: 'environment', hint: [`rm -rf ${dir}`] })
  }
  if (stats.uid !== uid) {
    // someone else made it (possibly to squat on /tmp/keyrack-<uid>): it cannot be repaired
    // by us, only removed by its owner or root
    throw new KeyrackUnsafePathError(`the keyrack socket directory ${dir} is owned by uid ${stats.uid}, not by you (uid ${uid})`, [`sudo rm -rf ${dir}`], dir)
  }
  if ((stats.mode & 0o077) !== 0) {
    throw new KeyrackUnsafePathError(`the keyrack socket directory ${dir} is accessible to other users`, [`chmod 700 ${dir}`], dir)
  }
}

/**
 * Resolve and prepare in one step, for the daemon side: returns the verified socket path.
 * Honors KEYRACK_SOCK (see resolveSocketPath) but only after the same directory checks.
 */
export function prepareSocketPath(input: SocketLocationInput & { owner: string }): string {
  const path = resolveSocketPath(input)
  prepareSocketDir(dirname(path), input.uid)
  return path
}

function assertOwner(owner: string): void {
  if (!OWNER_PATTERN.test(owner)) {
    throw new KeyrackUsageError(`invalid owner name '${owner.slice(0, 40)}'`, [
      'owner names match ^[a-z][a-z0-9_-]{0,31}$, e.g. keyrack status --owner human',
    ])
  }
}

function isPrivateDir(path: string, uid: number): boolean {
  try {
    const stats = lstatSync(path)
    return stats.isDirectory() && !stats.isSymbolicLink() && stats.uid === uid && (stats.mode & 0o777) === 0o700
  } catch {
    return false
  }
}

export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined
}
