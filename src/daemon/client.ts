/**
 * Talking to an owner's daemon (SPEC §10).
 *
 * Before a single byte is sent, the client checks (1) the socket directory (0700, ours, not
 * a symlink — the same checks as the daemon) and (2) the uid of the process that is
 * listening, from the kernel (SO_PEERCRED / getpeereid). A socket served by anyone else is
 * refused with an error, because `put` would hand them secrets and `get` could feed us theirs.
 *
 * On Node and Deno (the SDK outside Bun) there is no bun:ffi for SO_PEERCRED/getpeereid; the client
 * connects with node:net and checks instead that the socket file itself is owned by us, inside the
 * verified 0700 directory that only we can write to. The daemon always runs on Bun and keeps
 * checking every caller's uid from the kernel.
 *
 * "No daemon" is an expected state, not a failure: `connectDaemon` returns
 * `{ ok: false, reason: 'not-running' }` for a missing directory, a missing socket or a
 * refused connection, and removes a stale socket file left by a crashed daemon.
 */
import { lstatSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { KeyrackError } from '../domain/errors.ts'
import { LIMITS } from '../domain/limits.ts'
import { errnoCode, verifySocketDir } from './paths.ts'
import type { PeerCred } from './peercred.ts'
import { encodeFrame, LineDecoder, PROTOCOL_VERSION } from './frames.ts'
import type { AuditContext, AuditLine, GrantInput, Op, Response, ResultOf } from './protocol.ts'

export interface ConnectOptions {
  socketPath: string
  /** default 2000 ms */
  connectTimeoutMs?: number
  /** per request; default 10 000 ms (below the daemon's 10 s idle cut-off is irrelevant: requests are traffic) */
  requestTimeoutMs?: number
  /** the uid the daemon must run as; default process.getuid() */
  uid?: number
  /** remove a socket file nobody listens on (older than 2 s, so a daemon mid-start is spared); default true */
  removeStale?: boolean
  /**
   * the peer-credential lookup on Bun (SO_PEERCRED / getpeereid); a seam so a test can make it
   * fail and see the client refuse to talk. Default: peercred.ts peerCred
   */
  peerCred?: (fd: number) => PeerCred
}

export type ConnectResult =
  | { ok: true; client: DaemonClient }
  | { ok: false; reason: 'not-running'; message: string; removedStaleSocket: boolean }

export interface DaemonClient {
  /** the daemon's uid as reported by the kernel (always equal to ours) */
  readonly daemonUid: number
  ping(): Promise<ResultOf['ping']>
  /** hand grants to the daemon; secrets travel only over this socket */
  put(grants: GrantInput[]): Promise<ResultOf['put']>
  /** per-slug state, in order; resets each granted slug's idle timer. `timeoutMs` bounds the whole call; `audit` says what the daemon logs the get as */
  get(slugs: string[], options?: { timeoutMs?: number; audit?: AuditContext }): Promise<ResultOf['get']>
  /** every grant without secrets */
  list(): Promise<ResultOf['list']>
  /** drop the given slugs, or all; the daemon exits when none are left */
  relock(slugs?: string[]): Promise<ResultOf['relock']>
  stop(): Promise<ResultOf['stop']>
  /** a line for the owner's audit log, written by the daemon (its writer while it runs) with the caller it sees */
  audit(line: AuditLine): Promise<ResultOf['audit']>
  close(): void
}

/** replies can be larger than requests (a get of many grants); still bounded */
const MAX_REPLY_BYTES = LIMITS.replyBytes
const STALE_AFTER_MS = 2000
const encoder = new TextEncoder()

/**
 * Connect to the daemon at `socketPath` and verify it runs as our uid.
 * @returns `{ ok: false, reason: 'not-running' }` when there is no daemon to talk to
 * @throws KeyrackError when the socket directory is unsafe, the daemon runs as another uid, or the connection times out
 */
export async function connectDaemon(options: ConnectOptions): Promise<ConnectResult> {
  const { socketPath } = options
  const uid = options.uid ?? process.getuid?.() ?? -1
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000
  const notRunning = (removedStaleSocket: boolean): ConnectResult => ({
    ok: false,
    reason: 'not-running',
    message: 'the keyrack daemon is not running',
    removedStaleSocket,
  })

  const dir = dirname(socketPath)
  try {
    lstatSync(dir)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return notRunning(false)
  }
  verifySocketDir(dir, uid)

  const pending = new Map<number, { resolve: (r: Response) => void; reject: (e: Error) => void; timer: Timer }>()
  const outbox: Uint8Array[] = []
  const decoder = new LineDecoder(MAX_REPLY_BYTES)
  let closedError: KeyrackError | undefined
  const failAll = (error: KeyrackError): void => {
    closedError ??= error
    for (const [, p] of pending) {
      clearTimeout(p.timer)
      p.reject(error)
    }
    pending.clear()
  }

  const handlers: TransportHandlers = {
    data(data) {
      const { lines, overflow } = decoder.push(data)
      for (const line of lines) {
        let reply: Response
        try {
          reply = JSON.parse(line) as Response
        } catch {
          continue
        }
        if (typeof reply !== 'object' || reply === null || reply.v !== PROTOCOL_VERSION) continue
        const waiter = typeof reply.id === 'number' ? pending.get(reply.id) : undefined
        if (!waiter) continue
        pending.delete(reply.id as number)
        clearTimeout(waiter.timer)
        waiter.resolve(reply)
      }
      if (overflow) {
        failAll(new KeyrackError('the keyrack daemon sent an oversized reply', { exit: 'environment', hint: ['keyrack relock'] }))
        socket.terminate()
      }
    },
    drain() {
      while (outbox.length > 0) {
        const head = outbox[0]!
        const written = socket.write(head)
        if (written < head.byteLength) {
          outbox[0] = head.subarray(Math.max(0, written))
          return
        }
        outbox.shift()
      }
    },
    close() {
      decoder.clear()
      failAll(new KeyrackError('the keyrack daemon closed the connection', { exit: 'environment', hint: ['keyrack status'] }))
    },
    error() {
      failAll(new KeyrackError('the connection to the keyrack daemon failed', { exit: 'environment', hint: ['keyrack status'] }))
    },
  }

  let socket: Transport
  try {
    socket = await withTimeout(
      process.versions.bun ? connectBun(socketPath, handlers, options.peerCred) : connectNode(socketPath, handlers),
      connectTimeoutMs,
      (late) => late.terminate(),
    )
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT') return notRunning(false)
    if (code === 'ECONNREFUSED') return notRunning(options.removeStale !== false && removeIfStale(socketPath))
    if (error instanceof TimeoutError) {
      throw new KeyrackError(`the keyrack daemon at ${socketPath} did not accept the connection in time`, {
      exit: 'environment',
        hint: ['keyrack status'],
      })
    }
    throw new KeyrackError(`cannot connect to the keyrack daemon at ${socketPath}`, { exit: 'environment', hint: ['keyrack doctor'] })
  }

  const daemonUid = await socket.peerUid()
  if (daemonUid !== uid) {
    socket.terminate()
    throw new KeyrackError(
      daemonUid === undefined
        ? `cannot verify who serves ${socketPath}, refusing to talk to it`
        : `${socketPath} is served by uid ${daemonUid}, not by you (uid ${uid}), refusing to talk to it`,
      { exit: 'environment', hint: ['keyrack doctor'] },
    )
  }

  let nextId = 1
  const call = <O extends Op>(op: O, fields: object = {}, timeoutMs = requestTimeoutMs): Promise<ResultOf[O]> =>
    new Promise<Response>((resolve, reject) => {
      if (closedError) return reject(closedError)
      const id = nextId++
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new KeyrackError(`the keyrack daemon did not answer ${op} within ${formatMs(timeoutMs)}`, { exit: 'environment', hint: ['keyrack status'] }))
      }, timeoutMs)
      pending.set(id, { resolve, reject, timer })
      const bytes = encoder.encode(encodeFrame({ ...fields, v: PROTOCOL_VERSION, id, op }))
      if (outbox.length > 0) outbox.push(bytes)
      else {
        const written = socket.write(bytes)
        if (written < bytes.byteLength) outbox.push(bytes.subarray(Math.max(0, written)))
      }
    }).then((reply) => {
      if (!reply.ok) {
        throw new KeyrackError(`the keyrack daemon rejected ${op}: ${reply.error.message}`, { exit: 'environment', hint: ['keyrack status'] })
      }
      return reply.result as ResultOf[O]
    })

  const client: DaemonClient = {
    daemonUid,
    ping: () => call('ping'),
    // in frames the daemon takes (LIMITS.frameBytes, LIMITS.keysPerUnlock): many large secrets still unlock
    put: async (grants) => {
      let stored = 0
      for (const batch of putBatches(grants)) stored += (await call('put', { grants: batch })).stored
      return { stored }
    },
    // in batches, so a reply of many large secrets stays far below the reply limit
    get: async (slugs, options = {}) => {
      const deadline = Date.now() + (options.timeoutMs ?? Infinity)
      const left = () => Math.max(1, Math.min(requestTimeoutMs, deadline - Date.now()))
      const audit = options.audit ? { audit: options.audit } : {}
      if (slugs.length <= LIMITS.slugsPerGet) return call('get', { slugs, ...audit }, left())
      const results: ResultOf['get']['results'] = []
      let audited = true
      for (let i = 0; i < slugs.length; i += LIMITS.slugsPerGet) {
        const batch = await call('get', { slugs: slugs.slice(i, i + LIMITS.slugsPerGet), ...audit }, left())
        results.push(...batch.results)
        audited &&= batch.audited === true
      }
      return { results, audited }
    },
    audit: (line) => call('audit', { line }),
    list: () => call('list'),
    relock: (slugs) => call('relock', slugs ? { slugs } : {}),
    stop: () => call('stop'),
    close: () => {
      socket.end()
      failAll(new KeyrackError('the connection to the keyrack daemon was closed', { exit: 'environment', hint: [] }))
    },
  }
  return { ok: true, client }
}

