/**
 * The daemon's socket server (SPEC §10): holds grants in a GrantStore and serves the
 * protocol.ts frames to same-uid peers only.
 *
 * It closes itself — resolving `closed` with the reason — when any of these happens:
 *   'empty'              no grants left for `graceMs` (including right after start, so a
 *                        daemon nobody fills does not linger)
 *   'relocked'           a relock left the store empty (SPEC: relock stops the daemon when empty)
 *   'stop'               the `stop` op
 *   'signal'             the entry point got SIGTERM/SIGHUP and called close('signal')
 *   'socket-removed'     our socket file is gone, or
 *   'socket-replaced'    another file now sits at the path (someone else owns the name now)
 *   'runtime-dir-removed' XDG_RUNTIME_DIR disappeared (logind removes it at logout)
 *   'session-ended'      the login session that started us ended (session.ts)
 *   'max-lifetime'       the hard cap on the daemon's age
 * On close it drops and overwrites every grant and unlinks the socket only if the file at
 * the path is still the one we created (same dev+inode), never a successor's. (That is why
 * the socket is bound under a private name and hard-linked into place: Bun's
 * listener.stop() unlinks its bind path unconditionally.)
 *
 * Every connection's peer uid is checked on accept (SO_PEERCRED / getpeereid); any other uid,
 * or an unknown one (the lookup failed), is dropped without a byte of reply: it fails closed.
 *
 * Memory is bounded against a flood from our own uid (DAEMON_BUDGET, src/domain/limits.ts): at
 * most `connections` at once (more are dropped on accept), one partial frame per connection (the
 * frame limit), `outboxBytes` of replies a client has not read, and `bufferedBytes` buffered over
 * all connections; a connection that would exceed a budget gets a `busy` error and is closed.
 * Connections idle for `connectionIdleMs` are closed; a frame over `maxMessageBytes` gets an error
 * reply and the connection is closed; bad frames get error replies and never crash the daemon.
 *
 * Bun-specific (Bun.listen) by design: the daemon only ever runs as the compiled binary.
 */
