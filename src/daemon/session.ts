/**
 * Login-session end detection on Linux (SPEC §10.1: "the daemon exits when the session that
 * started it ends").
 *
 * The kernel's audit session id (/proc/<pid>/sessionid) is set once by pam_loginuid at login
 * and inherited by every descendant; an unprivileged process cannot change it. 4294967295
 * means "no session" (e.g. started by cron/systemd, or in a container) — then there is
 * nothing to watch and the other exit conditions (TTL, XDG_RUNTIME_DIR removal) apply.
 *
 * How we decide the session is over: at startup we walk up from the process that launched
 * the daemon to the top-most ancestor that still carries our session id (sshd's per-session
 * process, login, the display manager's session worker, or a tmux server started in the
 * session) and remember its pid and start time. When that anchor is gone (or its pid was
 * reused: the start time differs), the session has ended. This is cheap (two small reads)
 * and immune to stray processes, such as an agent left running by the session, that would
 * keep a "does any process still have this id" scan alive forever.
 *
 * When no anchor can be found (the launcher already exited), we fall back to that scan:
 * alive while any other process still carries the session id.
 *
 * `procRoot` is injectable so tests can build a fake /proc tree.
 */
import { readdirSync, readFileSync } from 'node:fs'

/** the audit session id meaning "not in a login session" ((u32)-1) */
export const NO_SESSION = 4294967295

export interface SessionWatchOptions {
  /** default /proc */
  procRoot?: string
  /** the daemon's own pid; default process.pid */
  selfPid?: number
  /** where to start the ancestor walk: the process that launched the daemon; default process.ppid */
  launcherPid?: number
}

export interface SessionWatch {
  readonly sessionId: number
  /** the ancestor whose exit ends the session, when one was found */
  readonly anchor?: { pid: number; startTime: string }
  /** false once the login session has ended */
  alive(): boolean
}

/** undefined when this process is not in an audited login session (or /proc is unavailable) */
export function watchLoginSession(options: SessionWatchOptions = {}): SessionWatch | undefined {
  const procRoot = options.procRoot ?? '/proc'
  const selfPid = options.selfPid ?? process.pid
  const sessionId = readSessionId(procRoot, selfPid)
  if (sessionId === undefined || sessionId === NO_SESSION) return undefined

  let anchor: { pid: number; startTime: string } | undefined
  let pid = options.launcherPid ?? process.ppid
  for (let depth = 0; pid > 1 && depth < 64; depth++) {
    if (readSessionId(procRoot, pid) !== sessionId) break
    const stat = readStat(procRoot, pid)
    if (!stat) break
    anchor = { pid, startTime: stat.startTime }
    pid = stat.ppid
  }

  const found = anchor
  if (found) {
    return {
      sessionId,
      anchor: found,
      alive: () =>
        readStat(procRoot, found.pid)?.startTime === found.startTime && readSessionId(procRoot, found.pid) === sessionId,
    }
  }
  return {
    sessionId,
    alive: () => anyOtherProcessInSession(procRoot, sessionId, selfPid),
  }
}

function anyOtherProcessInSession(procRoot: string, sessionId: number, selfPid: number): boolean {
  let names: string[]
  try {
    names = readdirSync(procRoot)
  } catch {
    return true // cannot tell: do not kill the daemon on a transient error
  }
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === selfPid) continue
    if (readSessionId(procRoot, Number(name)) === sessionId) return true
  }
  return false
}

function readSessionId(procRoot: string, pid: number): number | undefined {
  try {
    const text = readFileSync(`${procRoot}/${pid}/sessionid`, 'utf8').trim()
    return /^\d+$/.test(text) ? Number(text) : undefined
  } catch {
    return undefined
  }
}

/** ppid and starttime from /proc/<pid>/stat; comm may contain spaces and parens, so split after the last ')' */
function readStat(procRoot: string, pid: number): { ppid: number; startTime: string } | undefined {
  try {
    const text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state), so field N is fields[N - 3]: ppid is 4, starttime is 22
    const ppid = Number(fields[1])
    const startTime = fields[19]
    if (!Number.isInteger(ppid) || startTime === undefined) return undefined
    return { ppid, startTime }
  } catch {
    return undefined
  }
}
