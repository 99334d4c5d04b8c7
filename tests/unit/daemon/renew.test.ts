/**
 * The daemon renews keys that expire long before the unlock ends (GitHub App tokens: an hour,
 * inside nine): the grant store says what is due, the renewer mints through the mech, and `get`
 * never serves a key past its own expiry. Time is a clock the test moves (no sleeping through
 * hours); the server tests run a real daemon server on a real socket with that clock.
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { connectDaemon, type DaemonClient } from '../../../src/daemon/client.ts'
import { GrantStore } from '../../../src/daemon/grant-store.ts'
import { prepareSocketDir } from '../../../src/daemon/paths.ts'
import type { GrantInput } from '../../../src/daemon/protocol.ts'
import { Renewer, type Remint } from '../../../src/daemon/renew.ts'
import { startDaemonServer, type DaemonServer } from '../../../src/daemon/server.ts'
import { renewAt } from '../../../src/domain/grant.ts'
import { manualClock } from '../../fakes/ports.ts'
import { removeDir, tempRuntimeDir, waitFor } from './helpers.ts'

const SEC = 1000
const MIN = 60 * SEC
const HOUR = 60 * MIN
const SLUG = 'acme.test.GITHUB_TOKEN'

/** a GitHub App grant as unlock hands it over: an hour-long token inside a nine-hour unlock */
const appGrant = (now: number, extra: Partial<GrantInput> = {}): GrantInput => ({
  slug: SLUG,
  key: { secret: 'ghs_token-0', grade: { protection: 'encrypted', duration: 'ephemeral' } },
  mech: 'EPHEMERAL_VIA_GITHUB_APP',
  vault: 'os.secure',
  expiresAt: now + HOUR,
  renewal: { secret: '{"planted":"renewal-secret"}', until: now + 9 * HOUR, beforeMs: 5 * MIN },
  ...extra,
})

describe('renewAt', () => {
  test('five minutes before an hour-long key expires; halfway through a key that lives less than ten minutes', () => {
    expect(renewAt(0, HOUR, 5 * MIN)).toBe(55 * MIN)
    expect(renewAt(0, 4 * SEC, 5 * MIN)).toBe(2 * SEC)
    expect(renewAt(10, 10, 5 * MIN)).toBe(10)
  })
})

