/**
 * The audit log: `audit.<owner>.jsonl` in the keyrack home (0600), one JSON line per use or refusal,
 * value-free (names, slugs, outcomes and the caller's process chain; never a secret, its length or
 * its hash). Tamper-evident: each line carries `seq` and `prev`, the SHA-256 of the line before it
 * (64 zeros for the first line ever), across rotations; `audit.<owner>.head` holds the last line's
 * seq and hash, so cutting lines off the end shows too. `verifyAudit` checks all of it.
 *
 * Appends are cheap on purpose (they sit on the `get` path): under the owner's audit lock, one
 * open in append mode, a read of the file's tail for the previous line, one write, one small
 * overwrite of the head, close. Rotation by size: `audit.<owner>.jsonl` → `.1.jsonl` … `.5.jsonl`.
 *
 * What it cannot do: a process running as the same user can rewrite the whole chain and the head
 * (there is no key it lacks); the log makes edits by anyone who does not, and every accident, show.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { closeSync, constants, existsSync, fstatSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { withLockSync } from '../runtime/lock.ts'
import { KeyrackUnsafePathError } from '../domain/errors.ts'
import { printable, shellWord } from '../domain/printable.ts'
import type { ChainLink } from '../runtime/process-chain.ts'

export const AUDIT_VERSION = 1
export const GENESIS = '0'.repeat(64)
/** rotated files kept beside the current one */
export const KEEP_ROTATED = 5
const DEFAULT_ROTATE_BYTES = 4 * 1024 * 1024
const TAIL_BYTES = 64 * 1024

export type AuditOutcome = 'granted' | 'refused' | 'ok' | 'error'

/** what a caller records; seq, time, prev are the log's */
export interface AuditInput {
  owner: string
  /** who wrote the line: the command itself, or the daemon that served it */
  via: 'cli' | 'daemon'
  /** get, exec, source, unlock, relock, set, del, guard, mcp.keyrack_exec, daemon.peer, … */
  command: string
  worksite: string | null
  env?: string | null
  slugs: string[]
  outcome: AuditOutcome
  /** why it was refused or failed (a keyrack error message: never a secret) */
  reason?: string | null
  caller: { pid: number | null; exe: string | null; uid?: number; chain: ChainLink[] }
  /** command-specific facts: the program exec ran (its name only), whether output was redacted, … */
  details?: Record<string, string | number | boolean | null>
}

export interface AuditEntry extends AuditInput {
  v: number
  seq: number
  time: string
  prev: string
}

export interface AuditFiles {
  /** the current file */
  log: string
  head: string
  lock: string
  /** while a daemon runs it is the only writer: this file holds its pid */
  writer: string
  /** rotated file n (1 = newest) */
  rotated(n: number): string
}

export function auditFiles(home: string, owner: string): AuditFiles {
  return {
    log: join(home, `audit.${owner}.jsonl`),
    head: join(home, `audit.${owner}.head`),
    lock: join(home, `.lock.audit.${owner}`),
    writer: join(home, `audit.${owner}.writer`),
    rotated: (n) => join(home, `audit.${owner}.${n}.jsonl`),
  }
}

/**
 * sha256 of a line, hex: Bun's native hasher (the daemon hashes every line it writes), else noble —
 * never node:crypto, whose import costs a command ~5 ms of start-up
 */
export const lineHash = (line: string): string =>
  typeof Bun !== 'undefined' ? new Bun.CryptoHasher('sha256').update(line).digest('hex') : bytesToHex(sha256(utf8ToBytes(line)))

/**
 * Opens a file of the audit log the way keyrack trusts a file of its home: never through a symlink,
 * never blocking on a FIFO planted there, and only a regular file that is yours and not writable by
 * others — anything else is refused with the fix, not read or written.
 */
export function openAuditFile(path: string, flags: number): number {
  const fd = openSync(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600)
  const stats = fstatSync(fd)
  const uid = process.getuid?.()
  const problem = !stats.isFile() ? 'is not a regular file' : uid !== undefined && stats.uid !== uid ? `is owned by uid ${stats.uid}, not by you` : (stats.mode & 0o022) !== 0 ? `is writable by ${stats.mode & 0o002 ? 'everyone' : 'its group'}` : null
  if (problem === null) return fd
  closeSync(fd)
  throw new KeyrackUnsafePathError(`the audit file ${printable(path)} ${problem}; keyrack neither reads nor appends to it`, [
    `move it aside and look at it: \`mv ${shellWord(path)} ${shellWord(`${path}.suspect`)}\` (keyrack starts a new log, chained to nothing)`,
  ], path)
}

