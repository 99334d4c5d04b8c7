import { describe, expect, test } from 'bun:test'
import { GrantStore } from '../../../src/daemon/grant-store.ts'
import type { GrantInput } from '../../../src/daemon/protocol.ts'

const MIN = 60_000
const clock = (start = 1_000_000) => {
  let t = start
  return { now: () => t, advance: (ms: number) => void (t += ms) }
}
const input = (slug: string, expiresAt: number, extra: Partial<GrantInput> = {}): GrantInput => ({
  slug,
  key: { secret: `secret-of-${slug}`, grade: { protection: 'encrypted', duration: 'ephemeral' } },
  mech: 'EPHEMERAL_VIA_AWS_SSO',
  vault: 'aws.iam.sso',
  expiresAt,
  ...extra,
})

describe('GrantStore', () => {
  test('put/get/list round trip; list never carries a secret', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    expect(store.put([input('o.test.A', c.now() + 60 * MIN), input('o.test.B', c.now() + 30 * MIN)])).toBe(2)
    const [a, missing] = store.get(['o.test.A', 'o.test.Z'])
    expect(a).toMatchObject({ slug: 'o.test.A', state: 'granted', grant: { key: { secret: 'secret-of-o.test.A' } } })
    expect(missing).toEqual({ slug: 'o.test.Z', state: 'missing' })
    const listed = store.list()
    expect(listed.map((g) => g.slug)).toEqual(['o.test.A', 'o.test.B'])
    expect(JSON.stringify(listed)).not.toContain('secret-of')
    expect(store.nextDeadline()).toBe(c.now() + 30 * MIN)
  })

  test('absolute expiry: granted until expiresAt, then expired (not missing), then forgotten', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now, expiredMemoryMs: 10 * MIN })
    const expiresAt = c.now() + 9 * 60 * MIN
    store.put([input('o.test.A', expiresAt)])
    c.advance(9 * 60 * MIN - 1)
    expect(store.get(['o.test.A'])[0]!.state).toBe('granted')
    c.advance(1)
    expect(store.get(['o.test.A'])[0]).toEqual({ slug: 'o.test.A', state: 'expired', expiredAt: expiresAt })
    expect(store.size).toBe(0)
    c.advance(10 * MIN)
    expect(store.get(['o.test.A'])[0]!.state).toBe('missing')
  })

  test('idle timeout slides with each get and is capped by the absolute expiry', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    const expiresAt = c.now() + 25 * MIN
    store.put([input('o.test.A', expiresAt, { idleTimeoutMs: 10 * MIN })])
    expect(store.list()[0]!.idleExpiresAt).toBe(c.now() + 10 * MIN)
    c.advance(9 * MIN)
    expect(store.get(['o.test.A'])[0]).toMatchObject({ state: 'granted', idleExpiresAt: c.now() + 10 * MIN })
    c.advance(9 * MIN) // 18 min in, 9 since last use
    const state = store.get(['o.test.A'])[0]
    expect(state).toMatchObject({ state: 'granted', idleExpiresAt: expiresAt }) // 18 + 10 > 25: capped
    c.advance(7 * MIN) // 25: absolute expiry, though used 7 min ago
    expect(store.get(['o.test.A'])[0]).toMatchObject({ state: 'expired', expiredAt: expiresAt })
  })

  test('an unused grant expires at its idle deadline', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    store.put([input('o.test.A', c.now() + 60 * MIN, { idleTimeoutMs: 5 * MIN })])
    const idleDeadline = c.now() + 5 * MIN
    c.advance(5 * MIN)
    expect(store.sweep()).toBe(1)
    expect(store.get(['o.test.A'])[0]).toEqual({ slug: 'o.test.A', state: 'expired', expiredAt: idleDeadline })
  })

  test('relock drops selected or all grants, and relocked slugs read as missing, not expired', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    store.put([input('o.test.A', c.now() + MIN), input('o.test.B', c.now() + MIN), input('o.prod.C', c.now() + MIN)])
    expect(store.relock(['o.test.A', 'o.test.nope'])).toBe(1)
    expect(store.get(['o.test.A'])[0]!.state).toBe('missing')
    expect(store.relock()).toBe(2)
    expect(store.size).toBe(0)
  })

  test('a put with a past expiry is not stored and reads as expired; a re-put replaces', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    expect(store.put([input('o.test.A', c.now() - 1)])).toBe(0)
    expect(store.get(['o.test.A'])[0]!.state).toBe('expired')
    store.put([input('o.test.A', c.now() + MIN, { key: { secret: 'new', grade: { protection: 'encrypted', duration: 'ephemeral' } } })])
    expect(store.get(['o.test.A'])[0]).toMatchObject({ state: 'granted', grant: { key: { secret: 'new' } } })
  })

  test('dropped secrets are overwritten in the held buffer', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    store.put([input('o.test.A', c.now() + MIN)])
    // reach the private buffer the way a heap inspector would, to prove it is zeroed
    const entries = (store as unknown as { entries: Map<string, { secret: Uint8Array }> }).entries
    const held = entries.get('o.test.A')!.secret
    expect(new TextDecoder().decode(held)).toBe('secret-of-o.test.A')
    c.advance(MIN)
    store.sweep()
    expect(held.every((byte) => byte === 0)).toBe(true)
  })
})
