/**
 * `keyrack/testing`, used the way a user's test suite would: a throwaway keyrack, keys in os.direct
 * and in a daemon's memory, and the assertion that a command got exactly the allowlisted keys —
 * which must fail when it did not.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { KeyrackKeysUnavailableError, KeyrackKeyBlockedError } from 'keyrack'
import { assertExactKeys, createTestKeyrack, diffKeys, type TestKeyrack } from 'keyrack/testing'

describe('a throwaway keyrack with os.direct keys', () => {
  let rack: TestKeyrack
  beforeAll(async () => {
    rack = await createTestKeyrack({
      allowlist: { all: ['SHARED'], test: ['XAI_API_KEY'], prod: ['PROD_DB_PASSWORD'] },
      keys: { 'all.SHARED': 'shared-secret', 'test.XAI_API_KEY': 'xai-test-secret', 'prod.PROD_DB_PASSWORD': 'prod-secret' },
    })
  })
  afterAll(() => rack.cleanup())

  test('lives in its own temp dir, with a repo manifest and an owner', () => {
    expect(existsSync(`${rack.repo}/.agent/keyrack.yml`)).toBe(true)
    expect(existsSync(`${rack.keyrackHome}/owner.human.json`)).toBe(true)
    expect(rack.allowlisted('test').sort()).toEqual(['SHARED', 'XAI_API_KEY'])
  })

  test('a command run through exec gets exactly the allowlisted keys', async () => {
    const seen = await rack.envSeenBy({ env: 'test' })
    assertExactKeys(seen, rack, 'test', { XAI_API_KEY: 'xai-test-secret', SHARED: 'shared-secret' })
    expect(seen.PROD_DB_PASSWORD).toBeUndefined()
  })

  test('the assertion fails when a key is missing, extra or wrong (names only in the message)', () => {
    const base = { SHARED: 'shared-secret', XAI_API_KEY: 'xai-test-secret' }
    expect(() => assertExactKeys({ SHARED: 'shared-secret' }, rack, 'test')).toThrow('missing allowlisted keys: XAI_API_KEY')
    expect(() => assertExactKeys({ ...base, PROD_DB_PASSWORD: 'prod-secret' }, rack, 'test')).toThrow('keys not allowlisted for env test: PROD_DB_PASSWORD')
    let message = ''
    try {
      assertExactKeys({ ...base, XAI_API_KEY: 'another' }, rack, 'test', { XAI_API_KEY: 'xai-test-secret' })
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toContain('keys with another secret than expected: XAI_API_KEY')
    expect(message).not.toContain('xai-test-secret')
    expect(diffKeys(base, rack, 'test')).toEqual({ missing: [], extra: [], wrong: [] })
  })

  test('get is the real one: all or nothing, typed errors', async () => {
    const { grants } = await rack.get({ for: 'repo', env: 'prod' })
    expect(grants.map((g) => g.slug).sort()).toEqual(['acme.all.SHARED', 'acme.prod.PROD_DB_PASSWORD'])
    await rack.set('test', 'XAI_API_KEY', 'xai-rotated')
    expect((await rack.get({ key: 'XAI_API_KEY', env: 'test' })).grants[0]!.key.secret).toBe('xai-rotated')
  })

  test('the firewall applies to keys set through the kit', async () => {
    await expect(rack.set('test', 'XAI_API_KEY', 'AKIAIOSFODNN7EXAMPLE')).rejects.toBeInstanceOf(KeyrackKeyBlockedError)
  })
})

describe('a daemon started and stopped for a test', () => {
  let rack: TestKeyrack
  beforeAll(async () => {
    rack = await createTestKeyrack({ allowlist: { test: ['ALPHA', 'BETA'] }, keys: { 'test.ALPHA': 'alpha-secret', 'test.BETA': 'beta-secret' }, vault: 'os.secure' })
  })
  afterAll(() => rack.cleanup())

  test('startDaemon unlocks the env into memory; get answers from it; stopDaemon forgets', async () => {
    const unlocked = await rack.startDaemon({ env: 'test', duration: '5m' })
    expect(unlocked.unlocked.map((k) => k.key).sort()).toEqual(['ALPHA', 'BETA'])
    const { keyrack } = await import('keyrack')
    const up = await keyrack.status(rack.options)
    expect(up.running).toBe(true)
    expect(up.grants.map((g) => g.slug).sort()).toEqual(['acme.test.ALPHA', 'acme.test.BETA'])
    const { grants } = await rack.get({ for: 'repo', env: 'test' })
    expect(grants.map((g) => g.key.secret)).toEqual(['alpha-secret', 'beta-secret'])
    assertExactKeys(await rack.envSeenBy({ env: 'test' }), rack, 'test', { ALPHA: 'alpha-secret', BETA: 'beta-secret' })
    await rack.stopDaemon()
    expect((await keyrack.status(rack.options)).running).toBe(false)
  }, 30_000)

  test('cleanup removes everything', async () => {
    const other = await createTestKeyrack({ allowlist: { test: ['K'] } })
    await other.cleanup()
    expect(existsSync(other.dir)).toBe(false)
    await expect(other.get({ for: 'repo', env: 'test' })).rejects.toBeDefined()
    void KeyrackKeysUnavailableError
  })
})
