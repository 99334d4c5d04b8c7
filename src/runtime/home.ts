/**
 * The keyrack home is checked, not trusted. Every read of a file in it goes through
 * `readHomeFile`, which first checks the home directory itself and every directory between it
 * and the file (`checkHomeDirs`), then reads the file with readFileGuarded (`trusted`,
 * `noFollow`): each must be a real directory or regular file, not a symlink, owned by you, and
 * not writable by group or others. Anything else is refused with KeyrackUnsafePathError (exit 9)
 * and the exact command that makes it safe; nothing from it is used. A file that is not a regular
 * file, or larger than keyrack ever writes, is a damaged store (KeyrackVaultError, exit 6).
 *
 * Why on every read, not once at init: another user who can write to a loosened KEYRACK_HOME
 * (0777, or a shared directory) could otherwise plant a `direct.<owner>.json` that `get` serves,
 * or swap a file for a symlink to one of theirs. `doctor` reporting it is not enough.
 */
import { lstatSync, realpathSync } from 'node:fs'
import { dirname, relative, sep } from 'node:path'
import { KeyrackUnsafePathError, KeyrackVaultError } from '../domain/errors.ts'
import { readFileGuarded, UnsafeFileError } from './read-file.ts'

const currentUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined)

/**
 * Reads a file of the keyrack home after checking the home and the directories on the way.
 * @returns the bytes, or null when the file (or the home) does not exist
 * @throws KeyrackUnsafePathError when the home, a directory on the way or the file is not safe
 */
export function readHomeFile(home: string, file: string, maxBytes: number): Buffer | null {
  checkHomeDirs(home, dirname(file))
  try {
    return readFileGuarded(file, { maxBytes, trusted: true, noFollow: true })
  } catch (error) {
    if (error instanceof UnsafeFileError) throw unsafeFile(error)
    throw error
  }
}

/**
 * Checks the home and each directory from it down to `dir` (which must be inside it). A missing
 * directory is fine (there is nothing to read in it); the first unsafe one is refused.
 */
export function checkHomeDirs(home: string, dir: string = home): void {
  const rel = relative(home, dir)
  const parts = rel === '' || rel.startsWith('..') ? [] : rel.split(sep)
  let current = home
  for (let i = 0; ; i++) {
    if (!checkDir(current, home)) return
    if (i >= parts.length) return
    current = `${current}${sep}${parts[i]}`
  }
}

/** @returns false when the directory does not exist */
function checkDir(dir: string, home: string): boolean {
  let stats
  try {
    stats = lstatSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
  const isHome = dir === home
  const what = isHome ? `the keyrack home ${dir}` : `${dir} in the keyrack home`
  if (stats.isSymbolicLink()) {
    const hint = isHome ? [`point KEYRACK_HOME at the real directory: \`export KEYRACK_HOME=${arg(realOrSame(dir))}\``] : [`replace the link with the directory it points to: \`mv ${arg(dir)} ${arg(`${dir}.link`)} && cp -R "$(readlink -f ${arg(`${dir}.link`)})" ${arg(dir)}\``]
    throw new KeyrackUnsafePathError(`${what} is a symlink; keyrack only trusts real directories there`, hint, dir)
  }
  if (!stats.isDirectory()) throw new KeyrackUnsafePathError(`${what} is not a directory`, [`move it aside: \`mv ${arg(dir)} ${arg(`${dir}.bak`)}\``], dir)
  const uid = currentUid()
  if (uid !== undefined && stats.uid !== uid)
    throw new KeyrackUnsafePathError(`${what} is owned by uid ${stats.uid}, not by you (uid ${uid}); keyrack reads nothing from it`, [
      `if it is yours (made by running keyrack with sudo), take it back: \`sudo chown -R "$(id -un)" ${arg(dir)}\`; if not, move it aside and look at what is in it`,
    ], dir)
  if ((stats.mode & 0o022) !== 0)
    throw new KeyrackUnsafePathError(`${what} is writable by ${stats.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(stats.mode & 0o777).toString(8)}); keyrack reads nothing from it`, [
      `chmod 700 ${arg(dir)}`,
    ], dir)
  return true
}

function unsafeFile(error: UnsafeFileError): KeyrackUnsafePathError | KeyrackVaultError {
  const file = error.file
  const message = `${file} in the keyrack home ${error.detail}; keyrack reads nothing from it`
  switch (error.reason) {
    case 'symlink':
      return new KeyrackUnsafePathError(message, [`replace the link with a copy of its file: \`cp -L ${arg(file)} ${arg(`${file}.copy`)} && mv ${arg(`${file}.copy`)} ${arg(file)}\``], file)
    case 'foreign-owner':
      return new KeyrackUnsafePathError(message, [
        `if it is yours (written by running keyrack with sudo), take it back: \`sudo chown "$(id -un)" ${arg(file)}\`; if not, move it aside: \`mv ${arg(file)} ${arg(`${file}.bak`)}\``,
      ], file)
    case 'writable-by-others':
      return new KeyrackUnsafePathError(message, [`chmod 600 ${arg(file)}`], file)
    case 'not-regular':
    case 'too-large':
      // not a question of trust (the checks above already passed) but a damaged store: a vault failure
      return new KeyrackVaultError(message, [`keyrack never writes such a file there: move it aside: \`mv ${arg(file)} ${arg(`${file}.bak`)}\``])
  }
}

function realOrSame(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

/** a path as one shell word: bare when it is plain, else single-quoted */
function arg(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`
}
