import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { NO_SESSION, watchLoginSession } from '../../../src/daemon/session.ts'
import { removeDir, tempRuntimeDir } from './helpers.ts'

const root = tempRuntimeDir()
afterAll(() => removeDir(root))

/** a fake /proc: pid → [ppid, sessionid, starttime] */
function fakeProc(name: string, procs: Record<number, [number, number, number]>): string {
  const proc = join(root, name)
  for (const [pid, [ppid, session, start]] of Object.entries(procs)) {
    mkdirSync(join(proc, pid), { recursive: true })
    writeFileSync(join(proc, pid, 'sessionid'), String(session))
    // comm with a space and a paren, to exercise the parsing after the last ')'
    const fields = ['S', String(ppid), ...Array.from({ length: 17 }, () => '0'), String(start), '0']
    writeFileSync(join(proc, pid, 'stat'), `${pid} (odd) name) ${fields.join(' ')}\n`)
  }
  return proc
}

describe('watchLoginSession', () => {
  test('no audit session: nothing to watch', () => {
    const proc = fakeProc('none', { 100: [1, NO_SESSION, 5] })
    expect(watchLoginSession({ procRoot: proc, selfPid: 100, launcherPid: 1 })).toBeUndefined()
  })

  test('anchors on the top-most ancestor in the session and ends when it exits', () => {
    // 10 sshd-session (session 7) → 20 shell → 30 keyrack unlock → 40 daemon; 1 is init (no session)
    const proc = fakeProc('anchor', { 1: [0, NO_SESSION, 1], 10: [1, 7, 100], 20: [10, 7, 200], 30: [20, 7, 300], 40: [30, 7, 400] })
    const watch = watchLoginSession({ procRoot: proc, selfPid: 40, launcherPid: 30 })!
    expect(watch.sessionId).toBe(7)
    expect(watch.anchor).toEqual({ pid: 10, startTime: '100' })
    expect(watch.alive()).toBe(true)
    rmSync(join(proc, '30'), { recursive: true }) // the launcher exiting changes nothing
    expect(watch.alive()).toBe(true)
    rmSync(join(proc, '10'), { recursive: true })
    expect(watch.alive()).toBe(false)
  })

  test('a reused anchor pid (different start time) counts as ended', () => {
    const proc = fakeProc('reuse', { 10: [1, 7, 100], 40: [10, 7, 400] })
    const watch = watchLoginSession({ procRoot: proc, selfPid: 40, launcherPid: 10 })!
    fakeProc('reuse', { 10: [1, 7, 999] })
    expect(watch.alive()).toBe(false)
  })

  test('without an anchor, alive while any other process carries the session id', () => {
    const proc = fakeProc('scan', { 40: [1, 7, 400], 55: [1, 7, 500], 66: [1, 8, 600] })
    const watch = watchLoginSession({ procRoot: proc, selfPid: 40, launcherPid: 1 })!
    expect(watch.anchor).toBeUndefined()
    expect(watch.alive()).toBe(true)
    rmSync(join(proc, '55'), { recursive: true })
    expect(watch.alive()).toBe(false)
  })
})
