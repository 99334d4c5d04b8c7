/**
 * What a secret must be to be stored and served (src/domain/secret.ts), the limits in one place
 * (src/domain/limits.ts), and the top-level error handler that never prints a foreign error's
 * message (src/cli/report.ts).
 */
import { afterAll, describe, expect, spyOn, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reportError } from '../../src/cli/report.ts'
import { putBatches } from '../../src/daemon/client.ts'
import { parseRequest, type GrantInput } from '../../src/daemon/protocol.ts'
import { describeForeignError, EXIT_CODES, KeyrackSecretInvalidError, KeyrackUsageError } from '../../src/domain/errors.ts'
import { assertSlugFits, assertUnlockSize, LIMITS, slugProblem } from '../../src/domain/limits.ts'
import { assertSecretStorable, decodeSecret, secretProblem } from '../../src/domain/secret.ts'
import { enforce } from '../../src/domain/enforce.ts'
import { keyrack } from '../../src/index.ts'

const SECRET = 'kr-unit-secret-7f3a9c'

describe('secretProblem: one rule for set, unlock, get and the daemon', () => {
  test('ordinary and multi-line secrets (PEM keys) are fine', () => {
    for (const s of ['sk-abc', 'line one\nline two\r\n', '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n', '\uFEFFbom kept', 'émoji 🔑', 'x'.repeat(LIMITS.secretBytes)])
      expect(secretProblem(s)).toBeNull()
  })

  test('a NUL byte, a lone surrogate, or more than the limit in UTF-8 bytes is refused, in words without the secret', () => {
    const cases = [`${SECRET}\u0000tail`, `${SECRET}\uD800`, `${SECRET}\uDC00x`, SECRET + 'x'.repeat(LIMITS.secretBytes), 'é'.repeat(LIMITS.secretBytes / 2 + 1)]
    const problems = cases.map(secretProblem)
    expect(problems[0]).toBe('contains a NUL byte, which no environment variable can carry')
    expect(problems[1]).toBe('is not valid unicode text (it holds a lone surrogate)')
    expect(problems[2]).toBe('is not valid unicode text (it holds a lone surrogate)')
    expect(problems[3]).toMatch(/^is \d+ bytes, larger than the 64 KiB keyrack takes for one key$/)
    // the limit counts UTF-8 bytes, not characters: 32,769 × é is 65,538 bytes
    expect(problems[4]).toBe('is 65538 bytes, larger than the 64 KiB keyrack takes for one key')
    for (const p of problems) expect(p).not.toContain(SECRET)
  })

  test('assertSecretStorable names the key and the reason, never the secret', () => {
    expect(() => assertSecretStorable('fine', 'K')).not.toThrow()
    try {
      assertSecretStorable(`${SECRET}\u0000`, 'XAI_API_KEY')
      throw new Error('not refused')
    } catch (error) {
      expect(error).toBeInstanceOf(KeyrackSecretInvalidError)
      const e = error as KeyrackSecretInvalidError
      expect(e.exitCode).toBe(EXIT_CODES.usage)
      expect(e.message).toBe('refusing to store the secret for XAI_API_KEY: it contains a NUL byte, which no environment variable can carry; nothing was stored')
      expect(e.hint.length).toBeGreaterThan(0)
      expect(JSON.stringify({ m: e.message, h: e.hint, s: e.stack })).not.toContain(SECRET)
    }
  })

  test('enforce blocks a stored secret (or an environment value) that breaks the rule, by name; an overlong slug is said', () => {
    const target = { env: 'test', owner: 'human' }
    const grade = { protection: 'encrypted', duration: 'permanent' } as const
    expect(enforce({ key: 'K' }, { mech: 'PERMANENT_VIA_REPLICA', grade, secret: 'ok' }, target)).toEqual({ ok: true })
    const stored = enforce({ key: 'K' }, { mech: 'PERMANENT_VIA_REPLICA', grade, secret: `${SECRET}\u0000` }, target)
    expect(stored).toMatchObject({ ok: false, reason: 'its stored secret contains a NUL byte, which no environment variable can carry' })
    expect(JSON.stringify(stored)).not.toContain(SECRET)
    const env = enforce({ key: 'K' }, { mech: 'PERMANENT_VIA_REPLICA', grade, secret: 'x'.repeat(LIMITS.secretBytes + 1), implicit: true }, target)
    expect(env).toMatchObject({ ok: false, reason: expect.stringMatching(/^its value in the environment is \d+ bytes, larger than the 64 KiB/) })
    expect(slugProblem('acme.test.K')).toBeNull()
    expect(slugProblem(`acme.test.${'K'.repeat(LIMITS.slugLength)}`)).toMatch(/^its slug is \d+ characters, longer than the 256 the daemon takes$/)
  })

  test('slug length and keys per unlock are usage errors with the fix', () => {
    expect(assertSlugFits('acme.test.K')).toBe('acme.test.K')
    expect(() => assertSlugFits(`acme.test.${'K'.repeat(300)}`)).toThrow(KeyrackUsageError)
    expect(() => assertUnlockSize('test', LIMITS.keysPerUnlock)).not.toThrow()
    expect(() => assertUnlockSize('test', LIMITS.keysPerUnlock + 1)).toThrow(/env test allowlists 1001 keys, more than the 1000 one unlock takes/)
  })
})

