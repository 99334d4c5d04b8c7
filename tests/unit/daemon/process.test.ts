/**
 * Real daemon processes over real sockets: the launcher, the entry point, exit conditions,
 * hardening and the peer-uid checks with a second OS user.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, chownSync, existsSync, linkSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { connectDaemon } from '../../../src/daemon/client.ts'
import { ensureDaemon } from '../../../src/daemon/launch.ts'
import { prepareSocketDir } from '../../../src/daemon/paths.ts'
import { KeyrackError } from '../../../src/domain/errors.ts'
import { asUser, BUN, FIXTURES, isAlive, otherUser, otherUserEnv, removeDir, tempRuntimeDir, waitFor } from './helpers.ts'
import { skipFor } from '../../helpers/skips.ts'

const ENTRY = join(FIXTURES, 'daemon-entry.ts')
const uid = process.getuid!()
const pids = new Set<number>()
const dirs: string[] = []
afterAll(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await waitFor(() => [...pids].every((pid) => !isAlive(pid)), 2000)
  dirs.forEach(removeDir)
})

const runtime = tempRuntimeDir()
dirs.push(runtime)
const socketDir = join(runtime, 'keyrack')
const sockOf = (owner: string): string => join(socketDir, `${owner}.sock`)
const daemonCommand = (owner: string): string[] => [BUN, ENTRY, '--owner', owner, '--grace-ms', '20000', '--watch-ms', '200']
const env = {
  ...process.env,
  XDG_RUNTIME_DIR: runtime,
  MY_API_TOKEN: 'planted-token',
  AWS_SECRET_ACCESS_KEY: 'planted-aws',
  NODE_OPTIONS: '--require /tmp/evil.js',
  BUN_OPTIONS: '--preload /tmp/evil.js',
}

async function start(owner: string) {
  const result = await ensureDaemon({ owner, socketPath: sockOf(owner), command: daemonCommand(owner), env })
  pids.add(result.pid)
  return result
}

describe('ensureDaemon + daemonMain', () => {
  test('starts a detached daemon with a cleaned environment, cwd / and no core dumps; a second call reuses it', async () => {
    const first = await start('human')
    expect(first.started).toBe(true)
    const again = await start('human')
    expect(again).toEqual({ started: false, pid: first.pid })

    const environ = readFileSync(`/proc/${first.pid}/environ`, 'utf8').split('\0').filter(Boolean)
    const names = environ.map((line) => line.slice(0, line.indexOf('=')))
    expect(names.every((name) => ['PATH', 'HOME', 'USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'TMPDIR', 'LANG', 'KEYRACK_HOME', 'KEYRACK_SOCK'].includes(name))).toBe(true)
    expect(environ.join('\n')).not.toContain('planted')
    expect(readlinkSync(`/proc/${first.pid}/cwd`)).toBe('/')
    expect(readFileSync(`/proc/${first.pid}/limits`, 'utf8')).toMatch(/Max core file size\s+0\s+0\s/)
    const stat = readFileSync(`/proc/${first.pid}/stat`, 'utf8').slice(readFileSync(`/proc/${first.pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ')
    expect(Number(stat[3])).toBe(first.pid) // session id (field 6) = own pid: setsid, detached from our terminal/session
    // stdio points at /dev/null, not at pipes into the launcher
    expect(readlinkSync(`/proc/${first.pid}/fd/1`)).toBe('/dev/null')

    const connected = await connectDaemon({ socketPath: sockOf('human') })
    if (!connected.ok) throw new Error(connected.message)
    const now = Date.now()
    await connected.client.put([
      { slug: 'acme.test.A', key: { secret: 'planted-secret', grade: { protection: 'encrypted', duration: 'permanent' } }, mech: 'PERMANENT_VIA_REPLICA', vault: 'os.secure', expiresAt: now + 60_000 },
    ])
    expect((await connected.client.get(['acme.test.A'])).results[0]).toMatchObject({ state: 'granted', grant: { key: { secret: 'planted-secret' } } })
    expect(await connected.client.ping()).toMatchObject({ pid: first.pid, owner: 'human', uid })
    connected.client.close()
  })

  test('two owners → two processes, two sockets', async () => {
    const human = await start('human')
    const robot = await start('seaturtle')
    expect(robot.pid).not.toBe(human.pid)
    expect(existsSync(sockOf('human')) && existsSync(sockOf('seaturtle'))).toBe(true)
    const connected = await connectDaemon({ socketPath: sockOf('seaturtle') })
    if (!connected.ok) throw new Error(connected.message)
    expect(await connected.client.ping()).toMatchObject({ owner: 'seaturtle', pid: robot.pid })
    expect((await connected.client.get(['acme.test.A'])).results[0]!.state).toBe('missing') // the human's grant is not here
    connected.client.close()
  })

  test('concurrent ensureDaemon calls from separate processes start exactly one daemon', async () => {
    const runs = Array.from({ length: 4 }, () =>
      Bun.spawn([BUN, join(FIXTURES, 'ensure.ts'), 'racer', sockOf('racer'), ENTRY], {
        env: { ...process.env, XDG_RUNTIME_DIR: runtime },
        stdout: 'pipe',
        stderr: 'inherit',
      }),
    )
    // each launcher must also exit on its own: the daemon it started may not keep it alive
    const outputs = await Promise.all(runs.map(async (run) => ((await run.exited) === 0 ? new Response(run.stdout).text() : 'failed')))
    const results = outputs.map((out) => JSON.parse(out) as { started: boolean; pid: number })
    for (const result of results) pids.add(result.pid)
    expect(new Set(results.map((r) => r.pid)).size).toBe(1)
    expect(results.filter((r) => r.started)).toHaveLength(1)
    // and in-process concurrency goes through the same lock
    const [a, b] = await Promise.all([start('racer'), start('racer')])
    expect(a.pid).toBe(results[0]!.pid)
    expect(b.pid).toBe(results[0]!.pid)
  })

  test('socket file removed → the daemon process exits', async () => {
    const { pid } = await start('remover')
    unlinkSync(sockOf('remover'))
    expect(await waitFor(() => !isAlive(pid), 3000)).toBe(true)
  })

  test('SIGTERM and SIGHUP → the daemon exits and removes its socket', async () => {
    for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
      const { pid } = await start('signalled')
      process.kill(pid, signal)
      expect(await waitFor(() => !isAlive(pid), 3000)).toBe(true)
      expect(existsSync(sockOf('signalled'))).toBe(false)
    }
  })

  test('stop op → exits; afterwards connectDaemon reports not-running', async () => {
    const { pid } = await start('stopper')
    const connected = await connectDaemon({ socketPath: sockOf('stopper') })
    if (!connected.ok) throw new Error(connected.message)
    await connected.client.stop()
    expect(await waitFor(() => !isAlive(pid), 3000)).toBe(true)
    expect(await connectDaemon({ socketPath: sockOf('stopper') })).toMatchObject({ ok: false, reason: 'not-running' })
  })

  test('a daemon that cannot start gives a clear error within the timeout', async () => {
    const attempt = ensureDaemon({ owner: 'broken', socketPath: sockOf('broken'), command: [BUN, '-e', 'process.exit(3)'], env })
    await expect(attempt).rejects.toThrow('the keyrack daemon for owner broken exited while starting')
    const silent = ensureDaemon({ owner: 'silent', socketPath: sockOf('silent'), command: ['sleep', '30'], env, readyTimeoutMs: 300 })
    await expect(silent).rejects.toThrow('the keyrack daemon did not become ready within 0.3s')
  })
})

describe('with a second OS user', () => {
  const user = otherUser()
  const skip = skipFor('root', 'second-user daemon process tests (tests/unit/daemon/process.test.ts)', typeof user === 'string' ? user : null)
  const other = typeof user === 'string' ? { uid: -1, gid: -1 } : user

  /** run a bun fixture as the other user and parse its JSON output */
  const runAsOther = async (args: string[]): Promise<any> => {
    const run = Bun.spawn([...asUser(other), BUN, ...args], { env: otherUserEnv(), stdout: 'pipe', stderr: 'pipe' })
    const [out, err] = [await new Response(run.stdout).text(), await new Response(run.stderr).text()]
    if ((await run.exited) !== 0) throw new Error(`fixture failed: ${err.slice(0, 500)}`)
    return JSON.parse(out)
  }

  /** a daemon running as the other user, in a runtime dir owned by it */
  const startOtherDaemon = async (): Promise<{ pid: number; socketPath: string }> => {
    const otherRuntime = tempRuntimeDir()
    dirs.push(otherRuntime)
    chownSync(otherRuntime, other.uid, other.gid)
    const child = Bun.spawn([...asUser(other), ...daemonCommand('human')], {
      env: otherUserEnv({ XDG_RUNTIME_DIR: otherRuntime, MY_API_TOKEN: 'planted-token' }),
      stdout: 'pipe',
      stderr: 'pipe',
    })
    pids.add(child.pid)
    const reader = child.stdout.getReader()
    const first = await Promise.race([reader.read(), Bun.sleep(5000).then(() => undefined)])
    const line = first && !first.done ? new TextDecoder().decode(first.value) : ''
    if (!line.startsWith('ready')) throw new Error(`daemon as other user did not start: ${await new Response(child.stderr).text()}`)
    void reader.cancel()
    child.unref()
    return { pid: child.pid, socketPath: join(otherRuntime, 'keyrack', 'human.sock') }
  }

  test.skipIf(skip)('after hardening, the daemon’s /proc/<pid>/environ and mem are unreadable by its own (non-root) uid', async () => {
    const daemon = await startOtherDaemon()
    const hardened = await runAsOther([join(FIXTURES, 'proc-reader.ts'), String(daemon.pid)])
    expect(hardened).toEqual({ environ: 'EACCES', mem: 'EACCES', statusUid: 0 })

    // control: an unhardened process of the same user is readable by that user, so the check above means something
    const plain = Bun.spawn([...asUser(other), 'sleep', '10'], { env: otherUserEnv() })
    pids.add(plain.pid)
    await Bun.sleep(100)
    const control = await runAsOther([join(FIXTURES, 'proc-reader.ts'), String(plain.pid)])
    expect(control).toEqual({ environ: 'ok', mem: 'ok', statusUid: other.uid })
    plain.kill()
  })

  test.skipIf(skip)('the daemon drops a connection from another uid (server-side check, root client past the 0700 dir)', async () => {
    const daemon = await startOtherDaemon()
    // root bypasses the directory permissions, so only the daemon's own peer-uid check can stop it
    const report = await runRaw(daemon.socketPath)
    expect(report).toMatchObject({ reached: true, dropped: true, received: '' })
  })

  test.skipIf(skip)('the client refuses a server running as another uid before sending anything', async () => {
    // a listener of the other user that accepts everyone and reports what it receives
    const otherRuntime = tempRuntimeDir()
    dirs.push(otherRuntime)
    chownSync(otherRuntime, other.uid, other.gid)
    const listenerPath = join(otherRuntime, 'human.sock')
    const listener = Bun.spawn([...asUser(other), BUN, join(FIXTURES, 'plain-listener.ts'), listenerPath], { env: otherUserEnv(), stdout: 'pipe' })
    pids.add(listener.pid)
    // wait for the listener's own 'ready' (it is listening), not for the socket file: bind() makes
    // the file before listen(), and starting Bun as another user can take seconds on a loaded machine
    const reader = listener.stdout.getReader()
    let output = ''
    const readyBy = Date.now() + 20_000
    while (!output.includes('ready\n') && Date.now() < readyBy) {
      const chunk = await Promise.race([reader.read(), Bun.sleep(readyBy - Date.now()).then(() => undefined)])
      if (!chunk || chunk.done) break
      output += new TextDecoder().decode(chunk.value)
    }
    expect(output).toBe('ready\n')
    // reachable at a path whose directory passes our checks, as a squatter's socket would be
    const trap = prepareSocketDir(join(runtime, 'trap'), uid)
    linkSync(listenerPath, join(trap, 'human.sock'))
    const attempt = connectDaemon({ socketPath: join(trap, 'human.sock') })
    await expect(attempt).rejects.toBeInstanceOf(KeyrackError)
    await expect(attempt).rejects.toThrow(`is served by uid ${other.uid}, not by you (uid ${uid}), refusing to talk to it`)
    await Bun.sleep(100)
    listener.kill()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) output += new TextDecoder().decode(chunk.value)
    expect(output).toBe('ready\n') // not a single byte arrived
  })

  test.skipIf(skip)('another user is refused by our daemon even when the directory is opened up', async () => {
    const { pid } = await start('human')
    expect(isAlive(pid)).toBe(true)
    // control: the same check-free client, as our own uid, gets an answer
    expect(await runRaw(sockOf('human'))).toMatchObject({ reached: true, dropped: false, received: expect.stringContaining('"ok":true') })
    // open the path for the test only: the 0700 dir normally stops the other user at connect()
    chmodSync(runtime, 0o711)
    chmodSync(socketDir, 0o711)
    chmodSync(sockOf('human'), 0o666)
    try {
      const report = await runAsOther([join(FIXTURES, 'raw-client.ts'), sockOf('human')])
      expect(report).toMatchObject({ reached: true, dropped: true, received: '' })
    } finally {
      chmodSync(sockOf('human'), 0o600)
      chmodSync(socketDir, 0o700)
      chmodSync(runtime, 0o700)
    }
    // and with the directory closed again, the kernel refuses before the daemon sees anything
    const blocked = await runAsOther([join(FIXTURES, 'raw-client.ts'), sockOf('human')])
    expect(blocked).toMatchObject({ reached: false, error: 'EACCES' })
  })
})

/** the raw (check-free) client as the current user */
async function runRaw(socketPath: string): Promise<any> {
  const run = Bun.spawn([BUN, join(FIXTURES, 'raw-client.ts'), socketPath], { stdout: 'pipe' })
  const out = await new Response(run.stdout).text()
  await run.exited
  return JSON.parse(out)
}

