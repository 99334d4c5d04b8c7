/**
 * A per-owner lock file so concurrent writers (two `keyrack set`s) never lose an update.
 * O_EXCL create holds the lock; the holder's pid is inside so a lock left by a crashed process
 * is detected (the pid no longer runs) and taken over.
 */
import { closeSync, constants, linkSync, openSync, renameSync, statSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { KeyrackError, KeyrackVaultError } from '../domain/errors.ts'
import { HOME_FILE_BYTES } from '../domain/limits.ts'
import { asWriteError, ensurePrivateDir, removeFileIfExists } from './fs-atomic.ts'
import { readHomeFile } from './home.ts'
import { randomHex } from './random.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** a process with this pid exists (ours or, EPERM, someone else's) */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function tryAcquire(path: string): boolean {
  let fd: number
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw asWriteError(error, dirname(path))
    return false
  }
  try {
    writeSync(fd, String(process.pid))
  } catch (error) {
    // e.g. a full disk: an empty lock left behind would hold up the next command, so it goes
    closeSync(fd)
    removeFileIfExists(path)
    throw asWriteError(error, dirname(path))
  }
  closeSync(fd)
  return true
}

function holderPid(path: string): { pid: number | null; ino: number } | null {
  let bytes: Buffer | null
  let ino: number
  try {
    ino = statSync(path).ino
    // checked like every file of the keyrack home: a planted lock (a symlink, someone else's
    // file) is refused with the fix, not waited on for ever
    bytes = readHomeFile(dirname(path), path, HOME_FILE_BYTES.small)
  } catch (error) {
    if (error instanceof KeyrackError) throw error
    return null
  }
  if (bytes === null) return null
  const pid = Number.parseInt(bytes.toString('utf8'), 10)
  return { pid: Number.isFinite(pid) && pid > 0 ? pid : null, ino }
}

/**
 * Removes a stale lock without ever removing a fresh one: two waiters may both see the same
 * dead holder, and the slower one must not delete the lock the faster one has just taken.
 * So the file is moved aside atomically, and put back if it is not the one we judged stale.
 */
function breakStaleLock(path: string, staleIno: number): void {
  const aside = `${path}.stale-${process.pid}-${randomHex(4)}`
  try {
    renameSync(path, aside)
  } catch {
    return // already gone: someone else broke it
  }
  if (statSync(aside).ino === staleIno) {
    removeFileIfExists(aside)
    return
  }
  // we moved a live lock: give it back (link fails if yet another process took the name)
  try {
    linkSync(aside, path)
  } catch {}
  removeFileIfExists(aside)
}

/** one wait step's judgement of the lock's holder: break a dead holder's lock, time out on a live one */
function judgeHolder(path: string, state: { started: number; emptySince: number | null }, timeoutMs: number): void {
  const holder = holderPid(path)
  if (holder === null) return // released meanwhile
  const { pid, ino } = holder
  if (pid !== null && !isRunning(pid)) return breakStaleLock(path, ino) // the holder died without releasing
  if (pid === null) {
    // a holder between create and write leaves the file empty for an instant; only a lock that
    // stays empty is stale
    state.emptySince ??= Date.now()
    if (Date.now() - state.emptySince > 2_000) breakStaleLock(path, ino)
  } else state.emptySince = null
  if (Date.now() - state.started > timeoutMs)
    throw new KeyrackVaultError(`timed out waiting for the lock ${path} (held by pid ${pid})`, [
      `if no keyrack process is running, remove it: \`rm ${path}\``,
    ])
}

export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  ensurePrivateDir(dirname(path))
  const state: { started: number; emptySince: number | null } = { started: Date.now(), emptySince: null }
  let wait = 5
  while (!tryAcquire(path)) {
    judgeHolder(path, state, timeoutMs)
    await sleep(wait + Math.random() * wait)
    wait = Math.min(wait * 2, 100)
  }
  try {
    return await fn()
  } finally {
    removeFileIfExists(path)
  }
}

/**
 * withLock waited for synchronously, for a lock held a fraction of a millisecond (the audit
 * log's: its append must not cost `get` an event-loop turn)
 */
export function withLockSync<T>(path: string, fn: () => T, timeoutMs = 10_000): T {
  const state: { started: number; emptySince: number | null } = { started: Date.now(), emptySince: null }
  const nap = new Int32Array(new SharedArrayBuffer(4))
  while (!tryAcquire(path)) {
    judgeHolder(path, state, timeoutMs)
    Atomics.wait(nap, 0, 0, 2)
  }
  try {
    return fn()
  } finally {
    removeFileIfExists(path)
  }
}
