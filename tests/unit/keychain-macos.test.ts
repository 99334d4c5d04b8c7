/**
 * os.keychain on macOS, through the SDK, against the fake `security` of tests/fakes/security.ts
 * (Apple's SecurityTool contract: `security -i` lines, print_buffer, OSStatus exit codes). The
 * macOS path is chosen the way the product chooses it: the context's platform port.
 *
 *  - set stores the item (service keyrack, account owner:slug, a label) with the secret on
 *    `security -i`'s stdin, never in argv; newlines, quotes, backslashes, unicode and a secret
 *    that looks like hex come back exactly;
 *  - a secret longer than one interactive line is refused before `security` runs, storing nothing;
 *  - set → unlock → get → relock → del under a passphrase-protected identity;
 *  - a locked keychain: the OS's dialog once per unlock, not once per key; with no desktop, the
 *    keychain password asked here (wrong, then right), given to `security` on stdin and kept
 *    nowhere; with nobody to ask, locked with `security unlock-keychain`;
 *  - no `security`, no default keychain: unavailable, saying how to fix it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context, type ContextOptions } from '../../src/context.ts'
import { KeyrackCancelledError, KeyrackKeyLockedError, KeyrackSecretInvalidError } from '../../src/domain/errors.ts'
import { del } from '../../src/sdk/del.ts'
import { get } from '../../src/sdk/get.ts'
import { init } from '../../src/sdk/init.ts'
import { relock } from '../../src/sdk/relock.ts'
import { OwnerSession } from '../../src/sdk/session.ts'
import { set } from '../../src/sdk/set.ts'
import { unlock } from '../../src/sdk/unlock.ts'
import { addCommand, SECURITY_MAX_LINE_BYTES } from '../../src/vaults/keychain/macos.ts'
import { keychainItem } from '../../src/vaults/keychain/shared.ts'
import osKeychainVault from '../../src/vaults/os.keychain.ts'
import { guardedSpawn, scriptedPrompt } from '../fakes/ports.ts'
import { installFakeSecurity, splitLine, type FakeSecurity } from '../fakes/security.ts'

setDefaultTimeout(60_000)

const dir = mkdtempSync(join(tmpdir(), 'keyrack-keychain-macos-'))
const repo = join(dir, 'repo')
mkdirSync(join(repo, '.git'), { recursive: true })
mkdirSync(join(repo, '.agent'), { recursive: true })
writeFileSync(join(repo, '.agent', 'keyrack.yml'), ['org: acme', 'env.test:', '  - MAC_ONE', '  - MAC_TWO', '  - MAC_THREE', ''].join('\n'))
const runtime = join(dir, 'run')
mkdirSync(runtime, { recursive: true, mode: 0o700 })

const KEYCHAIN_PASSWORD = 'login-keychain-pw-9c1e'
const fake: FakeSecurity = installFakeSecurity(dir, { password: KEYCHAIN_PASSWORD })
const SECRETS = {
  MAC_ONE: 'mac-secret-one\nsecond line\n',
  MAC_TWO: `it's "quoted" \\ back\\slash $HOME ; | & *`,
  MAC_THREE: 'ключ 🔑 clé — 鍵',
}
const HEXLIKE = '0a0b0c0d1e1f'
const planted = [...Object.values(SECRETS), HEXLIKE, KEYCHAIN_PASSWORD]
const environment = { HOME: dir, PATH: `${fake.binDir}:${process.env.PATH}`, XDG_RUNTIME_DIR: runtime, ...fake.env }
const spawn = guardedSpawn(environment, () => planted)
const PASS = 'owner-pass-mac-1'
const passphrase = async ({ attempt }: { attempt: number }) => (attempt > 1 ? null : PASS)
const make = (extra: ContextOptions = {}): Context => createContext({ home: join(dir, 'kr'), cwd: repo, environment, spawn, platform: 'darwin', ...extra })
const REPLICA = 'PERMANENT_VIA_REPLICA'
const human = () => make({ passphrase })

beforeAll(async () => {
  await init(human(), { passphrase })
})
afterAll(async () => {
  await relock(make())
  rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  fake.agent('none')
})

/** every file keyrack or the test wrote, but the fake's stand-in for the (encrypted) keychain file */
const filesHolding = (needle: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && !join(d.parentPath, d.name).startsWith(fake.stateDir))
    .map((d) => join(d.parentPath, d.name))
    .filter((f) => readFileSync(f).includes(needle))

