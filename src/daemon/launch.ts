/**
 * Starting the daemon (SPEC §10): `ensureDaemon` on the CLI side, `daemonMain` inside the
 * re-launched binary (`keyrack __daemon --owner <owner>`).
 *
 * ensureDaemon, under a per-owner lock file in the socket directory:
 *   1. if a daemon answers `ping` on the socket, use it;
 *   2. else spawn `command` detached (setsid), cwd /, with a cleaned environment (an
 *      allowlist: nothing from the caller's shell that could carry a secret or change how
 *      Bun runs — BUN_*, NODE_OPTIONS, *_TOKEN, *_KEY … — reaches the daemon), and wait
 *      for it to print `ready` on stdout;
 *   3. release stdout/stderr/stdin and unref the child so the CLI can exit.
 * Secrets never travel here: the caller `put`s them over the socket afterwards.
 *
 * The lock makes two concurrent `ensureDaemon` calls start one daemon. As a backstop (a lock
 * broken as stale at the wrong moment), a second daemon refuses to start when one already
 * answers on the socket, and ensureDaemon then uses the one that answers.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { KeyrackError } from '../domain/errors.ts'
import { connectDaemon } from './client.ts'
import { hardenProcess, type HardenResult } from './harden.ts'
import { libc } from './libc.ts'
import { withLock } from '../runtime/lock.ts'
import { prepareSocketDir, type Env } from './paths.ts'
import { startDaemonServer, type CloseReason, type DaemonServerOptions } from './server.ts'

/** the only variables a daemon inherits */
export const DAEMON_ENV_ALLOWLIST = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'XDG_RUNTIME_DIR',
  'TMPDIR',
  'LANG',
  'KEYRACK_HOME',
  'KEYRACK_SOCK',
  'KEYRACK_AUDIT_ROTATE_BYTES',
] as const

/**
 * The daemon's environment: only DAEMON_ENV_ALLOWLIST. An allowlist rather than a denylist
 * of BUN_ prefixes, NODE_OPTIONS and names containing SECRET, TOKEN or KEY: a daemon that holds secrets
 * should not inherit some other tool's secret under a name we failed to guess, and it needs
 * nothing else. (/proc/<pid>/environ is also unreadable once the daemon is non-dumpable.)
 */
export function cleanDaemonEnv(env: Env): Record<string, string> {
  const clean: Record<string, string> = {}
  for (const name of DAEMON_ENV_ALLOWLIST) {
    const value = env[name]
    if (value !== undefined) clean[name] = value
  }
  return clean
}

export interface EnsureDaemonOptions {
  owner: string
  /** from paths.ts resolveSocketPath; its directory is created and verified here */
  socketPath: string
  /** how to start the daemon, e.g. [process.execPath, '__daemon', '--owner', owner] */
  command: string[]
  /** the caller's environment, cleaned before it reaches the daemon; default process.env */
  env?: Env
  /** default process.getuid() */
  uid?: number
  /** how long to wait for `ready`; default 5000 ms */
  readyTimeoutMs?: number
}

export interface EnsureDaemonResult {
  /** true when this call spawned the daemon */
  started: boolean
  pid: number
}

/**
 * Make sure `owner`'s daemon runs and answers on `socketPath`.
 * @throws KeyrackError when the socket directory is unsafe, the daemon runs as another
 * user, or a new daemon did not become ready in time
 */
export async function ensureDaemon(options: EnsureDaemonOptions): Promise<EnsureDaemonResult> {
  const uid = options.uid ?? process.getuid?.() ?? -1
  const readyTimeoutMs = options.readyTimeoutMs ?? 5000
  const { owner, socketPath } = options
  const dir = prepareSocketDir(dirname(socketPath), uid)

  const running = await pingDaemon(socketPath, owner, uid)
  if (running !== undefined) return { started: false, pid: running }

  // the one lock implementation (runtime/lock.ts): a dead holder's lock is broken, a live one waited for
  return withLock(join(dir, `${owner}.lock`), async () => {
    // whoever held the lock before us may have just started it
    const raced = await pingDaemon(socketPath, owner, uid)
    if (raced !== undefined) return { started: false, pid: raced }
    const pid = await spawnDaemon(options.command, options.env ?? process.env, readyTimeoutMs)
    if (pid !== undefined) return { started: true, pid }
    // the new daemon exited before `ready`: fine if another one answers (the backstop case)
    const other = await pingDaemon(socketPath, owner, uid)
    if (other !== undefined) return { started: false, pid: other }
    throw new KeyrackError(`the keyrack daemon for owner ${owner} exited while starting`, {
      exit: 'environment',
      hint: ['keyrack doctor'],
    })
  }, readyTimeoutMs + 5000)
}