/** a whole audit file's text through openAuditFile, or null when it does not exist */
export function readAuditFile(path: string): string | null {
  let fd: number
  try {
    fd = openAuditFile(path, constants.O_RDONLY)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  try {
    const size = fstatSync(fd).size
    const buf = Buffer.allocUnsafe(size)
    let offset = 0
    while (offset < size) {
      const n = readSync(fd, buf, offset, size - offset, offset)
      if (n === 0) break
      offset += n
    }
    return buf.subarray(0, offset).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

/**
 * Appends one line, synchronously (the daemon appends between reading a request and answering
 * it). The caller decides what a failure means (commands that grant keys fail closed: no key
 * leaves without its line).
 */
export function appendAudit(files: AuditFiles, input: AuditInput, options: { now?: () => number; rotateBytes?: number; abortIf?: () => boolean } = {}): AuditEntry | null {
  const rotateBytes = options.rotateBytes ?? DEFAULT_ROTATE_BYTES
  return withLockSync(files.lock, () => {
    // checked under the lock: a daemon that became the writer meanwhile takes the line instead
    if (options.abortIf?.()) return null
    const head = openHead(files)
    let fd: number
    try {
      fd = openAuditFile(files.log, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND)
    } catch (error) {
      closeSync(head)
      throw error
    }
    try {
      let size = fstatSync(fd).size
      if (size >= rotateBytes) {
        closeSync(fd)
        rotate(files)
        fd = openAuditFile(files.log, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND)
        size = 0
      }
      const last = size > 0 ? lastLine(fd, size) : lastLineOfFile(files.rotated(1))
      let seq = 1
      let prev = GENESIS
      if (last !== null) {
        prev = lineHash(last)
        seq = seqOf(last) + 1
      }
      const entry: AuditEntry = { v: AUDIT_VERSION, seq, time: new Date((options.now ?? Date.now)()).toISOString(), ...input, prev }
      const line = JSON.stringify(entry)
      writeAll(fd, `${line}\n`)
      writeHead(head, seq, lineHash(line))
      return entry
    } finally {
      closeSync(fd)
      closeSync(head)
    }
  })
}


export function rotate(files: AuditFiles): void {
  rmSync(files.rotated(KEEP_ROTATED), { force: true })
  for (let n = KEEP_ROTATED - 1; n >= 1; n--) if (existsSync(files.rotated(n))) renameSync(files.rotated(n), files.rotated(n + 1))
  renameSync(files.log, files.rotated(1))
}

/** @returns the bytes written */
export function writeAll(fd: number, text: string): number {
  const bytes = Buffer.from(text, 'utf8')
  let offset = 0
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
  return bytes.length
}

/**
 * The head is one fixed-size record rewritten in place (a truncating rewrite costs a journal
 * transaction on ext4: ~0.4 ms here, against a few µs for this)
 */
const HEAD_BYTES = 128
export function writeHead(fd: number, seq: number, hash: string): void {
  const record = JSON.stringify({ seq, hash })
  writeSync(fd, Buffer.from(record.padEnd(HEAD_BYTES - 1, ' ') + '\n'), 0, HEAD_BYTES, 0)
}

/** the head, opened before the line is appended: a head keyrack may not write stops the append too */
export const openHead = (files: AuditFiles): number => openAuditFile(files.head, constants.O_WRONLY | constants.O_CREAT)

export { lastLine, lastLineOfFile, seqOf }

/** the pid in the writer file (a daemon that claimed the log), or null: none, unreadable or not safe to trust */
export function writerPid(files: AuditFiles): number | null {
  try {
    const pid = Number.parseInt(readAuditFile(files.writer) ?? '', 10)
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/** claims the writer role for this process (the daemon) */
export function claimWriter(files: AuditFiles): void {
  const fd = openAuditFile(files.writer, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC)
  try {
    writeAll(fd, String(process.pid))
  } finally {
    closeSync(fd)
  }
}

/** the last complete line of an open file of `size` bytes (read from its tail: 4 KiB, more when a line is longer) */
function lastLine(fd: number, size: number): string | null {
  for (let want = 4096; ; want *= 4) {
    const length = Math.min(size, want, TAIL_BYTES)
    const buf = Buffer.allocUnsafe(length)
    readSync(fd, buf, 0, length, size - length)
    let text = buf.toString('utf8')
    if (text.endsWith('\n')) text = text.slice(0, -1)
    const start = text.lastIndexOf('\n')
    if (start === -1 && length < size && length < TAIL_BYTES) continue // the line began further back
    const line = text.slice(start + 1)
    return line === '' ? null : line
  }
}

function lastLineOfFile(path: string): string | null {
  let fd: number
  try {
    fd = openAuditFile(path, constants.O_RDONLY)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  try {
    const size = fstatSync(fd).size
    return size > 0 ? lastLine(fd, size) : null
  } finally {
    closeSync(fd)
  }
}

function seqOf(line: string): number {
  try {
    const seq = (JSON.parse(line) as { seq?: unknown }).seq
    return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : 0
  } catch {
    return 0 // an unreadable previous line: the chain still links to it by hash, and verify reports it
  }
}

// ---- reading and verifying ----------------------------------------------------------------

/** every file of the log, oldest first */
export function logFiles(files: AuditFiles): string[] {
  const out: string[] = []
  for (let n = KEEP_ROTATED; n >= 1; n--) if (existsSync(files.rotated(n))) out.push(files.rotated(n))
  if (existsSync(files.log)) out.push(files.log)
  return out
}

/** every line, oldest first, with where it is (lines that are not JSON come back as null entries) */
export function readAuditLines(files: AuditFiles): { file: string; line: number; text: string; entry: AuditEntry | null }[] {
  const out: { file: string; line: number; text: string; entry: AuditEntry | null }[] = []
  for (const file of logFiles(files)) {
    const lines = (readAuditFile(file) ?? '').split('\n')
    if (lines[lines.length - 1] === '') lines.pop()
    lines.forEach((text, i) => {
      let entry: AuditEntry | null = null
      try {
        entry = JSON.parse(text) as AuditEntry
      } catch {}
      out.push({ file, line: i + 1, text, entry })
    })
  }
  return out
}

export interface VerifyResult {
  ok: boolean
  lines: number
  files: string[]
  /** the first seq kept (earlier lines were rotated away when it is not 1) */
  firstSeq: number | null
  lastSeq: number | null
  problems: { file: string; line: number; problem: string }[]
}

export function verifyAudit(files: AuditFiles): VerifyResult {
  const lines = readAuditLines(files)
  const problems: VerifyResult['problems'] = []
  let previous: { text: string; seq: number } | null = null
  for (const { file, line, text, entry } of lines) {
    const at = { file, line }
    if (!entry || typeof entry.seq !== 'number' || typeof entry.prev !== 'string') {
      problems.push({ ...at, problem: 'not an audit line (edited or corrupted)' })
      previous = { text, seq: previous ? previous.seq + 1 : 0 }
      continue
    }
    if (previous === null) {
      // the oldest line kept: only the very first line may claim the genesis hash, and lines are
      // dropped only by rotation once every rotated slot is full
      const rotatedAway = logFiles(files).filter((f) => f !== files.log).length >= KEEP_ROTATED
      if (entry.seq === 1 && entry.prev !== GENESIS) problems.push({ ...at, problem: 'the first line does not start the chain' })
      else if (entry.seq !== 1 && entry.prev === GENESIS) problems.push({ ...at, problem: `line seq ${entry.seq} claims to be the first` })
      else if (entry.seq !== 1 && !rotatedAway) problems.push({ ...at, problem: `the log starts at seq ${entry.seq}: lines before it were removed (rotation removes lines only when all ${KEEP_ROTATED} rotated files exist)` })
    } else {
      if (entry.prev !== lineHash(previous.text)) problems.push({ ...at, problem: `seq ${entry.seq} does not follow the line before it (a line was edited, removed or moved)` })
      else if (entry.seq !== previous.seq + 1) problems.push({ ...at, problem: `seq ${entry.seq} follows seq ${previous.seq}` })
    }
    previous = { text, seq: entry.seq }
  }
  const head = readHead(files.head)
  const last = lines[lines.length - 1]
  if (head) {
    if (!last) problems.push({ file: files.head, line: 1, problem: `the log is empty, but seq ${head.seq} was written` })
    else if (lineHash(last.text) !== head.hash) {
      const seq = last.entry?.seq
      problems.push({
        file: last.file,
        line: last.line,
        problem: typeof seq === 'number' && seq < head.seq ? `the log ends at seq ${seq}, but seq ${head.seq} was written (lines were cut off the end)` : 'the last line is not the one written last',
      })
    }
  } else if (last) problems.push({ file: files.head, line: 1, problem: 'the head file is missing: whether lines were cut off the end cannot be told' })
  const seqs = lines.map((l) => l.entry?.seq).filter((s): s is number => typeof s === 'number')
  return { ok: problems.length === 0, lines: lines.length, files: logFiles(files), firstSeq: seqs[0] ?? null, lastSeq: seqs[seqs.length - 1] ?? null, problems }
}

export function readHead(path: string): { seq: number; hash: string } | null {
  const text = readAuditFile(path)
  if (text === null) return null
  try {
    const data = JSON.parse(text) as { seq?: unknown; hash?: unknown }
    return typeof data.seq === 'number' && typeof data.hash === 'string' ? { seq: data.seq, hash: data.hash } : null
  } catch {
    return null
  }
}

/** the size of the current file (for --follow) */
export function currentSize(files: AuditFiles): { size: number; ino: number } | null {
  try {
    const s = statSync(files.log)
    return { size: s.size, ino: s.ino }
  } catch {
    return null
  }
}
