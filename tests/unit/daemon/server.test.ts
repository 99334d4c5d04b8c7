import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connectDaemon, type DaemonClient } from '../../../src/daemon/client.ts'
import { prepareSocketDir } from '../../../src/daemon/paths.ts'
import type { GrantInput } from '../../../src/daemon/protocol.ts'
import { startDaemonServer, type DaemonServer, type DaemonServerOptions } from '../../../src/daemon/server.ts'
import { KeyrackError } from '../../../src/domain/errors.ts'
import { removeDir, tempRuntimeDir } from './helpers.ts'
import { missingTool, skipFor } from '../../helpers/skips.ts'

const MIN = 60_000
const uid = process.getuid!()
const dirs: string[] = []
const servers: DaemonServer[] = []
const clients: DaemonClient[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  for (const server of servers.splice(0)) await server.close('stop')
})
afterAll(() => dirs.forEach(removeDir))

/** a fresh runtime dir, a controllable clock and a started server (no session watch: tests run outside a login session) */
async function setup(options: Partial<DaemonServerOptions> = {}) {
  const runtime = tempRuntimeDir()
  dirs.push(runtime)
  const dir = prepareSocketDir(join(runtime, 'keyrack'), uid)
  let t = 1_700_000_000_000
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) }
  const socketPath = join(dir, 'human.sock')
  const server = await startDaemonServer({
    owner: 'human',
    socketPath,
    now: clock.now,
    session: null,
    env: { XDG_RUNTIME_DIR: runtime },
    watchIntervalMs: 20,
    ...options,
  })
  servers.push(server)
  return { runtime, dir, socketPath, server, clock }
}

async function connect(socketPath: string): Promise<DaemonClient> {
  const result = await connectDaemon({ socketPath })
  if (!result.ok) throw new Error(result.message)
  clients.push(result.client)
  return result.client
}

const grant = (slug: string, expiresAt: number, extra: Partial<GrantInput> = {}): GrantInput => ({
  slug,
  key: { secret: `planted-${slug}`, grade: { protection: 'encrypted', duration: 'permanent' } },
  mech: 'PERMANENT_VIA_REPLICA',
  vault: 'os.secure',
  expiresAt,
  ...extra,
})

