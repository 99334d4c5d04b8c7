/**
 * The daemon as the audit log's writer. While it runs it is the only process that appends
 * (`audit.<owner>.writer` holds its pid): the lines for what it hands out (the caller is the
 * process at the other end of its socket, its pid from the kernel's peer credentials), the lines
 * commands send it (`audit` op), and connections of other users' processes, which it drops.
 *
 * Being the only writer lets it skip the per-line lock (a lock file create + unlink costs a
 * journal transaction, ~0.1 ms on ext4, on every served get): it takes the lock once at start,
 * after claiming the writer file, so any command that began appending before finishes first and
 * any command after sees the writer file and sends its line here (src/sdk/audit.ts).
 */
import { closeSync, constants, existsSync, fstatSync, unlinkSync } from 'node:fs'
import type { AuditContext } from '../daemon/protocol.ts'
import type { DaemonAudit } from '../daemon/server.ts'
import { withLockSync } from '../runtime/lock.ts'
import { processChain } from '../runtime/process-chain.ts'
import { AUDIT_VERSION, auditFiles, GENESIS, lastLine, lastLineOfFile, lineHash, openAuditFile, rotate, claimWriter, writerPid, seqOf, openHead, writeAll, writeHead, type AuditEntry, type AuditFiles, type AuditInput } from './log.ts'

const DEFAULT_ROTATE_BYTES = 4 * 1024 * 1024

export interface DaemonAuditWriter extends DaemonAudit {
  /** gives up the writer role (the daemon is closing) */
  stop(): void
}

export function daemonAudit(home: string, owner: string): DaemonAuditWriter | undefined {
  // an owner without a keyrack home has nothing to audit (and the daemon creates no file)
  if (!existsSync(home)) return undefined
  const files = auditFiles(home, owner)
  const rotateBytes = Number(process.env.KEYRACK_AUDIT_ROTATE_BYTES) || DEFAULT_ROTATE_BYTES
  const appender = new Appender(files, rotateBytes)

  // a client that sends many requests (one connection, or a long-lived SDK process) is read from
  // /proc once a second, not once a request
  const chains = new Map<number, { at: number; chain: ReturnType<typeof processChain> }>()
  const chainOf = (pid: number) => {
    const now = Date.now()
    const cached = chains.get(pid)
    if (cached && now - cached.at < 1000) return cached.chain
    if (chains.size > 256) chains.clear()
    const chain = processChain(pid)
    chains.set(pid, { at: now, chain })
    return chain
  }
  const caller = (pid: number | undefined, uid?: number): AuditInput['caller'] => {
    const chain = pid === undefined ? [] : chainOf(pid)
    return { pid: pid ?? null, exe: chain[0]?.exe ?? null, ...(uid !== undefined ? { uid } : {}), chain: chain.slice(1) }
  }
  const fromContext = (context: AuditContext) => ({ command: context.command, worksite: context.worksite, env: context.env, ...(context.details ? { details: context.details } : {}) })
  return {
    served({ peerPid, slugs, context }) {
      appender.append({ owner, via: 'daemon', ...fromContext(context), slugs, outcome: 'granted', caller: caller(peerPid) })
    },
    line({ peerPid, line }) {
      return appender.append({ owner, via: 'cli', ...fromContext(line), slugs: line.slugs, outcome: line.outcome, reason: line.reason, caller: caller(peerPid) }).seq
    },
    refusedPeer({ peerPid, peerUid }) {
      appender.append({
        owner,
        via: 'daemon',
        command: 'daemon.connect',
        worksite: null,
        slugs: [],
        outcome: 'refused',
        reason: `a process of another user (uid ${peerUid}) connected to the daemon's socket and was dropped`,
        caller: caller(peerPid, peerUid),
      })
    },
    stop() {
      try {
        if (writerPid(files) === process.pid) unlinkSync(files.writer)
      } catch {
        // already gone
      }
    },
  }
}

/**
 * Appends without the lock, remembering the last line (re-read only if the file changed under it).
 * The writer role is claimed at the first line, so only the daemon that is really serving claims
 * it (a second daemon that failed to start never writes): the writer file first, then the lock
 * once, as a barrier.
 */
class Appender {
  private last: { size: number; hash: string; seq: number } | null = null
  private claimed = false

  constructor(
    private readonly files: AuditFiles,
    private readonly rotateBytes: number,
  ) {}

  append(input: AuditInput): AuditEntry {
    if (!this.claimed) {
      claimWriter(this.files)
      withLockSync(this.files.lock, () => undefined)
      this.claimed = true
    }
    const head = openHead(this.files)
    let fd: number
    try {
      fd = this.open()
    } catch (error) {
      closeSync(head)
      throw error
    }
    try {
      let size = fstatSync(fd).size
      if (size >= this.rotateBytes) {
        closeSync(fd)
        rotate(this.files)
        fd = this.open()
        size = 0
        this.last = null
      }
      if (this.last === null || this.last.size !== size) {
        const line = size > 0 ? lastLine(fd, size) : lastLineOfFile(this.files.rotated(1))
        this.last = { size, hash: line === null ? GENESIS : lineHash(line), seq: line === null ? 0 : seqOf(line) }
      }
      const entry: AuditEntry = { v: AUDIT_VERSION, seq: this.last.seq + 1, time: new Date().toISOString(), ...input, prev: this.last.hash }
      const line = JSON.stringify(entry)
      const written = writeAll(fd, `${line}\n`)
      const hash = lineHash(line)
      writeHead(head, entry.seq, hash)
      this.last = { size: size + written, hash, seq: entry.seq }
      return entry
    } finally {
      closeSync(fd)
      closeSync(head)
    }
  }

  private open(): number {
    return openAuditFile(this.files.log, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND)
  }
}