import { chmodSync, linkSync, lstatSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { Socket, UnixSocketListener } from 'bun'
import { KeyrackError } from '../domain/errors.ts'
import { GrantStore } from './grant-store.ts'
import { errnoCode } from './paths.ts'
import { DAEMON_BUDGET } from '../domain/limits.ts'
import { peerOf, type PeerCred } from './peercred.ts'
import { remintWithMechs, Renewer, type Remint } from './renew.ts'
import {
  encodeFrame,
  errorResponse,
  LineDecoder,
  MAX_MESSAGE_BYTES,
  okResponse,
  parseRequest,
  type AuditContext,
  type AuditLine,
  type Request,
  type Response,
} from './protocol.ts'
import { watchLoginSession, type SessionWatch } from './session.ts'

export type CloseReason =
  | 'empty'
  | 'relocked'
  | 'stop'
  | 'signal'
  | 'socket-removed'
  | 'socket-replaced'
  | 'runtime-dir-removed'
  | 'session-ended'
  | 'max-lifetime'

export interface DaemonServerOptions {
  owner: string
  /** absolute path; its directory must already be prepared (paths.ts prepareSocketDir) */
  socketPath: string
  /** epoch ms clock for expiry, grace and lifetime; default Date.now */
  now?: () => number
  /** what to do when the store is empty for graceMs: 'exit' (default) or 'keep' running */
  onEmpty?: 'exit' | 'keep'
  /** how long an empty daemon waits for grants before exiting; default 30 s */
  graceMs?: number
  /** hard cap on the daemon's age; default 7 days (an unlock duration is at most this) */
  maxLifetimeMs?: number
  /** the uid allowed to connect; default process.getuid() */
  uid?: number
  /** exit when this directory disappears; default: XDG_RUNTIME_DIR when the socket lives under it */
  runtimeDir?: string
  /** login-session watch; default watchLoginSession() (undefined outside a Linux login session) */
  session?: SessionWatch | null
  /** how often to sweep and check the socket file, runtime dir and clock; default 1000 ms */
  watchIntervalMs?: number
  /** how often to check the login session; default 5000 ms */
  sessionCheckMs?: number
  /** a connection with no traffic for this long is closed; default 10 s */
  connectionIdleMs?: number
  /** per-frame limit; default MAX_MESSAGE_BYTES (1 MiB) */
  maxMessageBytes?: number
  /** the memory budget (tests shrink it); default DAEMON_BUDGET */
  budget?: Partial<DaemonBudget>
  /**
   * the peer-credential lookup (SO_PEERCRED / getpeereid); a seam so a test can make it fail and
   * see the connection refused. Default: peercred.ts peerCred
   */
  peerCred?: (fd: number) => PeerCred
  /** environment used to find XDG_RUNTIME_DIR when runtimeDir is not given; default process.env */
  env?: Readonly<Record<string, string | undefined>>
  /** mints a renewable key again (renew.ts); default: its mech from the built-in registry, loaded on first use */
  remint?: Remint
  /**
   * the audit log: called before a `get` is answered with secrets
   * (if it throws, the answer is an error and no secret leaves), and when another user's process
   * connects and is dropped
   */
  audit?: DaemonAudit
}

export interface DaemonAudit {
  served(event: { peerPid: number | undefined; slugs: string[]; context: AuditContext }): void
  /** a line a command decided; returns its seq */
  line(event: { peerPid: number | undefined; line: AuditLine }): number
  refusedPeer(event: { peerPid: number | undefined; peerUid: number | undefined }): void
  /** the daemon is closing: give up the writer role */
  stop?(): void
}

export type DaemonBudget = { [K in keyof typeof DAEMON_BUDGET]: number }

export interface DaemonServer {
  readonly owner: string
  readonly socketPath: string
  readonly pid: number
  readonly startedAt: number
  /** resolves once, with why the server closed; never rejects */
  readonly closed: Promise<CloseReason>
  /** close now (idempotent); resolves when closed */
  close(reason: CloseReason): Promise<CloseReason>
}

interface Connection {
  /** the peer's pid as the kernel recorded it at connect (Linux), for the audit log */
  peerPid: number | undefined
  decoder: LineDecoder
  /** closes the connection after connectionIdleMs without traffic */
  idleTimer: Timer
  /** set after an oversize frame: no more frames are read */
  ended: boolean
  outbox: Uint8Array[]
  /** bytes queued in outbox (replies the client has not read yet) */
  outboxBytes: number
  /** run once everything queued has been handed to the kernel */
  afterFlush: (() => void)[]
  /** a `get` waits for a renewal: later frames wait their turn, so replies stay in order */
  waiting: boolean
  queued: string[]
}

const encoder = new TextEncoder()

/**
 * Listen on `socketPath` and serve until one of the close conditions above.
 * @throws KeyrackError when another daemon already answers on the path, or the path holds something that is not a socket
 */
export async function startDaemonServer(options: DaemonServerOptions): Promise<DaemonServer> {
  const now = options.now ?? Date.now
  const uid = options.uid ?? process.getuid?.() ?? -1
  const graceMs = options.graceMs ?? 30_000
  const maxLifetimeMs = options.maxLifetimeMs ?? 7 * 24 * 60 * 60 * 1000
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES
  const connectionIdleMs = options.connectionIdleMs ?? 10_000
  const budget: DaemonBudget = { ...DAEMON_BUDGET, ...options.budget }
  const { owner, socketPath } = options

  await clearStaleSocket(socketPath, owner)

  const store = new GrantStore({ now })
  const renewer = new Renewer(store, options.remint ?? remintWithMechs(owner))
  const startedAt = now()
  const connections = new Map<Socket<undefined>, Connection>()
  let closing: CloseReason | undefined
  /** when the store was last seen empty; the grace period counts from here (and from start) */
  let emptySince: number | undefined = startedAt
  const exitWhenEmpty = options.onEmpty !== 'keep'
  let resolveClosed!: (reason: CloseReason) => void
  const closed = new Promise<CloseReason>((resolve) => (resolveClosed = resolve))

  const forget = (socket: Socket<undefined>): void => {
    const conn = connections.get(socket)
    if (!conn) return
    clearTimeout(conn.idleTimer)
    conn.decoder.clear()
    conn.queued = []
    connections.delete(socket)
  }
  const send = (socket: Socket<undefined>, conn: Connection, response: Response): void => {
    const bytes = encoder.encode(encodeFrame(response))
    const queue = (part: Uint8Array): void => {
      conn.outbox.push(part)
      conn.outboxBytes += part.byteLength
      // a client that asks and never reads: its replies are not kept without bound
      if (conn.outboxBytes > budget.outboxBytes) drop(socket, conn)
    }
    if (conn.outbox.length > 0) return queue(bytes)
    const written = socket.write(bytes)
    if (written < bytes.byteLength) queue(bytes.subarray(Math.max(0, written)))
  }
  /** close a connection at once, dropping what it buffered (it may hold secrets: zeroed) */
  const drop = (socket: Socket<undefined>, conn: Connection): void => {
    conn.ended = true
    conn.decoder.clear()
    for (const part of conn.outbox) part.fill(0)
    conn.outbox = []
    conn.outboxBytes = 0
    socket.terminate()
  }
  /** bytes buffered over every connection: partial frames and unread replies */
  const bufferedTotal = (): number => {
    let total = 0
    for (const conn of connections.values()) total += conn.decoder.buffered + conn.outboxBytes
    return total
  }
  const whenFlushed = (conn: Connection, fn: () => void): void => {
    if (conn.outbox.length === 0) fn()
    else conn.afterFlush.push(fn)
  }
  const flush = (socket: Socket<undefined>, conn: Connection): void => {
    while (conn.outbox.length > 0) {
      const head = conn.outbox[0]!
      const written = socket.write(head)
      if (written < head.byteLength) {
        conn.outbox[0] = head.subarray(Math.max(0, written))
        conn.outboxBytes -= Math.max(0, written)
        return
      }
      conn.outbox.shift()
      conn.outboxBytes -= head.byteLength
    }
    for (const fn of conn.afterFlush.splice(0)) fn()
  }

  const handle = (request: Request, conn: Connection): { result: unknown; then?: CloseReason } => {
    switch (request.op) {
      case 'ping':
        return { result: { pid: process.pid, owner, uid, startedAt } }
      case 'put': {
        const stored = store.put(request.grants)
        if (stored > 0) emptySince = undefined
        return { result: { stored } }
      }
      case 'get': {
        const results = store.get(request.slugs)
        const granted = results.filter((r) => r.state === 'granted').map((r) => r.slug)
        // every secret that leaves is logged, before it is sent (a log that cannot be written means no
        // answer); a client that says nothing about itself is logged as a bare daemon get
        if (options.audit && granted.length > 0) {
          options.audit.served({ peerPid: conn.peerPid, slugs: granted, context: request.audit ?? { command: 'daemon.get', worksite: null, env: null } })
          return { result: { results, audited: true } }
        }
        return { result: { results } }
      }
      case 'list':
        return { result: { grants: store.list() } }
      case 'relock': {
        const removed = store.relock(request.slugs)
        const remaining = store.size
        return { result: { removed, remaining }, then: remaining === 0 && exitWhenEmpty ? 'relocked' : undefined }
      }
      case 'stop':
        return { result: { stopping: true }, then: 'stop' }
      case 'audit':
        if (!options.audit) throw new Error('no audit log')
        return { result: { seq: options.audit.line({ peerPid: conn.peerPid, line: request.line }) } }
    }
  }

  const onLine = (socket: Socket<undefined>, conn: Connection, line: string): void => {
    if (line.trim() === '') return
    if (conn.waiting) return void conn.queued.push(line)
    const parsed = parseRequest(line)
    if (!parsed.ok) {
      send(socket, conn, errorResponse(parsed.id, parsed.code, parsed.message))
      return
    }
    // a get of a renewed key that ran out (the laptop slept, a renewal failed) waits for its
    // renewal; everything else, and every key still live, is answered at once from memory
    if (parsed.request.op === 'get') {
      const wait = renewer.beforeGet(parsed.request.slugs, (slug) => store.ranOut(slug))
      if (wait) {
        conn.waiting = true
        void wait.then(() => {
          conn.waiting = false
          if (closing || !connections.has(socket)) return
          answer(socket, conn, parsed.request)
          while (!conn.waiting && conn.queued.length > 0) onLine(socket, conn, conn.queued.shift()!)
        })
        return
      }
    }
    answer(socket, conn, parsed.request)
  }

  const answer = (socket: Socket<undefined>, conn: Connection, request: Request): void => {
    let outcome
    try {
      outcome = handle(request, conn)
    } catch {
      send(socket, conn, errorResponse(request.id, 'internal', 'internal error'))
      return
    }
    send(socket, conn, okResponse(request.id, outcome.result))
    const then = outcome.then
    if (then) whenFlushed(conn, () => void close(then))
  }

  // Bind under a private name, then hard-link it into place. Two reasons: Bun's
  // listener.stop() unlinks the path it was bound to unconditionally (verified on 1.4.4),
  // which would delete a successor's socket after a replacement; and link() fails with
  // EEXIST instead of silently replacing a socket that appeared since clearStaleSocket.
  // The public name only ever appears already listening and already 0600.
  const bindPath = join(dirname(socketPath), `.${basename(socketPath)}.${process.pid}.tmp`)
  rmSync(bindPath, { force: true })
  const listener: UnixSocketListener<undefined> = withUmask(0o077, () =>
    Bun.listen({
      unix: bindPath,
      socket: {
        open(socket) {
          // the enforced boundary: only our own uid may talk to us, whatever the file modes say
          // fails closed: a lookup that fails gives undefined, which is not our uid
          const peer = peerOf(socket, options.peerCred)
          if (closing || peer?.uid !== uid) {
            if (!closing && peer?.uid !== undefined)
              try {
                options.audit?.refusedPeer({ peerPid: peer.pid, peerUid: peer.uid })
              } catch {
                // the connection is dropped whether or not the line could be written
              }
            socket.terminate()
            return
          }
          // the memory budget: no more than `connections` at once
          if (connections.size >= budget.connections) {
            socket.terminate()
            return
          }
          // our own timer rather than socket.timeout(): uSockets rounds timeouts to 4 s ticks
          const idleTimer = setTimeout(() => socket.end(), connectionIdleMs)
          connections.set(socket, { peerPid: peer.pid, decoder: new LineDecoder(maxMessageBytes), idleTimer, ended: false, outbox: [], outboxBytes: 0, afterFlush: [], waiting: false, queued: [] })
        },
        data(socket, data) {
          const conn = connections.get(socket)
          if (!conn) return void socket.terminate()
          if (conn.ended) return
          conn.idleTimer.refresh()
          const { lines, overflow } = conn.decoder.push(data)
          for (const line of lines) onLine(socket, conn, line)
          if (overflow) {
            send(socket, conn, errorResponse(null, 'too-large', `frame larger than ${maxMessageBytes} bytes`))
            conn.ended = true // ignore whatever else arrives; close once the reply is out
            whenFlushed(conn, () => socket.end())
          } else if (bufferedTotal() > budget.bufferedBytes) {
            // the daemon's whole budget is taken: this connection's partial frame goes, not the daemon
            conn.decoder.clear()
            send(socket, conn, errorResponse(null, 'busy', 'the daemon is busy: too much buffered, try again'))
            conn.ended = true
            whenFlushed(conn, () => socket.end())
          }
        },
        drain(socket) {
          const conn = connections.get(socket)
          if (conn) flush(socket, conn)
        },
        close(socket) {
          forget(socket)
        },
        error(socket) {
          forget(socket)
        },
      },
    }),
  )
  try {
    // belt and braces: the umask already made it 0600; the 0700 directory is the real gate
    chmodSync(bindPath, 0o600)
    linkSync(bindPath, socketPath)
  } catch (error) {
    listener.stop(true)
    if (errnoCode(error) === 'EEXIST') {
      throw new KeyrackError(`a keyrack daemon for owner ${owner} is already running`, {
      exit: 'environment',
        hint: [`keyrack status --owner ${owner}`],
      })
    }
    throw new KeyrackError(`cannot create the keyrack socket ${socketPath}`, { exit: 'environment', hint: [`ls -ld ${dirname(socketPath)}`] })
  } finally {
    rmSync(bindPath, { force: true })
  }
  const ours = lstatSync(socketPath)

  const runtimeDir = options.runtimeDir ?? runtimeDirOf(socketPath, options.env ?? process.env)
  const runtimeDirIno = runtimeDir ? identity(runtimeDir) : undefined
  const session = options.session === null ? undefined : (options.session ?? watchLoginSession())

  const close = async (reason: CloseReason): Promise<CloseReason> => {
    if (closing) return closed
    closing = reason
    clearInterval(watchTimer)
    clearInterval(sessionTimer)
    listener.stop(true) // unlinks only the private bind name, already gone
    for (const socket of [...connections.keys()]) {
      forget(socket)
      socket.terminate()
    }
    store.clear()
    try {
      const current = lstatSync(socketPath)
      if (current.ino === ours.ino && current.dev === ours.dev) unlinkSync(socketPath)
    } catch {
      // already gone
    }
    resolveClosed(reason)
    return closed
  }

  const watch = (): void => {
    if (closing) return
    const t = now()
    store.sweep()
    renewer.tick()
    if (exitWhenEmpty) {
      if (store.size > 0) emptySince = undefined
      else if (emptySince === undefined) emptySince = t
      else if (t - emptySince >= graceMs) return void close('empty')
    }
    if (t - startedAt >= maxLifetimeMs) return void close('max-lifetime')
    const current = identity(socketPath, lstatSync)
    if (current === undefined) return void close('socket-removed')
    if (current !== `${ours.dev}:${ours.ino}`) return void close('socket-replaced')
    if (runtimeDir && identity(runtimeDir) !== runtimeDirIno) return void close('runtime-dir-removed')
  }
  const watchTimer = setInterval(watch, options.watchIntervalMs ?? 1000)
  const sessionTimer = setInterval(() => {
    if (!closing && session && !session.alive()) void close('session-ended')
  }, options.sessionCheckMs ?? 5000)

  return { owner, socketPath, pid: process.pid, startedAt, closed, close }
}

/**
 * A socket file left by a crashed daemon is removed only if connecting to it is refused;
 * if a daemon answers, we are the duplicate and must not steal its name.
 */
async function clearStaleSocket(socketPath: string, owner: string): Promise<void> {
  let stats
  try {
    stats = lstatSync(socketPath)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return
    throw error
  }
  if (!stats.isSocket()) {
    throw new KeyrackError(`${socketPath} exists and is not a socket`, { exit: 'environment', hint: [`rm ${socketPath}`] })
  }
  const state = await probe(socketPath)
  if (state === 'refused') {
    unlinkSync(socketPath)
    return
  }
  throw new KeyrackError(`a keyrack daemon for owner ${owner} is already running`, {
      exit: 'environment',
    hint: [`keyrack status --owner ${owner}`],
  })
}

function probe(socketPath: string): Promise<'refused' | 'answered'> {
  return Bun.connect({ unix: socketPath, socket: { data() {} } }).then(
    (socket) => {
      socket.end()
      return 'answered' as const
    },
    (error: unknown) => (errnoCode(error) === 'ECONNREFUSED' || errnoCode(error) === 'ENOENT' ? 'refused' : 'answered'),
  )
}

function withUmask<T>(mask: number, fn: () => T): T {
  const previous = process.umask(mask)
  try {
    return fn()
  } finally {
    process.umask(previous)
  }
}

/** dev:ino of a path, or undefined if gone; lstat for the socket so a symlink to it counts as a replacement */
function identity(path: string, stat: typeof statSync = statSync): string | undefined {
  try {
    const stats = stat(path)
    return `${stats.dev}:${stats.ino}`
  } catch {
    return undefined
  }
}

function runtimeDirOf(socketPath: string, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const dir = env.XDG_RUNTIME_DIR
  if (!dir) return undefined
  const prefix = dir.endsWith('/') ? dir : `${dir}/`
  return socketPath.startsWith(prefix) ? dir : undefined
}