describe('decodeSecret: the bytes given, exactly, or a refusal', () => {
  test('valid UTF-8 comes back byte-exact, a leading byte-order mark included', () => {
    for (const text of ['plain', 'multi\nline\r\n', '\uFEFFstarts with a BOM', 'ünïcödé 🔑']) {
      const bytes = Buffer.from(text, 'utf8')
      expect(Buffer.from(decodeSecret(bytes, 'K'), 'utf8').equals(bytes)).toBe(true)
    }
  })

  test('invalid UTF-8 is refused by key name, never replaced with U+FFFD', () => {
    for (const bad of [[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80] /* an encoded surrogate */]) {
      const bytes = Buffer.concat([Buffer.from(SECRET), Buffer.from(bad)])
      expect(() => decodeSecret(bytes, 'XAI_API_KEY')).toThrow(KeyrackSecretInvalidError)
      expect(() => decodeSecret(bytes, 'XAI_API_KEY')).toThrow('refusing to store the secret for XAI_API_KEY: it is not valid UTF-8 text; nothing was stored')
    }
  })
})

describe('the daemon protocol takes exactly what set and unlock let through', () => {
  const grant = (slug: string, secret: string): GrantInput => ({ slug, key: { secret, grade: { protection: 'encrypted', duration: 'ephemeral' } }, mech: 'PERMANENT_VIA_REPLICA', vault: 'os.secure', expiresAt: 1 })
  const put = (grants: GrantInput[]) => parseRequest(JSON.stringify({ v: 1, id: 1, op: 'put', grants }))

  test('a secret at the limit is taken; one byte more, or a NUL, is refused', () => {
    expect(put([grant('a.test.K', 'x'.repeat(LIMITS.secretBytes))]).ok).toBe(true)
    expect(put([grant('a.test.K', 'é'.repeat(LIMITS.secretBytes / 2))]).ok).toBe(true)
    expect(put([grant('a.test.K', 'x'.repeat(LIMITS.secretBytes + 1))]).ok).toBe(false)
    expect(put([grant('a.test.K', 'a\u0000b')]).ok).toBe(false)
  })

  test('the client splits a large unlock into frames the daemon takes', () => {
    const big = Array.from({ length: 40 }, (_, i) => grant(`a.test.K${i}`, 'x'.repeat(LIMITS.secretBytes)))
    const batches = putBatches(big)
    expect(batches.length).toBeGreaterThan(1)
    expect(batches.flat()).toEqual(big)
    for (const batch of batches) {
      const frame = JSON.stringify({ v: 1, id: 1, op: 'put', grants: batch })
      expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(LIMITS.frameBytes)
      expect(parseRequest(frame).ok).toBe(true)
    }
    const many = Array.from({ length: LIMITS.keysPerUnlock + 5 }, (_, i) => grant(`a.test.K${i}`, 's'))
    expect(putBatches(many).map((b) => b.length)).toEqual([LIMITS.keysPerUnlock, 5])
  })
})

describe('set (SDK) refuses what it cannot store, and stores nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyrack-secret-'))
  const repo = join(dir, 'repo')
  mkdirSync(join(repo, '.git'), { recursive: true })
  const options = { home: join(dir, 'home'), cwd: repo, environment: { HOME: join(dir, 'h') } }
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('NUL, a lone surrogate, and more than the limit: KeyrackSecretInvalidError, host manifest unchanged', async () => {
    await keyrack.init({ ...options, passphrase: false })
    for (const secret of [`${SECRET}\u0000`, `${SECRET}\uD800`, SECRET.repeat(LIMITS.secretBytes / SECRET.length + 1)]) {
      const attempt = keyrack.set({ ...options, key: 'K', env: 'test', org: 'acme', vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', secret })
      await expect(attempt).rejects.toBeInstanceOf(KeyrackSecretInvalidError)
    }
    expect(await keyrack.list(options)).toMatchObject({ keys: [] })
  })
})

describe('the top-level handler', () => {
  const capture = (error: unknown): { code: number; out: string } => {
    const writes: string[] = []
    const spy = spyOn(process.stderr, 'write').mockImplementation(((chunk: string) => (writes.push(String(chunk)), true)) as never)
    try {
      return { code: reportError(error), out: writes.join('') }
    } finally {
      spy.mockRestore()
    }
  }

  test('never prints the message of an error that is not keyrack\'s own: only its class and errno code', () => {
    const typeError = new TypeError(`The argument 'options.env['K']' must be a string without null bytes. Received '${SECRET}\\x00'`)
    const spawnError = Object.assign(new Error(`spawn ${SECRET} EACCES`), { code: 'EACCES' })
    for (const [error, shown] of [[typeError, 'TypeError'], [spawnError, 'Error EACCES'], [SECRET, 'Error'], [{ message: SECRET, code: SECRET }, 'Error']] as const) {
      const { code, out } = capture(error)
      expect(code).toBe(EXIT_CODES.internal)
      expect(out).not.toContain(SECRET)
      expect(out).toContain(`keyrack: error: unexpected internal error (${shown}); its message is not shown, as it may hold a secret\n`)
      expect(out).toContain('keyrack: hint: this is a bug in keyrack: report it at https://github.com/ehmpathy/keyrack/issues')
    }
  })

  test('describeForeignError keeps only words that cannot carry a secret', () => {
    expect(describeForeignError(new RangeError('x'))).toBe('RangeError')
    expect(describeForeignError(Object.assign(new Error('x'), { name: `evil ${SECRET}`, code: 'ENOSPC' }))).toBe('Error ENOSPC')
    expect(describeForeignError(Object.assign(new Error('x'), { code: `E${SECRET}` }))).toBe('Error')
  })

  test("keyrack's own errors print their message and hints", () => {
    const { code, out } = capture(new KeyrackUsageError('the secret is empty', ['pass it on stdin']))
    expect(code).toBe(EXIT_CODES.usage)
    expect(out).toBe('keyrack: error: the secret is empty\nkeyrack: hint: pass it on stdin\n')
  })
})
