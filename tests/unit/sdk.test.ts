/**
 * The SDK in-process (`import { keyrack } from 'keyrack'`), with a temp KEYRACK_HOME through its
 * options `{ home, cwd, env, owner }`: typed results, typed errors (with the per-key report),
 * the allowlist and never-degrade rules, and it never prints and never exits.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, spyOn, test, setDefaultTimeout } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  keyrack,
  KeyrackCommandError,
  KeyrackError,
  KeyrackIdentityError,
  KeyrackKeyAbsentError,
  KeyrackKeyBlockedError,
  KeyrackKeysUnavailableError,
  KeyrackManifestInvalidError,
  KeyrackNotAllowlistedError,
  KeyrackUsageError,
  type GetResult,
  type KeyrackKey,
  type KeyrackOptions,
} from 'keyrack'
import { createRuntimeDir } from '../helpers/runtime-dir.ts'

// scrypt (passphrase identities) and process spawns are slow on a busy machine
setDefaultTimeout(30_000)
const dir = mkdtempSync(join(tmpdir(), 'keyrack-sdk-'))
const repo = join(dir, 'repo')
const outside = join(dir, 'outside')
mkdirSync(join(repo, '.git'), { recursive: true })
mkdirSync(join(repo, '.agent'), { recursive: true })
mkdirSync(outside, { recursive: true })
writeFileSync(join(repo, '.agent', 'keyrack.yml'), 'org: acme\nenv.all:\n  - SHARED\nenv.test:\n  - ALPHA\n  - BETA\nenv.prod:\n  - PROD_ONLY\n')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** an isolated keyrack: its own home, this repo as cwd, environment variables that are not process.env */
const ENVIRONMENT = { HOME: dir, PATH: process.env.PATH, XDG_RUNTIME_DIR: createRuntimeDir(dir) }
const opts = (home: string, extra: Partial<KeyrackOptions> = {}) => ({ home, cwd: repo, environment: ENVIRONMENT, ...extra }) satisfies KeyrackOptions
const HOME = join(dir, 'home-main')
const o = opts(HOME)

/** catches a rejection and returns it, so its type and fields can be asserted */
async function caught<T extends Error>(p: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await p
  } catch (error) {
    expect(error).toBeInstanceOf(type)
    return error as T
  }
  throw new Error(`expected ${type.name}`)
}

// never printing, never exiting: every SDK call in this file runs under these spies
let writes: string[] = []
const spies: { mockRestore(): void }[] = []
beforeEach(() => {
  writes = []
  const record = (stream: string) => (chunk: unknown) => {
    writes.push(`${stream}: ${String(chunk)}`)
    return true
  }
  spies.push(
    spyOn(process.stdout, 'write').mockImplementation(record('stdout') as never),
    spyOn(process.stderr, 'write').mockImplementation(record('stderr') as never),
    spyOn(console, 'log').mockImplementation(((...a: unknown[]) => writes.push(`log: ${a.join(' ')}`)) as never),
    spyOn(console, 'error').mockImplementation(((...a: unknown[]) => writes.push(`error: ${a.join(' ')}`)) as never),
    spyOn(console, 'warn').mockImplementation(((...a: unknown[]) => writes.push(`warn: ${a.join(' ')}`)) as never),
    spyOn(process, 'exit').mockImplementation(((code?: number) => {
      throw new Error(`the SDK called process.exit(${code})`)
    }) as never),
  )
})
afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore()
  expect(writes).toEqual([])
  expect(process.exitCode ?? 0).toBe(0)
})

describe('init', () => {
  test('returns a typed result and creates the files', async () => {
    const r = await keyrack.init({ ...o, passphrase: false })
    expect(r).toMatchObject({ owner: 'human', via: 'age', passphrase: false, hostManifest: join(HOME, 'host.human.yml.age') })
    expect(r.recipient).toMatch(/^age1[0-9a-z]{58}$/)
    expect(r.recipients).toEqual([r.recipient])
    expect(existsSync(r.hostManifest)).toBe(true)
  })

  test('refuses to overwrite: KeyrackUsageError', async () => {
    const e = await caught(keyrack.init({ ...o, passphrase: false }), KeyrackUsageError)
    expect(e.exitCode).toBe(2)
    expect(e.message).toContain("owner 'human' already has a keyrack")
  })

  test('a protected identity with no passphrase source: KeyrackUsageError, nothing created', async () => {
    const home = join(dir, 'home-nopass')
    const e = await caught(keyrack.init(opts(home)), KeyrackUsageError)
    expect(e.hint.join(' ')).toContain('--no-passphrase')
    expect(existsSync(join(home, 'host.human.yml.age'))).toBe(false)
  })

  test('a bad owner name: KeyrackUsageError before anything is written', async () => {
    const home = join(dir, 'home-badowner')
    await caught(keyrack.init({ ...opts(home), owner: 'Not Valid', passphrase: false }), KeyrackUsageError)
    expect(existsSync(home)).toBe(false)
  })
})

