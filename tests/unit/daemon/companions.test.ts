/**
 * Companions in the daemon: the role credentials behind an AWS SSO grant travel with it, end no
 * later than it, and when they end first the key is still served alone (with the moment they
 * ended) while their bytes are wiped — no sleeping: the store's clock is moved.
 */
import { describe, expect, test } from 'bun:test'
import { GrantStore } from '../../../src/daemon/grant-store.ts'
import { parseRequest, type GrantInput } from '../../../src/daemon/protocol.ts'

const MIN = 60_000
const clock = (start = 1_000_000) => {
  let t = start
  return { now: () => t, advance: (ms: number) => void (t += ms) }
}
const CREDS = { AWS_ACCESS_KEY_ID: 'ASIAEXAMPLEEXAMPLE12', AWS_SECRET_ACCESS_KEY: 'companion-secret-1', AWS_SESSION_TOKEN: 'companion-token-1' }
const input = (now: number, companionsEnd: number, keyEnd: number): GrantInput => ({
  slug: 'acme.test.AWS_PROFILE',
  key: { secret: 'acme.test.admin', grade: { protection: 'reference', duration: 'ephemeral' } },
  mech: 'EPHEMERAL_VIA_AWS_SSO',
  vault: 'aws.config',
  expiresAt: now + keyEnd,
  companions: { secrets: CREDS, expiresAt: now + companionsEnd },
})

describe('companions', () => {
  test('served with the key while they last; then the key alone, their end said, their bytes gone from list', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    store.put([input(c.now(), 60 * MIN, 8 * 60 * MIN)])
    const first = store.get(['acme.test.AWS_PROFILE'])[0]!
    expect(first).toMatchObject({ state: 'granted', grant: { key: { secret: 'acme.test.admin' }, companions: { secrets: CREDS } } })
    expect(JSON.stringify(store.list())).not.toContain('companion-secret-1')
    expect(store.list()[0]!.companions).toEqual({ keys: Object.keys(CREDS), expiresAt: c.now() + 60 * MIN })
    expect(store.nextDeadline()).toBe(c.now() + 60 * MIN)
    c.advance(60 * MIN)
    store.sweep()
    const later = store.get(['acme.test.AWS_PROFILE'])[0]!
    expect(later.state).toBe('granted')
    if (later.state !== 'granted') return
    expect(later.grant.companions).toBeUndefined()
    expect(later.companionsExpiredAt).toBe(c.now())
    expect(store.list()[0]!.companions?.keys).toEqual([])
  })

  test('never outlive the key they travel with', () => {
    const c = clock()
    const store = new GrantStore({ now: c.now })
    store.put([input(c.now(), 12 * 60 * MIN, 60 * MIN)])
    expect(store.list()[0]!.companions!.expiresAt).toBe(c.now() + 60 * MIN)
  })

  test('the protocol takes env-var names only, at most 16, and never echoes a value in an error', () => {
    const frame = (companions: unknown) => JSON.stringify({ v: 1, id: 1, op: 'put', grants: [{ ...input(0, 1, 2), companions }] })
    expect(parseRequest(frame({ secrets: CREDS, expiresAt: 5 })).ok).toBe(true)
    const bad = parseRequest(frame({ secrets: { 'NOT A NAME': 'planted-value-x' } }))
    expect(bad.ok).toBe(false)
    expect(JSON.stringify(bad)).not.toContain('planted-value-x')
    expect(parseRequest(frame({ secrets: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`K${i}`, 'v'])) })).ok).toBe(false)
  })
})