/** send raw frames on one connection (honouring backpressure); collect replies until `count` arrive or the server closes */
async function raw(socketPath: string, frames: string[], count: number): Promise<{ replies: any[]; closed: boolean }> {
  const replies: any[] = []
  let buffer = ''
  let closedByServer = false
  let pending = new TextEncoder().encode(frames.join(''))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${replies.length} replies`)), 5000)
    let finished = false
    const done = (): void => {
      finished = true
      clearTimeout(timer)
      resolve()
    }
    const pump = (socket: { write(data: Uint8Array): number }): void => {
      if (pending.byteLength === 0) return
      const written = socket.write(pending)
      pending = pending.subarray(Math.max(0, written))
    }
    Bun.connect({
      unix: socketPath,
      socket: {
        open: pump,
        drain: pump,
        data(socket, data) {
          buffer += new TextDecoder().decode(data)
          for (let i = buffer.indexOf('\n'); i !== -1; i = buffer.indexOf('\n')) {
            replies.push(JSON.parse(buffer.slice(0, i)))
            buffer = buffer.slice(i + 1)
          }
          if (replies.length >= count && !finished) {
            done()
            socket.end()
          }
        },
        close() {
          if (!finished) closedByServer = true
          done()
        },
      },
    }).catch(reject)
  })
  return { replies, closed: closedByServer }
}

describe('daemon server', () => {
  test('put/get/list/relock round trip over the socket; list carries no secret', async () => {
    const { socketPath, server, clock } = await setup()
    const client = await connect(socketPath)
    expect(client.daemonUid).toBe(uid)
    expect(await client.ping()).toEqual({ pid: process.pid, owner: 'human', uid, startedAt: clock.now() })
    const expiresAt = clock.now() + 9 * 60 * MIN
    expect(await client.put([grant('acme.test.A', expiresAt), grant('acme.test.B', expiresAt), grant('acme.prod.C', expiresAt)])).toEqual({ stored: 3 })
    const { results } = await client.get(['acme.test.A', 'acme.test.Z'])
    expect(results[0]).toEqual({
      slug: 'acme.test.A',
      state: 'granted',
      grant: { slug: 'acme.test.A', key: { secret: 'planted-acme.test.A', grade: { protection: 'encrypted', duration: 'permanent' } }, mech: 'PERMANENT_VIA_REPLICA', vault: 'os.secure', expiresAt },
      expiresAt,
    })
    expect(results[1]).toEqual({ slug: 'acme.test.Z', state: 'missing' })
    const listed = await client.list()
    expect(listed.grants.map((g) => g.slug)).toEqual(['acme.prod.C', 'acme.test.A', 'acme.test.B'])
    expect(JSON.stringify(listed)).not.toContain('planted')
    expect(await client.relock(['acme.test.A', 'acme.test.B'])).toEqual({ removed: 2, remaining: 1 })
    expect((await client.get(['acme.test.A'])).results[0]!.state).toBe('missing')
    // relocking the rest empties the store, which stops the daemon and removes its socket
    expect(await client.relock()).toEqual({ removed: 1, remaining: 0 })
    expect(await server.closed).toBe('relocked')
    expect(existsSync(socketPath)).toBe(false)
  })

  test('socket file is 0600 and the socket dir stays 0700', async () => {
    const { socketPath, dir } = await setup()
    expect(statSync(socketPath).mode & 0o777).toBe(0o600)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
  })

  test('malformed json, wrong version, unknown op and schema failures get error replies; the connection and server live on', async () => {
    const { socketPath } = await setup()
    const { replies, closed } = await raw(
      socketPath,
      [
        '{not json\n',
        '{"v":2,"id":1,"op":"ping"}\n',
        '{"v":1,"id":2,"op":"exfiltrate"}\n',
        '{"v":1,"id":3,"op":"put","grants":[{"slug":"a.b.C","key":{"secret":"planted-x","grade":{"protection":"nope","duration":"permanent"}},"mech":"M","vault":"V","expiresAt":1}]}\n',
        '\n',
        '{"v":1,"id":4,"op":"ping"}\n',
      ],
      5,
    )
    expect(closed).toBe(false)
    expect(replies.map((r) => [r.id, r.ok, r.error?.code])).toEqual([
      [null, false, 'malformed'],
      [1, false, 'version'],
      [2, false, 'unknown-op'],
      [3, false, 'invalid'],
      [4, true, undefined],
    ])
    expect(JSON.stringify(replies)).not.toContain('planted')
  })

  test('an oversize frame gets an error reply and the connection is closed; the server keeps serving', async () => {
    const { socketPath } = await setup()
    const huge = `{"v":1,"id":1,"op":"get","slugs":["${'x'.repeat(1024 * 1024 + 10)}"]}\n`
    const { replies, closed } = await raw(socketPath, [huge], 2)
    expect(replies).toEqual([{ v: 1, id: null, ok: false, error: { code: 'too-large', message: 'frame larger than 1048576 bytes' } }])
    expect(closed).toBe(true)
    const client = await connect(socketPath)
    expect((await client.ping()).owner).toBe('human')
  })

  test('absolute expiry and idle timeout follow the injected clock; get answers expired, not missing', async () => {
    const { socketPath, clock } = await setup({ onEmpty: 'keep' })
    const client = await connect(socketPath)
    const start = clock.now()
    await client.put([grant('acme.test.ABS', start + 9 * 60 * MIN), grant('acme.test.IDLE', start + 9 * 60 * MIN, { idleTimeoutMs: 15 * MIN })])
    clock.advance(14 * MIN)
    expect((await client.get(['acme.test.IDLE'])).results[0]).toMatchObject({ state: 'granted', idleExpiresAt: clock.now() + 15 * MIN })
    clock.advance(14 * MIN) // still within 15 min of the last get
    expect((await client.get(['acme.test.IDLE'])).results[0]!.state).toBe('granted')
    clock.advance(15 * MIN)
    expect((await client.get(['acme.test.IDLE'])).results[0]).toEqual({ slug: 'acme.test.IDLE', state: 'expired', expiredAt: clock.now() })
    expect((await client.get(['acme.test.ABS'])).results[0]!.state).toBe('granted')
    clock.advance(9 * 60 * MIN)
    expect((await client.get(['acme.test.ABS'])).results[0]).toEqual({ slug: 'acme.test.ABS', state: 'expired', expiredAt: start + 9 * 60 * MIN })
    expect((await client.list()).grants).toEqual([])
  })

  test('exits when empty for the grace period (counted on the injected clock), and not before', async () => {
    const { socketPath, server, clock } = await setup({ graceMs: 30_000 })
    const client = await connect(socketPath)
    await client.put([grant('acme.test.A', clock.now() + MIN)])
    clock.advance(MIN) // the grant expires: the store is empty from the next sweep on
    await Bun.sleep(60)
    clock.advance(29_000)
    await Bun.sleep(60)
    expect(await Promise.race([server.closed, Bun.sleep(10).then(() => 'open')])).toBe('open')
    clock.advance(1_000)
    expect(await server.closed).toBe('empty')
    expect(existsSync(socketPath)).toBe(false)
  })

  test('stop op closes the server and unlinks the socket', async () => {
    const { socketPath, server } = await setup()
    const client = await connect(socketPath)
    expect(await client.stop()).toEqual({ stopping: true })
    expect(await server.closed).toBe('stop')
    expect(existsSync(socketPath)).toBe(false)
  })

  test('socket removed → closes', async () => {
    const { socketPath, server } = await setup()
    unlinkSync(socketPath)
    expect(await server.closed).toBe('socket-removed')
  })

  test('socket replaced → closes without unlinking the successor', async () => {
    const { socketPath, dir, server } = await setup()
    writeFileSync(join(dir, 'successor'), '')
    renameSync(join(dir, 'successor'), socketPath)
    expect(await server.closed).toBe('socket-replaced')
    expect(existsSync(socketPath)).toBe(true)
  })

  test('XDG_RUNTIME_DIR removed → closes', async () => {
    const { runtime, server } = await setup()
    rmSync(runtime, { recursive: true })
    expect(['runtime-dir-removed', 'socket-removed']).toContain(await server.closed)
  })

  test('hard maximum lifetime → closes', async () => {
    const { server, clock } = await setup({ maxLifetimeMs: 60 * MIN, onEmpty: 'keep' })
    clock.advance(60 * MIN)
    expect(await server.closed).toBe('max-lifetime')
  })

  test('login session ended → closes', async () => {
    let alive = true
    const { server } = await setup({ session: { sessionId: 7, alive: () => alive }, sessionCheckMs: 20 })
    await Bun.sleep(50)
    alive = false
    expect(await server.closed).toBe('session-ended')
  })

  test('idle connections are closed', async () => {
    const { socketPath } = await setup({ connectionIdleMs: 300 })
    const started = Date.now()
    const { replies, closed } = await raw(socketPath, ['{"v":1,"id":1,"op":"ping"}\n'], 2)
    expect(replies).toHaveLength(1)
    expect(closed).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  })

  test('a second server on a live socket refuses to start', async () => {
    const { socketPath } = await setup()
    const second = startDaemonServer({ owner: 'human', socketPath, session: null })
    await expect(second).rejects.toBeInstanceOf(KeyrackError)
    await expect(second).rejects.toThrow('a keyrack daemon for owner human is already running')
  })
})

describe('stale sockets and absent daemons', () => {
  const staleSocket = (path: string): boolean =>
    spawnSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)}); s.close()`]).status === 0

  test('connectDaemon says not-running for a missing dir or socket, without throwing', async () => {
    const runtime = tempRuntimeDir()
    dirs.push(runtime)
    expect(await connectDaemon({ socketPath: join(runtime, 'keyrack', 'human.sock') })).toMatchObject({ ok: false, reason: 'not-running' })
    const dir = prepareSocketDir(join(runtime, 'keyrack'), uid)
    expect(await connectDaemon({ socketPath: join(dir, 'human.sock') })).toMatchObject({ ok: false, reason: 'not-running', removedStaleSocket: false })
  })

  test.skipIf(skipFor('tool', 'stale daemon socket test', missingTool('python3')))('a refused (stale) socket is removed by the client once it is not brand new, and replaced by a new server', async () => {
    const runtime = tempRuntimeDir()
    dirs.push(runtime)
    const dir = prepareSocketDir(join(runtime, 'keyrack'), uid)
    const socketPath = join(dir, 'human.sock')
    expect(staleSocket(socketPath)).toBe(true)
    expect(await connectDaemon({ socketPath })).toMatchObject({ ok: false, removedStaleSocket: false }) // too new
    utimesSync(socketPath, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000))
    expect(await connectDaemon({ socketPath })).toMatchObject({ ok: false, reason: 'not-running', removedStaleSocket: true })
    expect(existsSync(socketPath)).toBe(false)

    expect(staleSocket(socketPath)).toBe(true)
    const server = await startDaemonServer({ owner: 'human', socketPath, session: null })
    servers.push(server)
    const client = await connect(socketPath)
    expect((await client.ping()).pid).toBe(process.pid)
  })

  test('the client refuses an unsafe socket directory before connecting', async () => {
    const runtime = tempRuntimeDir()
    dirs.push(runtime)
    const dir = join(runtime, 'keyrack')
    mkdirSync(dir, { mode: 0o755 })
    const attempt = connectDaemon({ socketPath: join(dir, 'human.sock') })
    await expect(attempt).rejects.toBeInstanceOf(KeyrackError)
    await expect(attempt).rejects.toThrow('accessible to other users')
  })
})