describe('set, get, list, del', () => {
  test('set returns slug, vault, mech, grade and warnings', async () => {
    const a = await keyrack.set({ ...o, key: 'ALPHA', env: 'test', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', secret: 'sdk-alpha' })
    expect(a).toMatchObject({ slug: 'acme.test.ALPHA', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', grade: { protection: 'encrypted', duration: 'permanent' }, warnings: [] })
    expect(a.createdAt).toBe(a.updatedAt)
    const b = await keyrack.set({ ...o, key: 'BETA', env: 'test', vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', secret: 'sdk-beta' })
    expect(b.grade).toEqual({ protection: 'plaintext', duration: 'permanent' })
    expect(b.warnings.join('\n')).toContain('plaintext')
  })

  test('get of an incomplete env: KeyrackKeysUnavailableError with the per-key report, no secret anywhere in it', async () => {
    const e = await caught(keyrack.get({ ...o, for: 'repo', env: 'test' }), KeyrackKeysUnavailableError)
    expect(e).toBeInstanceOf(KeyrackError)
    expect(e.exitCode).toBe(4)
    expect(e.report.map((r) => [r.key, r.state])).toEqual([['ALPHA', 'granted'], ['BETA', 'granted'], ['SHARED', 'absent']])
    const shared = e.report.find((r) => r.key === 'SHARED')!
    expect(shared.hint[0]).toStartWith('keyrack set --key SHARED --env all --vault os.secure --mech <mech>')
    expect(shared.slug).toBe('acme.test.SHARED')
    // anywhere: the report, the message, the hints, the stack and the error's own fields
    for (const text of [JSON.stringify(e.report), e.message, JSON.stringify(e.hint), String(e.stack), JSON.stringify(e)]) expect(text).not.toMatch(/sdk-alpha|sdk-beta/)
    for (const r of e.report) expect('grant' in r).toBe(false)
  })

  test('get for a repo env: typed grants with KeyrackKey { secret, grade } on every grant', async () => {
    await keyrack.set({ ...o, key: 'SHARED', env: 'all', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', secret: 'sdk-shared' })
    const r: GetResult = await keyrack.get({ ...o, for: 'repo', env: 'test' })
    expect(r.env).toBe('test')
    expect(r.grants.map((g) => g.slug)).toEqual(['acme.test.ALPHA', 'acme.test.BETA', 'acme.all.SHARED'])
    const alpha: KeyrackKey = r.grants[0]!.key
    expect(alpha).toEqual({ secret: 'sdk-alpha', grade: { protection: 'encrypted', duration: 'permanent' } })
    expect(r.grants[1]).toMatchObject({ vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', key: { secret: 'sdk-beta', grade: { protection: 'plaintext', duration: 'permanent' } } })
    for (const g of r.grants) expect(Object.keys(g.key.grade).sort()).toEqual(['duration', 'protection'])
    expect(r.report.every((k) => k.state === 'granted')).toBe(true)
    expect(r.warnings).toEqual([])
  })

  test('get of one key', async () => {
    const r = await keyrack.get({ ...o, key: 'BETA', env: 'test' })
    expect(r.grants).toHaveLength(1)
    expect(r.grants[0]!.key.secret).toBe('sdk-beta')
  })

  test('the environment option, not process.env, is the caller environment (and `env` stays the env name)', async () => {
    process.env.PROD_ONLY = 'from-process-env'
    try {
      const e = await caught(keyrack.get({ ...o, for: 'repo', env: 'prod' }), KeyrackKeysUnavailableError)
      expect(e.report.find((r) => r.key === 'PROD_ONLY')!.state).toBe('absent')
      const granted = await keyrack.get({ ...opts(HOME, { environment: { ...ENVIRONMENT, PROD_ONLY: 'from-option-env' } }), for: 'repo', env: 'prod' })
      expect(granted.grants.find((g) => g.slug.endsWith('.PROD_ONLY'))).toMatchObject({ vault: 'os.envvar', key: { secret: 'from-option-env' } })
    } finally {
      delete process.env.PROD_ONLY
    }
  })

  test('without an environment option, process.env is the environment even though `env` names the keyrack env', async () => {
    const saved = { KEYRACK_HOME: process.env.KEYRACK_HOME, PROD_ONLY: process.env.PROD_ONLY }
    process.env.KEYRACK_HOME = HOME
    process.env.PROD_ONLY = 'from-process-env'
    try {
      const r = await keyrack.get({ cwd: repo, for: 'repo', env: 'prod' })
      expect(r.grants.find((g) => g.slug.endsWith('.PROD_ONLY'))!.key.secret).toBe('from-process-env')
      expect(r.grants.find((g) => g.slug.endsWith('.SHARED'))!.key.secret).toBe('sdk-shared')
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })

  test('not allowlisted: KeyrackNotAllowlistedError naming the repo manifest (exit code 3)', async () => {
    await keyrack.set({ ...o, key: 'HIDDEN', env: 'test', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', secret: 'sdk-hidden' })
    const e = await caught(keyrack.get({ ...o, key: 'HIDDEN', env: 'test' }), KeyrackNotAllowlistedError)
    expect(e.exitCode).toBe(3)
    expect(e.message).toContain(join(repo, '.agent', 'keyrack.yml'))
    expect(e.message).not.toContain('sdk-hidden')
    await caught(keyrack.get({ ...o, for: 'repo', env: 'staging' }), KeyrackNotAllowlistedError)
    // exec is allowlisted the same way, and never spawns
    const marker = join(dir, 'sdk-exec-ran')
    await caught(keyrack.exec({ ...o, key: 'HIDDEN', env: 'test', command: ['touch', marker] }), KeyrackNotAllowlistedError)
    expect(existsSync(marker)).toBe(false)
  })

  test('usage errors are typed', async () => {
    await caught(keyrack.get({ ...o, key: 'not-a-key', env: 'test' }), KeyrackUsageError)
    await caught(keyrack.get({ ...o, env: 'test' }), KeyrackUsageError)
    await caught(keyrack.get({ ...o, cwd: outside, for: 'repo', env: 'test' }), KeyrackUsageError)
    await caught(keyrack.set({ ...o, key: 'ALPHA', env: 'test', vault: 'os.secure', secret: 'x' }), KeyrackUsageError)
    await caught(keyrack.set({ ...o, key: 'ALPHA', env: 'test', vault: 'os.nope', mech: 'PERMANENT_VIA_REPLICA', secret: 'x' }), KeyrackUsageError)
    await caught(keyrack.set({ ...o, key: 'ALPHA', env: 'test', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', secret: '' }), KeyrackUsageError)
    // even a bad option is a rejection, never a synchronous throw
    const pending = keyrack.list({ ...o, owner: 'BAD' })
    expect(pending).toBeInstanceOf(Promise)
    await caught(pending, KeyrackUsageError)
  })

  test('never degrade: an os.secure key cannot be re-set into os.direct (KeyrackKeyBlockedError)', async () => {
    const e = await caught(keyrack.set({ ...o, key: 'ALPHA', env: 'test', vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', secret: 'sdk-alpha' }), KeyrackKeyBlockedError)
    expect(e.exitCode).toBe(5)
    expect(e.message).toContain("never lowers a key's protection")
    expect(readFileSync(join(HOME, 'direct.human.json'), 'utf8')).not.toContain('sdk-alpha')
    expect((await keyrack.get({ ...o, key: 'ALPHA', env: 'test' })).grants[0]!.vault).toBe('os.secure')
  })

  test('a manifest error is KeyrackManifestInvalidError with file, line and column', async () => {
    const bad = join(dir, 'badrepo')
    mkdirSync(join(bad, '.git'), { recursive: true })
    mkdirSync(join(bad, '.agent'), { recursive: true })
    writeFileSync(join(bad, '.agent', 'keyrack.yml'), 'org: acme\nenv.test:\n  - not-a-key\n')
    const e = await caught(keyrack.get({ ...o, cwd: bad, for: 'repo', env: 'test' }), KeyrackManifestInvalidError)
    expect([e.file, e.line, e.column]).toEqual([join(bad, '.agent', 'keyrack.yml'), 3, 5])
  })

  test('list: entries with grade and timestamps, never a secret', async () => {
    const r = await keyrack.list(o)
    expect(r.owner).toBe('human')
    expect(r.keys.map((k) => k.slug)).toEqual(['acme.all.SHARED', 'acme.test.ALPHA', 'acme.test.BETA', 'acme.test.HIDDEN'])
    expect(r.keys[1]).toMatchObject({ org: 'acme', env: 'test', key: 'ALPHA', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', exid: null, grade: { protection: 'encrypted', duration: 'permanent' } })
    expect(JSON.stringify(r)).not.toMatch(/sdk-(alpha|beta|shared|hidden)/)
  })

  test('del: removes the entry; a second del is KeyrackKeyAbsentError', async () => {
    expect(await keyrack.del({ ...o, key: 'HIDDEN', env: 'test' })).toEqual({ slug: 'acme.test.HIDDEN', vault: 'os.secure' })
    expect((await keyrack.list(o)).keys.map((k) => k.key)).not.toContain('HIDDEN')
    const e = await caught(keyrack.del({ ...o, key: 'HIDDEN', env: 'test' }), KeyrackKeyAbsentError)
    expect(e.exitCode).toBe(4)
  })
})

describe('exec', () => {
  test('the child gets the keys in its environment; the exit code comes back; process.env is untouched', async () => {
    const out = join(dir, 'exec-out')
    const r = await keyrack.exec({ ...o, for: 'repo', env: 'test', command: ['sh', '-c', `printf '%s|%s|%s' "$ALPHA" "$BETA" "$SHARED" > "${out}"; exit 9`] })
    expect(r.exitCode).toBe(9)
    expect(r.signal).toBeNull()
    expect(r.result.grants).toHaveLength(3)
    expect(readFileSync(out, 'utf8')).toBe('sdk-alpha|sdk-beta|sdk-shared')
    expect(process.env.ALPHA).toBeUndefined()
  })

  test('a child killed by a signal reports the signal', async () => {
    const r = await keyrack.exec({ ...o, for: 'repo', env: 'test', command: ['sh', '-c', 'kill -TERM $$'] })
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGTERM' })
  })

  test('a command that does not exist: KeyrackCommandError with exit code 127, as a shell says', async () => {
    const error = await caught(keyrack.exec({ ...o, for: 'repo', env: 'test', command: ['no-such-command-sdk'] }), KeyrackCommandError)
    expect(error.exitCode).toBe(127)
  })
})

describe('a passphrase-protected identity', () => {
  const home = join(dir, 'home-pass')
  const po = opts(home)
  beforeAll(async () => {
    // InitInput.passphrase (protect or not) and the passphrase source share a name: a function means both
    await keyrack.init({ ...po, passphrase: async () => 'sdk pass phrase' })
  })

  test('init asked the passphrase source and stored the identity encrypted', () => {
    expect(existsSync(join(home, 'identity.human.age'))).toBe(true)
    expect(readFileSync(join(home, 'identity.human.age'), 'utf8')).not.toContain('AGE-SECRET-KEY')
  })

  test('set with the passphrase source; get without one reports locked', async () => {
    await keyrack.set({ ...po, passphrase: async () => 'sdk pass phrase', key: 'ALPHA', env: 'test', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', secret: 'locked-alpha' })
    const e = await caught(keyrack.get({ ...po, key: 'ALPHA', env: 'test' }), KeyrackKeysUnavailableError)
    expect(e.report[0]).toMatchObject({ key: 'ALPHA', state: 'locked' })
    expect(e.report[0]!.hint[0]).toBe('ask a human to run `keyrack unlock --for repo --env test`')
  })

  test('a wrong passphrase: KeyrackIdentityError (exit code 8); the source is asked again until it gives up', async () => {
    const attempts: number[] = []
    const e = await caught(
      keyrack.list({ ...po, passphrase: async ({ attempt }) => (attempts.push(attempt), attempt <= 2 ? 'wrong' : null) }),
      KeyrackIdentityError,
    )
    expect(e.exitCode).toBe(8)
    expect(e.message).toContain("wrong passphrase for the identity of owner 'human'")
    expect(attempts).toEqual([1, 2, 3])
  })
})