describe('GrantStore with a renewable key', () => {
  test('a whole 9-hour unlock: every get in it is a live key, renewed nine times, and nothing after it', () => {
    const clock = manualClock()
    const store = new GrantStore({ now: clock })
    const start = clock()
    store.put([appGrant(start)])
    let minted = 0
    const seen = new Set<string>()
    for (let t = 0; t < 9 * HOUR; t += MIN) {
      for (const due of store.due(new Set())) {
        expect(due.renewal).toBe('{"planted":"renewal-secret"}')
        store.renewed(due, { secret: `ghs_token-${++minted}`, expiresAt: clock() + HOUR })
      }
      const [state] = store.get([SLUG])
      expect(state!.state, `at ${t / MIN} min`).toBe('granted')
      if (state!.state !== 'granted') break
      // never a key past its own expiry
      expect(state!.expiresAt).toBeGreaterThan(clock())
      expect(state!.renewsUntil).toBe(start + 9 * HOUR)
      seen.add(state!.grant.key.secret)
      if (t === 9 * HOUR - MIN) {
        // the last minute: renewed at 55 min, 1 h 50, … 8 h 15 (9 renewals); the last key is cut at the unlock's end
        expect(store.list()[0]).toMatchObject({ slug: SLUG, renewals: 9, renewsUntil: start + 9 * HOUR, expiresAt: start + 9 * HOUR })
        expect(JSON.stringify(store.list())).not.toContain('renewal-secret')
      }
      clock.advance(MIN)
    }
    expect(minted).toBe(9)
    expect(seen.size).toBe(10)
    expect(store.get([SLUG])[0]!.state).toBe('expired')
    expect(store.size).toBe(0)
    expect(store.due(new Set())).toEqual([])
  })

  test('not due before its time, nor while a renewal runs; a key that lives seconds is due halfway', () => {
    const clock = manualClock()
    const store = new GrantStore({ now: clock })
    store.put([appGrant(clock())])
    clock.advance(55 * MIN - 1)
    expect(store.due(new Set())).toEqual([])
    clock.advance(1)
    expect(store.due(new Set()).map((d) => d.slug)).toEqual([SLUG])
    expect(store.due(new Set([SLUG]))).toEqual([])

    const short = new GrantStore({ now: clock })
    short.put([appGrant(clock(), { expiresAt: clock() + 4 * SEC })])
    clock.advance(2 * SEC - 1)
    expect(short.due(new Set())).toEqual([])
    clock.advance(1)
    expect(short.due(new Set())).toHaveLength(1)
  })

  test('a key that runs out before a renewal succeeds is expired — never served — and comes back once renewed', () => {
    const clock = manualClock()
    const store = new GrantStore({ now: clock })
    store.put([appGrant(clock())])
    clock.advance(55 * MIN)
    const [due] = store.due(new Set())
    store.renewFailed(due!)
    // backed off: not due again at once
    expect(store.due(new Set())).toEqual([])
    clock.advance(5 * MIN)
    expect(store.get([SLUG])[0]).toMatchObject({ state: 'expired' })
    expect(store.ranOut(SLUG)).toBe(true)
    // the grant itself lives on (the unlock has 8 hours left) and is due again
    const [again] = store.due(new Set())
    expect(again).toBeDefined()
    expect(store.renewed(again!, { secret: 'ghs_back', expiresAt: clock() + HOUR })).toBe(true)
    expect(store.get([SLUG])[0]).toMatchObject({ state: 'granted', grant: { key: { secret: 'ghs_back' } } })
  })

  test('a renewal for a grant relocked or replaced meanwhile is thrown away', () => {
    const clock = manualClock()
    const store = new GrantStore({ now: clock })
    store.put([appGrant(clock())])
    clock.advance(56 * MIN)
    const [due] = store.due(new Set())
    store.relock([SLUG])
    expect(store.renewed(due!, { secret: 'ghs_late', expiresAt: clock() + HOUR })).toBe(false)
    expect(store.get([SLUG])[0]!.state).toBe('missing')
    store.put([appGrant(clock())])
    clock.advance(56 * MIN)
    const [first] = store.due(new Set())
    store.put([appGrant(clock(), { key: { secret: 'ghs_fresh-unlock', grade: { protection: 'encrypted', duration: 'ephemeral' } } })])
    expect(store.renewed(first!, { secret: 'ghs_late', expiresAt: clock() + HOUR })).toBe(false)
    expect(store.get([SLUG])[0]).toMatchObject({ grant: { key: { secret: 'ghs_fresh-unlock' } } })
  })

  test('the renewal never extends the grant past the unlock; the idle timeout still ends it', () => {
    const clock = manualClock()
    const store = new GrantStore({ now: clock })
    const start = clock()
    store.put([appGrant(start, { renewal: { secret: 'r', until: start + 90 * MIN, beforeMs: 5 * MIN } })])
    clock.advance(55 * MIN)
    store.renewed(store.due(new Set())[0]!, { secret: 'ghs_2', expiresAt: clock() + HOUR })
    expect(store.get([SLUG])[0]).toMatchObject({ expiresAt: start + 90 * MIN })
    // its key now lasts to the unlock's end: nothing more to renew
    clock.advance(30 * MIN)
    expect(store.due(new Set())).toEqual([])

    const idle = new GrantStore({ now: clock })
    idle.put([appGrant(clock(), { idleTimeoutMs: 30 * MIN })])
    clock.advance(30 * MIN)
    expect(idle.get([SLUG])[0]!.state).toBe('expired')
  })
})

describe('Renewer', () => {
  test('mints what is due through the mech, once at a time; a failure backs off', async () => {
    const clock = manualClock()
    const store = new GrantStore({ now: clock })
    const calls: string[] = []
    let fail = true
    const remint: Remint = async ({ slug, mech, renewal }) => {
      calls.push(`${slug} ${mech} ${renewal}`)
      if (fail) throw new Error('offline')
      return { secret: `ghs_${calls.length}`, expiresAt: clock() + HOUR }
    }
    const renewer = new Renewer(store, remint)
    store.put([appGrant(clock())])
    renewer.tick()
    expect(calls).toEqual([])
    clock.advance(55 * MIN)
    renewer.tick()
    renewer.tick()
    expect(calls).toHaveLength(1)
    expect(calls[0]).toBe(`${SLUG} EPHEMERAL_VIA_GITHUB_APP {"planted":"renewal-secret"}`)
    await waitFor(() => renewer.inFlight === 0, 1000)
    renewer.tick()
    expect(calls).toHaveLength(1)
    fail = false
    clock.advance(2 * MIN)
    renewer.tick()
    await waitFor(() => renewer.inFlight === 0, 1000)
    expect(store.get([SLUG])[0]).toMatchObject({ state: 'granted', grant: { key: { secret: 'ghs_2' } } })
  })
})