describe('os.keychain on macOS (fake security)', () => {
  test('set stores each secret on security -i stdin, named for Keychain Access; the round trip is exact', async () => {
    for (const [key, secret] of Object.entries(SECRETS)) {
      const result = await set(human(), { key, env: 'test', vault: 'os.keychain', mech: REPLICA, secret })
      expect(result).toMatchObject({ slug: `acme.test.${key}`, vault: 'os.keychain', grade: { protection: 'encrypted', duration: 'permanent' } })
      expect(fake.password('keyrack', `human:acme.test.${key}`)).toBe(secret)
    }
    expect(fake.items().find((i) => i.acct === 'human:acme.test.MAC_ONE')!.labl).toBe('keyrack: acme.test.MAC_ONE (owner human)')
    // the stores went through interactive mode, one command each; reads by -g
    const calls = fake.calls()
    expect(calls.filter((c) => c.argv[0] === '-i').map((c) => c.commands)).toContainEqual(['add-generic-password'])
    expect(calls.some((c) => c.argv.join(' ') === 'find-generic-password -s keyrack -a human:acme.test.MAC_ONE -g')).toBe(true)
    expect(calls.filter((c) => c.leak)).toEqual([])
    expect(spawn.leaks).toEqual([])
  })

  test('a secret that looks like hex, or is printable with a backslash, reads back as itself (-g, not -w)', async () => {
    const session = new OwnerSession(human())
    for (const secret of [HEXLIKE, 'back\\slash', 'x']) {
      await osKeychainVault.set(session, { slug: 'acme.test.HEXLIKE', mech: REPLICA, secret })
      expect(await osKeychainVault.get(session, { slug: 'acme.test.HEXLIKE', exid: null })).toBe(secret)
    }
    await osKeychainVault.del(session, { slug: 'acme.test.HEXLIKE', exid: null })
    expect(await osKeychainVault.get(session, { slug: 'acme.test.HEXLIKE', exid: null })).toBeNull()
    // a second del of what is gone is fine
    await osKeychainVault.del(session, { slug: 'acme.test.HEXLIKE', exid: null })
  })

  test('the fake itself fails a call whose argv carries a stored secret (so a product bug cannot pass unseen)', () => {
    const r = Bun.spawnSync(['security', 'add-generic-password', '-U', '-s', 'keyrack', '-a', 'human:acme.test.MAC_TWO', '-w', SECRETS.MAC_TWO], { env: environment })
    expect(r.exitCode).toBe(97)
    expect(r.stderr.toString()).toBe('fake security: a secret appeared in argv\n')
    expect(fake.calls().at(-1)).toEqual({ argv: Array(8).fill('[withheld]'), leak: true })
  })

  test('the line security reads back is the secret: split_line of the quoted form, -X hex for line breaks', () => {
    const item = keychainItem(make(), 'acme.test.K')
    const quoted = addCommand(item, SECRETS.MAC_TWO)
    expect(quoted.form).toBe('quoted')
    const args = splitLine(quoted.line)
    expect(args[args.indexOf('-w') + 1]).toBe(SECRETS.MAC_TWO)
    expect(args[args.indexOf('-a') + 1]).toBe('human:acme.test.K')
    const hex = addCommand(item, SECRETS.MAC_ONE)
    expect(hex.form).toBe('hex')
    expect(Buffer.from(splitLine(hex.line)[splitLine(hex.line).indexOf('-X') + 1]!, 'hex').toString()).toBe(SECRETS.MAC_ONE)
  })

  test('the longest secret one interactive line holds is stored; one byte more is refused before security runs', async () => {
    const session = new OwnerSession(human())
    const item = keychainItem(make(), 'acme.test.BIG')
    const overhead = Buffer.byteLength(addCommand(item, '').line)
    const fits = 'b'.repeat(SECURITY_MAX_LINE_BYTES - overhead)
    expect(Buffer.byteLength(addCommand(item, fits).line)).toBe(SECURITY_MAX_LINE_BYTES)
    await osKeychainVault.set(session, { slug: 'acme.test.BIG', mech: REPLICA, secret: fits })
    expect(await osKeychainVault.get(session, { slug: 'acme.test.BIG', exid: null })).toBe(fits)
    await osKeychainVault.del(session, { slug: 'acme.test.BIG', exid: null })
    const before = fake.calls().length
    const tooLong = await osKeychainVault.set(session, { slug: 'acme.test.BIG', mech: REPLICA, secret: `${fits}b` }).catch((e: unknown) => e)
    expect(tooLong).toBeInstanceOf(KeyrackSecretInvalidError)
    expect((tooLong as Error).message).toMatch(/^the secret is \d+ bytes, and security carries at most about \d+ bytes into the keychain; nothing was stored$/)
    expect((tooLong as KeyrackSecretInvalidError).hint.join('\n')).toContain('--vault os.secure')
    // 64 KiB with line breaks: refused the same way
    const big = await osKeychainVault.set(session, { slug: 'acme.test.BIG', mech: REPLICA, secret: 'x\n'.repeat(32 * 1024) }).catch((e: unknown) => e)
    expect(big).toBeInstanceOf(KeyrackSecretInvalidError)
    expect((big as Error).message).toContain('for a secret with line breaks')
    expect(fake.calls().length).toBe(before)
    expect(fake.password('keyrack', 'human:acme.test.BIG')).toBeUndefined()
  })

  test('set → unlock → get → relock → del, under a passphrase-protected identity', async () => {
    await relock(make())
    // unlock needs no owner passphrase: the inventory says where each key lives
    const never = async () => {
      throw new Error('the owner passphrase was asked for')
    }
    const unlocked = await unlock(make({ passphrase: never }), { for: 'repo', env: 'test' })
    expect(unlocked.unlocked.map((k) => [k.key, k.vault, k.grade])).toEqual(
      Object.keys(SECRETS).map((key) => [key, 'os.keychain', { protection: 'encrypted', duration: 'permanent' }]),
    )
    // a robot (no passphrase) gets them from the daemon
    const got = await get(make(), { for: 'repo', env: 'test' })
    expect(Object.fromEntries(got.grants.map((g) => [g.slug.split('.')[2], g.key.secret]))).toEqual(SECRETS)
    await relock(make())
    const after = await get(make(), { key: 'MAC_ONE', env: 'test' }).catch((e: { report?: { state: string }[] }) => e.report?.[0]?.state)
    expect(after).toBe('locked')
    for (const secret of planted) expect(filesHolding(secret)).toEqual([])
  })

  test('a locked keychain: the OS asks once for the whole unlock, however many keys', async () => {
    await relock(make())
    fake.lock()
    fake.agent('allow')
    const prompts = fake.prompts()
    const result = await unlock(make(), { for: 'repo', env: 'test' })
    expect(result.unlocked).toHaveLength(3)
    expect(fake.prompts() - prompts).toBe(1)
    expect(fake.locked()).toBe(false)
  })

  test('no desktop to ask on: keyrack asks for the keychain password (wrong, then right), gives it on stdin, keeps it nowhere', async () => {
    await relock(make())
    fake.lock()
    const start = fake.calls().length
    const prompt = scriptedPrompt(['not-the-password', KEYCHAIN_PASSWORD])
    const result = await unlock(make({ prompt }), { for: 'repo', env: 'test' })
    expect(result.unlocked).toHaveLength(3)
    expect(prompt.asked).toEqual(['password of your macOS login keychain (used once to unlock it, never kept)', 'wrong password; the login keychain password again'])
    expect(fake.locked()).toBe(false)
    // it reached security only on stdin: interactive unlock-keychain lines, argv clean
    const calls = fake.calls().slice(start)
    expect(calls.filter((c) => c.commands?.includes('unlock-keychain'))).toHaveLength(2)
    expect(calls.filter((c) => c.leak)).toEqual([])
    expect(spawn.leaks).toEqual([])
    expect(filesHolding(KEYCHAIN_PASSWORD)).toEqual([])
    expect(JSON.stringify(await get(make(), { for: 'repo', env: 'test' }))).not.toContain(KEYCHAIN_PASSWORD)
  })

  test('locked, no desktop, nobody to ask: locked, with the command that opens it', async () => {
    await relock(make())
    fake.lock()
    const error = await osKeychainVault.unlock(new OwnerSession(make())).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyrackKeyLockedError)
    expect((error as Error).message).toBe('your login keychain is locked')
    expect((error as KeyrackKeyLockedError).hint[0]).toBe('unlock it in a terminal: `security unlock-keychain`, then run the keyrack command again')
    // a read of a locked keychain (no unlock first) says the same, never "absent"
    const read = await osKeychainVault.get(new OwnerSession(make()), { slug: 'acme.test.MAC_ONE', exid: null }).catch((e: unknown) => e)
    expect(read).toBeInstanceOf(KeyrackKeyLockedError)
    // the user cancels the OS's dialog
    fake.agent('cancel')
    expect(await osKeychainVault.unlock(new OwnerSession(make())).catch((e: unknown) => e)).toBeInstanceOf(KeyrackCancelledError)
    fake.agent('allow')
    await osKeychainVault.unlock(new OwnerSession(make()))
  })

  test('del removes the item and the record', async () => {
    await del(human(), { key: 'MAC_THREE', env: 'test' })
    expect(fake.password('keyrack', 'human:acme.test.MAC_THREE')).toBeUndefined()
    const error = (await unlock(make(), { key: 'MAC_THREE', env: 'test' }).catch((e: Error) => e)) as Error
    expect(error.message).toBe('nothing to unlock for env test')
  })

  test('no security on PATH, or no default keychain: unavailable, saying how to fix it', async () => {
    const bare = make({ environment: { ...environment, PATH: '/nonexistent' } })
    const missing = await osKeychainVault.isAvailable(bare)
    expect(missing).toEqual({ available: false, reason: 'security is not on PATH', hint: ['it ships with macOS as /usr/bin/security: put /usr/bin on your PATH', expect.stringContaining('--vault os.secure')] })
    expect(await osKeychainVault.isAvailable(make())).toEqual({ available: true, detail: `the login keychain ${join(dir, 'Library', 'Keychains', 'login.keychain-db')}` })
    fake.removeDefault()
    const none = await osKeychainVault.isAvailable(make())
    expect(none).toMatchObject({ available: false, reason: 'no default keychain (security: SecKeychainCopyDefault: A default keychain could not be found.)' })
    const refused = await set(human(), { key: 'MAC_ONE', env: 'test', vault: 'os.keychain', mech: REPLICA, secret: 'x-new' }).catch((e: unknown) => e)
    expect((refused as Error).message).toBe('vault os.keychain cannot be used here: no default keychain (security: SecKeychainCopyDefault: A default keychain could not be found.)')
    rmSync(join(fake.stateDir, 'no-default'))
  })
})
