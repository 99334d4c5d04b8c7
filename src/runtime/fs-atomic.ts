/**
 * Atomic, private file writes: temp file in the same directory (O_EXCL, 0600), fsync, rename,
 * fsync the directory. A reader sees the old file or the new one, never half of either.
 */
import { closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, chmodSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { KeyrackVaultError } from '../domain/errors.ts'
import { randomHex } from './random.ts'

/**
 * @param options.foreignDir the directory is not keyrack's (~/.aws): leave its mode alone, only
 *   create it (0700) when missing
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600, options: { foreignDir?: boolean } = {}): void {
  const temp = writeTempBeside(path, data, mode, options)
  try {
    renameSync(temp, path)
  } catch (error) {
    unlinkSync(temp)
    throw error
  }
  fsyncDir(dirname(path))
}

/**
 * Writes data to a new, fsynced temp file beside path (same directory, so a later rename is
 * atomic) and returns the temp's path. Callers that replace several files at once write every
 * temp first and rename only when all of them exist.
 */
export function writeTempBeside(path: string, data: string | Uint8Array, mode = 0o600, options: { foreignDir?: boolean } = {}): string {
  const dir = dirname(path)
  if (options.foreignDir) mkdirSync(dir, { recursive: true, mode: 0o700 })
  else ensurePrivateDir(dir)
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomHex(4)}`)
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    let offset = 0
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
    fsyncSync(fd)
  } catch (error) {
    closeSync(fd)
    unlinkSync(temp)
    throw error
  }
  closeSync(fd)
  return temp
}

export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY)
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // some filesystems refuse fsync on a directory; the rename itself is still atomic
  }
}

/** creates a 0700 directory (and parents) or verifies an existing one is a real directory */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stat = lstatSync(dir)
  if (!stat.isDirectory())
    throw new KeyrackVaultError(`${dir} is not a directory`, [`move it aside: \`mv ${dir} ${dir}.bak\``])
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700)
}

export function removeFileIfExists(path: string): boolean {
  try {
    unlinkSync(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}