/** the daemon's pid if one answers for this owner, else undefined */
async function pingDaemon(socketPath: string, owner: string, uid: number): Promise<number | undefined> {
  const connected = await connectDaemon({ socketPath, uid, connectTimeoutMs: 1000, requestTimeoutMs: 2000 })
  if (!connected.ok) return undefined
  try {
    const pong = await connected.client.ping()
    if (pong.owner !== owner) {
      throw new KeyrackError(`${socketPath} is served by the daemon of owner ${pong.owner}, not ${owner}`, {
      exit: 'environment',
        hint: [`keyrack relock --owner ${pong.owner}`],
      })
    }
    return pong.pid
  } finally {
    connected.client.close()
  }
}

/**
 * spawn and wait for `ready`; undefined when the child exited first. On Bun, Bun.spawn: it passes the
 * child nothing but its three pipes (an fd such as the controlling terminal a prompt opened would
 * otherwise keep a terminal session open as long as the daemon lives). Elsewhere node:child_process.
 */
async function spawnDaemon(command: string[], env: Env, readyTimeoutMs: number): Promise<number | undefined> {
  if (command.length === 0) throw new KeyrackError('no daemon command given', { exit: 'internal', hint: ['keyrack doctor'] })
  if (!process.versions.bun) return spawnDaemonNode(command, env, readyTimeoutMs)
  const child = Bun.spawn(command, {
    cwd: '/',
    env: cleanDaemonEnv(env),
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    detached: true,
  })
  const reader = child.stdout.getReader()
  const decoder = new TextDecoder()
  let timer: Timer | undefined
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), readyTimeoutMs)))
  const readLine = async (): Promise<'ready' | 'eof'> => {
    let text = ''
    for (;;) {
      const chunk = await reader.read()
      if (chunk.done) return 'eof'
      text += decoder.decode(chunk.value, { stream: true })
      const newline = text.indexOf('\n')
      if (newline !== -1) return text.slice(0, newline).trim() === 'ready' ? 'ready' : 'eof'
      if (text.length > 1024) return 'eof'
    }
  }
  const outcome = await Promise.race([readLine(), timeout])
  clearTimeout(timer)
  // let go of every pipe so neither side keeps the other alive
  void reader.cancel().catch(() => {})
  void child.stderr.cancel().catch(() => {})
  try {
    void child.stdin.end()
  } catch {
    // already closed
  }
  return settle(child, outcome, readyTimeoutMs)
}

/**
 * The same with node:child_process, for the SDK on Node and Deno; the daemon it starts is still the
 * Bun program `command` names. (Node marks its own fds close-on-exec, so only the pipes are passed.)
 */
async function spawnDaemonNode(command: string[], env: Env, readyTimeoutMs: number): Promise<number | undefined> {
  const [file, ...args] = command as [string, ...string[]]
  const { spawn } = await import('node:child_process')
  const child = spawn(file, args, { cwd: '/', env: cleanDaemonEnv(env), stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  const outcome = await new Promise<'ready' | 'eof' | 'timeout'>((resolve) => {
    let text = ''
    const timer = setTimeout(() => resolve('timeout'), readyTimeoutMs)
    const finish = (result: 'ready' | 'eof') => {
      clearTimeout(timer)
      resolve(result)
    }
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      const newline = text.indexOf('\n')
      if (newline !== -1) finish(text.slice(0, newline).trim() === 'ready' ? 'ready' : 'eof')
      else if (text.length > 1024) finish('eof')
    })
    child.stdout.once('end', () => finish('eof'))
    child.once('error', () => finish('eof'))
  })
  // let go of every pipe so neither side keeps the other alive
  child.stdout.destroy()
  child.stderr.destroy()
  child.stdin.end()
  return settle(child, outcome, readyTimeoutMs)
}