describe('the daemon server', () => {
  const dirs: string[] = []
  const servers: DaemonServer[] = []
  const clients: DaemonClient[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close()
    for (const server of servers.splice(0)) await server.close('stop')
  })
  afterAll(() => dirs.forEach(removeDir))

  async function setup(remint: Remint) {
    const runtime = tempRuntimeDir()
    dirs.push(runtime)
    const dir = prepareSocketDir(join(runtime, 'keyrack'), process.getuid!())
    const clock = manualClock(Date.now())
    const server = await startDaemonServer({ owner: 'human', socketPath: join(dir, 'human.sock'), now: clock, session: null, env: { XDG_RUNTIME_DIR: runtime }, watchIntervalMs: 20, remint })
    servers.push(server)
    const connected = await connectDaemon({ socketPath: server.socketPath })
    if (!connected.ok) throw new Error(connected.message)
    clients.push(connected.client)
    return { clock, client: connected.client }
  }

  test('renews on its watch tick, and serves gets from memory without re-minting', async () => {
    let minted = 0
    const { clock, client } = await setup(async () => ({ secret: `ghs_renewed-${++minted}`, expiresAt: clock() + HOUR }))
    await client.put([appGrant(clock())])
    for (let i = 0; i < 200; i++) await client.get([SLUG])
    expect(minted).toBe(0)
    clock.advance(55 * MIN)
    expect(await waitFor(() => minted === 1, 2000)).toBe(true)
    await waitFor(() => false, 60)
    const { results } = await client.get([SLUG])
    expect(results[0]).toMatchObject({ state: 'granted', grant: { key: { secret: 'ghs_renewed-1' } }, renewsUntil: expect.any(Number) })
    const { grants } = await client.list()
    expect(grants[0]).toMatchObject({ renewals: 1 })
  })

  test('a get of a key that ran out (the machine slept past it) waits for its renewal; replies keep their order', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let minted = 0
    const { clock, client } = await setup(async () => {
      await gate
      return { secret: `ghs_after-sleep-${++minted}`, expiresAt: clock() + HOUR }
    })
    await client.put([appGrant(clock())])
    // asleep for two hours: the watch tick has not run yet when the get arrives
    clock.advance(2 * HOUR)
    const get = client.get([SLUG])
    const ping = client.ping()
    let pinged = false
    void ping.then(() => (pinged = true))
    await waitFor(() => false, 50)
    // the ping sent after the get waits behind it
    expect(pinged).toBe(false)
    release()
    const { results } = await get
    expect(results[0]).toMatchObject({ state: 'granted', grant: { key: { secret: 'ghs_after-sleep-1' } } })
    expect(results[0]!.state === 'granted' && results[0]!.expiresAt).toBeGreaterThan(clock())
    await ping
    expect(minted).toBe(1)
  })

  test('when the renewal fails the get answers expired, never the dead key', async () => {
    const { clock, client } = await setup(async () => {
      throw new Error('github is down')
    })
    await client.put([appGrant(clock())])
    clock.advance(2 * HOUR)
    const { results } = await client.get([SLUG])
    expect(results[0]!.state).toBe('expired')
    expect(JSON.stringify(results)).not.toContain('ghs_token-0')
  })
})

test('the daemon loads no mech and no octokit until a renewal is due: its static imports reach neither', () => {
  const SRC = resolve(import.meta.dir, '..', '..', '..', 'src')
  const seen = new Set<string>()
  const bare = new Set<string>()
  const walk = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'"]*?\sfrom\s+'([^']+)'/gm)) {
      if (m[1]) continue
      if (m[2]!.startsWith('.')) walk(resolve(dirname(file), m[2]!))
      else bare.add(m[2]!)
    }
  }
  walk(join(SRC, 'cli', 'daemon-entry.ts'))
  walk(join(SRC, 'daemon', 'launch.ts'))
  walk(join(SRC, 'daemon', 'server.ts'))
  const reached = [...seen].map((f) => f.slice(SRC.length + 1))
  expect(reached).toContain('daemon/renew.ts')
  expect(reached.filter((f) => f.startsWith('mechs/') || f === 'context.ts')).toEqual([])
  expect([...bare].filter((b) => b.startsWith('@octokit'))).toEqual([])
})