/**
 * Splits grants into put frames of at most LIMITS.keysPerUnlock grants and LIMITS.frameBytes
 * bytes (a 64-byte allowance for the frame's own fields). A grant too large for any frame goes
 * alone, and the daemon refuses it.
 */
export function putBatches(grants: GrantInput[]): GrantInput[][] {
  const batches: GrantInput[][] = []
  let batch: GrantInput[] = []
  let bytes = 64
  for (const grant of grants) {
    const size = encoder.encode(JSON.stringify(grant)).byteLength + 1
    if (batch.length > 0 && (batch.length >= LIMITS.keysPerUnlock || bytes + size > LIMITS.frameBytes)) {
      batches.push(batch)
      batch = []
      bytes = 64
    }
    batch.push(grant)
    bytes += size
  }
  if (batch.length > 0) batches.push(batch)
  return batches
}

/** remove a socket file that refused our connection, if it is a socket and not brand new */
function removeIfStale(socketPath: string): boolean {
  try {
    const stats = lstatSync(socketPath)
    if (!stats.isSocket() || Date.now() - stats.mtimeMs < STALE_AFTER_MS) return false
    unlinkSync(socketPath)
    return true
  } catch {
    return false
  }
}

/** a connected unix socket, whichever runtime made it */
interface Transport {
  /** bytes accepted now; the rest is written on `drain` */
  write(bytes: Uint8Array): number
  end(): void
  terminate(): void
  /** who serves the socket: the kernel's answer on Bun, the socket file's owner elsewhere */
  peerUid(): Promise<number | undefined>
}
interface TransportHandlers {
  data(data: Uint8Array): void
  drain(): void
  close(): void
  error(): void
}