/** after the wait for `ready`: a ready daemon is let go (its pid returned); any other is stopped */
function settle(
  child: { pid?: number; kill(signal: 'SIGTERM'): unknown; unref(): void },
  outcome: 'ready' | 'eof' | 'timeout',
  readyTimeoutMs: number,
): number | undefined {
  if (outcome === 'ready' && child.pid !== undefined) {
    child.unref()
    return child.pid
  }
  child.kill('SIGTERM')
  child.unref()
  if (outcome === 'timeout') {
    throw new KeyrackError(`the keyrack daemon did not become ready within ${readyTimeoutMs / 1000}s`, {
      exit: 'environment',
      hint: ['keyrack doctor'],
    })
  }
  return undefined
}

export interface DaemonMainOptions
  extends Pick<DaemonServerOptions, 'graceMs' | 'maxLifetimeMs' | 'watchIntervalMs' | 'sessionCheckMs' | 'connectionIdleMs'> {
  owner: string
  socketPath: string
  /** default process.getuid() */
  uid?: number
  /** call process.exit when the server closes; default true (the hidden subcommand wants that) */
  exit?: boolean
  /** where the daemon writes its audit lines (src/cli/daemon-entry.ts wires the owner's log) */
  audit?: DaemonServerOptions['audit']
}

/**
 * The daemon process's entry point, called by the hidden `__daemon` subcommand:
 * harden, detach, chdir /, listen, print `ready`, serve until a close condition, exit.
 * Resolves with the close reason when `exit: false`. Startup failures are written to stderr
 * (which ensureDaemon discards) and exit with code 1.
 */
export async function daemonMain(options: DaemonMainOptions): Promise<{ reason: CloseReason; hardening: HardenResult }> {
  const hardening = hardenProcess()
  detachFromSession()
  process.chdir('/')
  const uid = options.uid ?? process.getuid?.() ?? -1
  let server
  try {
    prepareSocketDir(dirname(options.socketPath), uid)
    server = await startDaemonServer({
      owner: options.owner,
      socketPath: options.socketPath,
      uid,
      graceMs: options.graceMs,
      maxLifetimeMs: options.maxLifetimeMs,
      watchIntervalMs: options.watchIntervalMs,
      sessionCheckMs: options.sessionCheckMs,
      connectionIdleMs: options.connectionIdleMs,
      audit: options.audit,
    })
  } catch (error) {
    const message = error instanceof KeyrackError ? error.message : 'the keyrack daemon failed to start'
    process.stderr.write(`keyrack: error: ${message}\n`)
    if (options.exit === false) throw error
    process.exit(1)
  }
  const onSignal = (): void => void server.close('signal')
  const signals = ['SIGTERM', 'SIGHUP', 'SIGINT'] as const
  for (const signal of signals) process.on(signal, onSignal)
  // synchronous, so `ready` is out before stdio is pointed at /dev/null
  writeSync(1, 'ready\n')
  releaseStdio()
  const reason = await server.closed
  options.audit?.stop?.()
  for (const signal of signals) process.off(signal, onSignal)
  if (options.exit !== false) process.exit(0)
  return { reason, hardening }
}

/** setsid(): a no-op (EPERM) when spawned with `detached`, which already made us a session leader */
function detachFromSession(): void {
  try {
    libc().fn.setsid()
  } catch {
    // unsupported platform: the spawner's detached option is what matters
  }
}

/**
 * Point fds 0-2 at /dev/null: the launcher has closed its ends of the pipes, and a later
 * write must neither fail with EPIPE nor hold a terminal open.
 */
function releaseStdio(): void {
  try {
    const devNull = openSync('/dev/null', 'r+')
    const fn = libc().fn
    for (const fd of [0, 1, 2]) fn.dup2(devNull, fd)
    closeSync(devNull)
  } catch {
    // best effort
  }
}
