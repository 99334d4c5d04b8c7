/**
 * Shared pieces of the daemon acceptance tests: waiting, process checks, a raw socket client
 * that skips every keyrack check (to feed the daemon malformed frames), and the second OS user.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

export const OTHER_USER = 'keyrack-test-other'

export async function waitFor(check: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (check()) return true
    await Bun.sleep(stepMs)
  }
  return check()
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    // a zombie (exited, not yet reaped by its parent) counts as gone
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/** the pid `unlock` printed on stderr: "daemon of owner 'human' started (pid 123)" */
export function daemonPidOf(stderr: string): number {
  const match = /daemon of owner '[^']+' (?:started|running) \(pid (\d+)\)/.exec(stderr)
  if (!match) throw new Error(`no daemon pid in: ${stderr}`)
  return Number(match[1])
}

/**
 * Connect to a unix socket with no client-side checks, write `payload` (all at once), and
 * collect what comes back until `untilLines` response lines arrived, the server closed, or
 * `timeoutMs` passed.
 */
export async function rawExchange(
  socketPath: string,
  payload: string | Uint8Array,
  options: { untilLines?: number; timeoutMs?: number } = {},
): Promise<{ received: string; closed: boolean; error?: string }> {
  const untilLines = options.untilLines ?? 1
  let received = ''
  let closed = false
  let error: string | undefined
  // Bun's socket.write may take only part of a large buffer: keep the rest for `drain`
  let pending = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
  const pump = (socket: { write(data: Uint8Array): number }): void => {
    while (pending.length > 0) {
      const written = socket.write(pending)
      if (written <= 0) return
      pending = pending.subarray(written)
    }
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, options.timeoutMs ?? 3000)
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    Bun.connect({
      unix: socketPath,
      socket: {
        open(socket) {
          pump(socket)
        },
        drain(socket) {
          pump(socket)
        },
        data(socket, data) {
          received += new TextDecoder().decode(data)
          if (received.split('\n').length - 1 >= untilLines) {
            socket.end()
            done()
          }
        },
        close() {
          closed = true
          done()
        },
        error(_socket, e) {
          error = (e as { code?: string }).code ?? 'error'
          done()
        },
      },
    }).catch((e: { code?: string }) => {
      error = e.code ?? 'error'
      done()
    })
  })
  return { received, closed, error }
}

/** the second OS user's ids, creating it when root and missing; a reason string when impossible */
export function otherUser(): { uid: number; gid: number } | string {
  if (process.getuid?.() !== 0) return 'not root: cannot create or switch to a second user'
  const lookup = (): { uid: number; gid: number } | undefined => {
    const uid = spawnSync('id', ['-u', OTHER_USER], { encoding: 'utf8' })
    const gid = spawnSync('id', ['-g', OTHER_USER], { encoding: 'utf8' })
    if (uid.status !== 0 || gid.status !== 0) return undefined
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
  }
  const found = lookup()
  if (found) return found
  const made = spawnSync('useradd', ['-M', '-s', '/usr/sbin/nologin', OTHER_USER], { stdio: 'ignore' })
  if (made.status !== 0) return `useradd ${OTHER_USER} failed (exit ${made.status}): cannot create the second user`
  if (spawnSync('sh', ['-c', 'command -v setpriv'], { stdio: 'ignore' }).status !== 0) return 'setpriv is not installed'
  return lookup() ?? 'useradd did not create the second user'
}

/** argv prefix that runs a command as `user`, with no supplementary groups and no capabilities */
export function asUser(user: { uid: number; gid: number }): string[] {
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups']
}