describe('peer checks fail closed; the memory budget', () => {
  test('the peer-uid check fails closed: when the peer-credential lookup fails, the daemon drops the connection without a reply', async () => {
    const failing = (): never => {
      throw new Error('getsockopt(SO_PEERCRED) failed')
    }
    const { socketPath } = await setup({ peerCred: failing })
    const { replies, closed } = await raw(socketPath, ['{"v":1,"id":1,"op":"ping"}\n'], 1)
    expect({ replies, closed }).toEqual({ replies: [], closed: true })
  })

  test('a peer of another uid is dropped without a reply; the real lookup (our uid) is served', async () => {
    const other = await setup({ peerCred: () => ({ uid: uid + 1, gid: 0 }) })
    expect(await raw(other.socketPath, ['{"v":1,"id":1,"op":"ping"}\n'], 1)).toEqual({ replies: [], closed: true })
    const ours = await setup()
    const { replies } = await raw(ours.socketPath, ['{"v":1,"id":1,"op":"ping"}\n'], 1)
    expect(replies).toMatchObject([{ id: 1, ok: true, result: { uid } }])
  })

  test('the client fails closed too: it refuses to talk to a daemon whose uid it cannot look up, or that is another uid', async () => {
    const { socketPath } = await setup()
    const failing = connectDaemon({ socketPath, peerCred: () => { throw new Error('getsockopt(SO_PEERCRED) failed') } })
    await expect(failing).rejects.toThrow(`cannot verify who serves ${socketPath}, refusing to talk to it`)
    const foreign = connectDaemon({ socketPath, peerCred: () => ({ uid: uid + 1, gid: 0 }) })
    await expect(foreign).rejects.toThrow(`is served by uid ${uid + 1}, not by you (uid ${uid})`)
  })

  test('more connections than the budget: the extra ones are dropped on accept; a frame past the total budget gets busy', async () => {
    const { socketPath } = await setup({ budget: { connections: 2, bufferedBytes: 64 * 1024 } })
    const holders = await Promise.all([0, 1].map(() => Bun.connect({ unix: socketPath, socket: { data() {} } })))
    try {
      await Bun.sleep(50)
      expect(await raw(socketPath, ['{"v":1,"id":1,"op":"ping"}\n'], 1)).toEqual({ replies: [], closed: true })
    } finally {
      for (const h of holders) h.end()
    }
    await Bun.sleep(50)
    // 100 KiB of a frame that never ends: over the 64 KiB total, so it is cut off with `busy`
    const { replies, closed } = await raw(socketPath, ['x'.repeat(100 * 1024)], 1)
    expect(replies).toMatchObject([{ ok: false, error: { code: 'busy' } }])
    expect(closed).toBe(false)
    // and the daemon still serves the next client
    expect((await raw(socketPath, ['{"v":1,"id":2,"op":"ping"}\n'], 1)).replies).toMatchObject([{ id: 2, ok: true }])
  })
})