/** Bun: Bun.connect, and the daemon's uid from the kernel (SO_PEERCRED / getpeereid) */
async function connectBun(socketPath: string, on: TransportHandlers, peerCred?: (fd: number) => PeerCred): Promise<Transport> {
  const socket = await Bun.connect({
    unix: socketPath,
    socket: { data: (_s, data) => on.data(data), drain: () => on.drain(), close: () => on.close(), error: () => on.error() },
  })
  return {
    write: (bytes) => socket.write(bytes),
    end: () => socket.end(),
    terminate: () => socket.terminate(),
    peerUid: async () => (await import('./peercred.ts')).peerUidOf(socket, peerCred),
  }
}

/**
 * Node and Deno: node:net. Without bun:ffi there is no peer-credential call, so the daemon's uid is
 * the socket file's owner; the directory holding it was verified 0700 and ours before connecting,
 * so nobody else can have put a socket there.
 */
async function connectNode(socketPath: string, on: TransportHandlers): Promise<Transport> {
  const { createConnection } = await import('node:net')
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath })
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      socket.on('data', (data: Uint8Array) => on.data(data))
      socket.on('close', () => on.close())
      socket.on('error', () => on.error())
      resolve({
        // node:net buffers what the kernel does not take yet: it is all accepted
        write: (bytes) => (socket.write(bytes), bytes.byteLength),
        end: () => socket.end(),
        terminate: () => socket.destroy(),
        peerUid: async () => {
          try {
            const stats = lstatSync(socketPath)
            return stats.isSocket() ? stats.uid : undefined
          } catch {
            return undefined
          }
        },
      })
    })
  })
}

class TimeoutError extends Error {}

const formatMs = (ms: number): string => (ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

/** race a promise against a timer; a value that arrives late is handed to `onLate` for cleanup */
function withTimeout<T>(promise: Promise<T>, ms: number, onLate: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false
    const timer = setTimeout(() => {
      done = true
      reject(new TimeoutError())
    }, ms)
    promise.then(
      (value) => {
        if (done) return onLate(value)
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        if (done) return
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
