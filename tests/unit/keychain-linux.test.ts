/**
 * os.keychain's Secret Service backend against a real gnome-keyring on a private session bus, at the
 * vault's edges the contract suite does not reach:
 *  - the longest secret secret-tool takes whole (8191 bytes) round-trips; one byte more is refused
 *    before secret-tool runs (it would cut it and exit 0), storing nothing;
 *  - a locked keyring is never mistaken for an absent item: secret-tool's `lookup` and `clear` fail
 *    silently for both, and the vault says `locked` (and keeps the item) where there is one;
 *  - no session bus, or a bus without the service: unavailable, with the packages and os.secure.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { KeyrackKeyLockedError, KeyrackSecretInvalidError, KeyrackVaultUnavailableError } from '../../src/domain/errors.ts'
import { OwnerSession } from '../../src/sdk/session.ts'
import { SECRET_TOOL_MAX_BYTES } from '../../src/vaults/keychain/secret-service.ts'
import osKeychainVault from '../../src/vaults/os.keychain.ts'
import { guardedSpawn } from '../fakes/ports.ts'
import { createRuntimeDir } from '../helpers/runtime-dir.ts'
import { secretServiceMissing, startSecretService, type SecretService } from '../helpers/secret-service.ts'
import { skipFor } from '../helpers/skips.ts'

setDefaultTimeout(30_000)
const REPLICA = 'PERMANENT_VIA_REPLICA'

describe.skipIf(skipFor('tool', 'os.keychain Secret Service edges (gnome-keyring)', secretServiceMissing()))('os.keychain on the Secret Service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyrack-keychain-linux-'))
  const runtime = createRuntimeDir(dir)
  let service: SecretService
  let ctx: Context
  const planted: string[] = []
  const session = () => new OwnerSession(ctx)
  /** a context in another environment (its spawn port runs tools in that environment too) */
  const inEnvironment = (environment: Record<string, string | undefined>): Context =>
    createContext({ home: join(dir, 'kr'), cwd: dir, environment, spawn: guardedSpawn(environment, () => planted), platform: 'linux' })

  beforeAll(async () => {
    service = await startSecretService({ dir, home: dir, runtimeDir: runtime })
    const environment = { HOME: dir, PATH: process.env.PATH, XDG_RUNTIME_DIR: runtime, ...service.env }
    ctx = createContext({ home: join(dir, 'kr'), cwd: dir, environment, spawn: guardedSpawn(environment, () => planted), platform: 'linux' })
  })
  afterAll(async () => {
    await service?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('8191 bytes round-trip exactly; 8192 are refused before secret-tool runs, storing nothing', async () => {
    const longest = 'L\n'.repeat(SECRET_TOOL_MAX_BYTES).slice(0, SECRET_TOOL_MAX_BYTES)
    planted.push(longest.slice(0, 40))
    await osKeychainVault.set(session(), { slug: 'acme.test.LONGEST', mech: REPLICA, secret: longest })
    expect(await osKeychainVault.get(session(), { slug: 'acme.test.LONGEST', exid: null })).toBe(longest)
    expect(service.lookup('human:acme.test.LONGEST')).toEqual({ code: 0, stdout: longest })
    const tooLong = await osKeychainVault.set(session(), { slug: 'acme.test.TOO_LONG', mech: REPLICA, secret: `${longest}x` }).catch((e: unknown) => e)
    expect(tooLong).toBeInstanceOf(KeyrackSecretInvalidError)
    expect((tooLong as Error).message).toBe('the secret is 8192 bytes, and secret-tool carries at most 8191 bytes into the keychain; nothing was stored')
    expect(service.lookup('human:acme.test.TOO_LONG').code).toBe(1)
  })

  test('an item of another owner is another item', async () => {
    const other = { ...ctx, owner: 'seaturtle' }
    await osKeychainVault.set(new OwnerSession(other), { slug: 'acme.test.SHARED', mech: REPLICA, secret: 'robot-secret-1' })
    await osKeychainVault.set(session(), { slug: 'acme.test.SHARED', mech: REPLICA, secret: 'human-secret-1' })
    expect(service.lookup('seaturtle:acme.test.SHARED').stdout).toBe('robot-secret-1')
    expect(await osKeychainVault.get(new OwnerSession(other), { slug: 'acme.test.SHARED', exid: null })).toBe('robot-secret-1')
    await osKeychainVault.del(session(), { slug: 'acme.test.SHARED', exid: null })
    expect(service.lookup('seaturtle:acme.test.SHARED').code).toBe(0)
  })

  test('no session bus, or a bus with no Secret Service: unavailable, with the packages and os.secure', async () => {
    const headless = inEnvironment({ HOME: dir, PATH: process.env.PATH, XDG_RUNTIME_DIR: runtime })
    const availability = await osKeychainVault.isAvailable(headless)
    expect(availability).toMatchObject({ available: false, reason: 'no Secret Service here: no D-Bus session bus (a headless server or a container?)' })
    const hints = availability.available ? '' : availability.hint.join('\n')
    expect(hints).toContain('sudo apt-get install libsecret-tools gnome-keyring dbus-user-session')
    expect(hints).toContain('--vault os.secure')
    const bare = await startSecretService({ dir: join(dir, 'bare'), home: dir, runtimeDir: runtime, keyring: false })
    try {
      const noService = inEnvironment({ ...headless.env, ...bare.env })
      const r = await osKeychainVault.isAvailable(noService)
      expect(r.available).toBe(false)
      expect(r.available === false && r.reason).toStartWith('no Secret Service here: secret-tool: ')
      const error = await osKeychainVault.unlock(new OwnerSession(noService)).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(KeyrackVaultUnavailableError)
    } finally {
      await bare.stop()
    }
  })

  // last: the keyring stays locked (only a prompt could open it again, and this bus has no prompter)
  test('a locked keyring is locked, never absent: get and del say so, and the item stays', async () => {
    await osKeychainVault.set(session(), { slug: 'acme.test.KEPT', mech: REPLICA, secret: 'kept-secret-1' })
    await service.lock()
    const read = await osKeychainVault.get(session(), { slug: 'acme.test.KEPT', exid: null }).catch((e: unknown) => e)
    expect(read).toBeInstanceOf(KeyrackKeyLockedError)
    expect((read as Error).message).toBe('your Secret Service keyring is locked')
    // an item that does not exist is still simply absent
    expect(await osKeychainVault.get(session(), { slug: 'acme.test.NEVER', exid: null })).toBeNull()
    const removed = await osKeychainVault.del(session(), { slug: 'acme.test.KEPT', exid: null }).catch((e: unknown) => e)
    expect(removed).toBeInstanceOf(KeyrackKeyLockedError)
    const unlocked = await osKeychainVault.unlock(session()).catch((e: unknown) => e)
    expect(unlocked).toBeInstanceOf(KeyrackKeyLockedError)
    expect((unlocked as KeyrackKeyLockedError).hint[0]).toContain('unlock it in your desktop session')
  })
})
