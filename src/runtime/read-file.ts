/**
 * Reads that do not trust the file system. Every file keyrack reads goes through here:
 *
 * - only a regular file is read: a FIFO, socket, device (`/dev/zero`) or directory is refused at
 *   once (opened with O_NONBLOCK, so a FIFO with no writer cannot hang the open);
 * - a size cap: nothing grows until the kernel kills keyrack;
 * - `noFollow`: the last path component must not be a symlink (O_NOFOLLOW);
 * - `trusted` (keyrack's own files): owned by this user and not writable by group or others,
 *   so a neighbour who can write to the directory cannot plant a value.
 *
 * It throws UnsafeFileError with a reason; callers turn it into their typed error (a repo
 * manifest is invalid, the keyrack home is unsafe, …) with the fix. A missing file is `null`.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs'

export type UnsafeFileReason = 'not-regular' | 'symlink' | 'too-large' | 'foreign-owner' | 'writable-by-others'

export class UnsafeFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: UnsafeFileReason,
    /** what the file is instead (e.g. `a fifo`), for the message; never its content */
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`)
    this.name = 'UnsafeFileError'
  }
}

export interface GuardedReadOptions {
  /** refuse files larger than this many bytes */
  maxBytes: number
  /** refuse a symlink as the last path component */
  noFollow?: boolean
  /** keyrack's own files: must be owned by this user and not group/world-writable */
  trusted?: boolean
}

/** 1 MiB: far more than any manifest or stored secret keyrack writes */
export const DEFAULT_MAX_BYTES = 1024 * 1024

const currentUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined)

/**
 * @returns the file's bytes, or null when it does not exist
 * @throws UnsafeFileError when the file is not one keyrack should read; the fs error otherwise
 */
export function readFileGuarded(path: string, options: GuardedReadOptions): Buffer | null {
  let flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0)
  if (options.noFollow) flags |= constants.O_NOFOLLOW ?? 0
  let fd: number
  try {
    fd = openSync(path, flags)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    // O_NOFOLLOW on a symlink fails with ELOOP (Linux, macOS)
    if (code === 'ELOOP' && options.noFollow) throw new UnsafeFileError(path, 'symlink', 'is a symlink')
    // O_NONBLOCK on a FIFO without a writer succeeds for O_RDONLY; a socket fails with ENXIO
    if (code === 'ENXIO') throw new UnsafeFileError(path, 'not-regular', 'is a socket, not a regular file')
    throw error
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw new UnsafeFileError(path, 'not-regular', `is ${kindOf(stat)}, not a regular file`)
    if (options.trusted) {
      const uid = currentUid()
      if (uid !== undefined && stat.uid !== uid)
        throw new UnsafeFileError(path, 'foreign-owner', `is owned by uid ${stat.uid}, not by you (uid ${uid})`)
      if ((stat.mode & 0o022) !== 0)
        throw new UnsafeFileError(path, 'writable-by-others', `is writable by ${stat.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(stat.mode & 0o777).toString(8)})`)
    }
    if (stat.size > options.maxBytes) throw tooLarge(path, options.maxBytes)
    // read until EOF, but never more than maxBytes + 1: a file that grows while we read is still capped
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, options.maxBytes + 1 - total))
      const n = readSync(fd, chunk, 0, chunk.length, null)
      if (n === 0) break
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n))
      total += n
      if (total > options.maxBytes) throw tooLarge(path, options.maxBytes)
    }
    return Buffer.concat(chunks, total)
  } finally {
    closeSync(fd)
  }
}

function tooLarge(path: string, maxBytes: number): UnsafeFileError {
  return new UnsafeFileError(path, 'too-large', `is larger than ${formatBytes(maxBytes)}`)
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} bytes`
}

function kindOf(stat: import('node:fs').Stats): string {
  if (stat.isDirectory()) return 'a directory'
  if (stat.isFIFO()) return 'a fifo'
  if (stat.isSocket()) return 'a socket'
  if (stat.isCharacterDevice()) return 'a character device'
  if (stat.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}
