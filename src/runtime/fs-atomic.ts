/**
 * Atomic, private file writes: temp file in the same directory (O_EXCL, 0600), write, fsync,
 * rename over the target, fsync the directory. A reader sees the old file or the new one,
 * never half of either, and after a crash or power loss the rename is durable.
 *
 * The file operations go through an `AtomicFs` port (node:fs by default) so a test can record
 * their order and prove each step happens (tests/unit/fs-atomic.test.ts): the suite used to pass
 * with writes in place and with both fsyncs removed.
 */
import { chmodSync, closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { KeyrackNoSpaceError, KeyrackUnsafePathError, KeyrackVaultError } from '../domain/errors.ts'
import { randomHex } from './random.ts'

export interface WriteOptions {
  foreignDir?: boolean
  fs?: AtomicFs
}

/** the file operations an atomic write is made of; node:fs in production */
export interface AtomicFs {
  open(path: string, flags: number, mode?: number): number
  /** @returns the number of bytes written (may be fewer than asked) */
  write(fd: number, bytes: Uint8Array, offset: number, length: number): number
  fsync(fd: number): void
  close(fd: number): void
  rename(from: string, to: string): void
  unlink(path: string): void
}

export const nodeFs: AtomicFs = {
  open: (path, flags, mode) => openSync(path, flags, mode),
  write: (fd, bytes, offset, length) => writeSync(fd, bytes, offset, length),
  fsync: (fd) => fsyncSync(fd),
  close: (fd) => closeSync(fd),
  rename: (from, to) => renameSync(from, to),
  unlink: (path) => unlinkSync(path),
}

/**
 * @param options.foreignDir the directory is not keyrack's (~/.aws): leave its mode alone, only
 *   create it (0700) when missing
 * @param options.fs the file operations (a test records their order)
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600, options: WriteOptions = {}): void {
  const fs = options.fs ?? nodeFs
  const temp = writeTempBeside(path, data, mode, options)
  try {
    fs.rename(temp, path)
  } catch (error) {
    fs.unlink(temp)
    throw asWriteError(error, dirname(path))
  }
  fsyncDir(dirname(path), fs)
}

/**
 * Writes data to a new, fsynced temp file beside path (same directory, so a later rename is
 * atomic) and returns the temp's path. Callers that replace several files at once write every
 * temp first and rename only when all of them exist. A failure removes the temp: a full disk
 * leaves nothing behind and says so (KeyrackNoSpaceError).
 */
export function writeTempBeside(path: string, data: string | Uint8Array, mode = 0o600, options: WriteOptions = {}): string {
  const fs = options.fs ?? nodeFs
  const dir = dirname(path)
  if (options.foreignDir) mkdirSync(dir, { recursive: true, mode: 0o700 })
  else ensurePrivateDir(dir)
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomHex(4)}`)
  let fd: number
  try {
    fd = fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), mode)
  } catch (error) {
    throw asWriteError(error, dir)
  }
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    let offset = 0
    while (offset < bytes.length) offset += fs.write(fd, bytes, offset, bytes.length - offset)
    fs.fsync(fd)
  } catch (error) {
    fs.close(fd)
    fs.unlink(temp)
    throw asWriteError(error, dir)
  }
  fs.close(fd)
  return temp
}

export function fsyncDir(dir: string, fs: AtomicFs = nodeFs): void {
  let fd: number
  try {
    fd = fs.open(dir, constants.O_RDONLY)
  } catch {
    return // cannot open the directory: the rename itself is still atomic
  }
  try {
    fs.fsync(fd)
  } catch {
    // some filesystems refuse fsync on a directory; the rename itself is still atomic
  } finally {
    fs.close(fd)
  }
}

/** a full disk or quota says so, naming the directory; every other error is passed on as it is */
export function asWriteError(error: unknown, dir: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT' ? new KeyrackNoSpaceError(dir) : error
}

/**
 * Creates a 0700 directory (and parents), or checks an existing one: a real directory (not a
 * symlink) owned by you. One of yours with loose modes is tightened to 0700; one owned by
 * someone else is refused (KeyrackUnsafePathError), never written into.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (error) {
    throw asWriteError(error, dirname(dir))
  }
  const stat = lstatSync(dir)
  if (stat.isSymbolicLink())
    throw new KeyrackUnsafePathError(`${dir} is a symlink; keyrack writes only into real directories`, [`replace it with the directory it points to, or point KEYRACK_HOME at that directory`], dir)
  if (!stat.isDirectory())
    throw new KeyrackVaultError(`${dir} is not a directory`, [`move it aside: \`mv ${dir} ${dir}.bak\``])
  const uid = process.getuid?.()
  if (uid !== undefined && stat.uid !== uid)
    throw new KeyrackUnsafePathError(`${dir} is owned by uid ${stat.uid}, not by you (uid ${uid}); keyrack writes nothing into it`, [
      `if it is yours (made by running keyrack with sudo), take it back: \`sudo chown -R "$(id -un)" ${dir}\``,
    ], dir)
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
