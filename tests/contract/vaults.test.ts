/**
 * The vault contract: every vault in the registry passes the same suite, so a new vault joins it
 * by being registered (and must bring a fixture in ./fixtures.ts to get an isolated place to work).
 *
 *  - it declares itself fully (id = registry id = file name, protection, what it stores, where);
 *  - set → read back → del round-trips secrets exactly: newlines, quotes, unicode, 64 KiB;
 *  - `keyrack set` (the SDK) proves the same round trip through the registry and records it;
 *  - a missing tool is a KeyrackVaultUnavailableError with the install command (a vault with no
 *    tool works with an empty PATH);
 *  - no spawned tool ever sees a secret in its argv (the spawn port is guarded; fake tools record
 *    their argv too).
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { KeyrackSecretInvalidError, KeyrackVaultUnavailableError } from '../../src/domain/errors.ts'
import { PROTECTIONS } from '../../src/domain/grade.ts'
import { installHint } from '../../src/runtime/spawn.ts'
import { init } from '../../src/sdk/init.ts'
import { list } from '../../src/sdk/list.ts'
import { del } from '../../src/sdk/del.ts'
import { relock } from '../../src/sdk/relock.ts'
import { set } from '../../src/sdk/set.ts'
import { OwnerSession } from '../../src/sdk/session.ts'
import { builtinVaults } from '../../src/vaults/index.ts'
import { canSource, isLockable, isPassthrough, isRemote, type Vault } from '../../src/vaults/vault.ts'
import type { Mech } from '../../src/mechs/mech.ts'
import { guardedSpawn } from '../fakes/ports.ts'
import { skipFor } from '../helpers/skips.ts'
import { fixtures } from './fixtures.ts'

setDefaultTimeout(30_000)

const SRC = resolve(import.meta.dir, '..', '..', 'src', 'vaults')
/** 64 KiB of printable text with a newline every 64 characters, ending without one */
const BIG = Array.from({ length: 1024 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(59)}`).join('\n').slice(0, 64 * 1024)
const SECRETS: Record<string, string> = {
  PLAIN: 'contract-plain-secret-1',
  NEWLINES: 'line one\nline two\n\nend\n',
  QUOTES: `it's "quoted" \`back\` $HOME \\ ; | & *`,
  UNICODE: 'ключ 🔑 clé ünï — 鍵',
  BIG_KEY: BIG,
}

for (const id of builtinVaults.ids) {
  const fixture = fixtures[id]
  describe.skipIf(skipFor('tool', `vault ${id} contract`, fixture?.missing?.()))(`vault ${id}`, () => {
    let dir: string
    let ctx: Context
    let vault: Vault
    let mech: Mech
    let stop: (() => Promise<void>) | undefined
    const planted = Object.values(SECRETS)
    let spawn: ReturnType<typeof guardedSpawn>

    beforeAll(async () => {
      if (!fixture) return
      dir = mkdtempSync(join(tmpdir(), `keyrack-contract-${id}-`))
      mkdirSync(join(dir, 'repo', '.git'), { recursive: true })
      mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 })
      const started = await fixture.start(dir)
      stop = started.stop
      const env: Record<string, string | undefined> = { HOME: dir, PATH: process.env.PATH, XDG_RUNTIME_DIR: join(dir, 'run'), ...started.env }
      spawn = guardedSpawn(env, () => planted)
      ctx = createContext({ home: join(dir, 'kr'), cwd: join(dir, 'repo'), environment: env, spawn })
      await init(ctx, { passphrase: false })
      vault = await builtinVaults.load(id)
      mech = (await ctx.mechs.loadAll()).find((m) => canSource(vault, m))!
    })
    afterAll(async () => {
      // a vault that lives in the daemon leaves one running: stop it
      if (ctx) await relock(ctx)
      await stop?.()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    /** what `set` is given for a secret: the secret itself, or (reference-only vaults) a pointer to it */
    async function sourceFor(secret: string): Promise<{ secret: string } | { exid: string }> {
      if (mech.source === 'secret') return { secret }
      expect(fixture!.reference, `vault ${id} stores only references: its fixture needs reference()`).toBeDefined()
      return { exid: await fixture!.reference!(ctx.env, secret) }
    }

    test('has a contract fixture (tests/contract/fixtures.ts)', () => {
      expect(fixture, `vault ${id} is registered but has no fixture in tests/contract/fixtures.ts`).toBeDefined()
    })

    test('declares itself: id, file, protection, what it stores, where, a mech it serves', () => {
      expect(vault.id).toBe(id)
      expect(existsSync(join(SRC, `${id}.ts`))).toBe(true)
      expect(PROTECTIONS).toContain(vault.protection)
      expect(vault.description.length).toBeGreaterThan(10)
      expect(vault.stores.length).toBeGreaterThan(0)
      expect(vault.where(ctx)).toBeString()
      expect(mech, `no mech in the registry can keep its source in ${id}`).toBeDefined()
    })

    test('round trip of a reference that names itself: set → get resolves it → del', async () => {
      if (!fixture?.item) return
      const session = new OwnerSession(ctx)
      const slug = 'acme.test.REFERENCE'
      const item = fixture!.item!(ctx.env, 'contract-reference')
      if (isLockable(vault)) await vault.unlock(session, [{ slug, exid: item.exid }])
      const { exid } = await vault.set(session, { slug, mech: mech.id, exid: item.exid })
      expect(exid).toBe(item.exid)
      expect(await vault.get(session, { slug, exid })).toBe(item.resolves)
      await vault.del(session, { slug, exid })
      await vault.del(session, { slug, exid })
    })

    for (const [name, secret] of Object.entries(SECRETS))
      test(`round trip: set → get → del of a secret with ${name.toLowerCase().replace('_key', '')} comes back exactly${name === 'PLAIN' ? '' : ' (or is refused, storing nothing)'}`, async () => {
        // a vault whose references are names (an AWS profile) has its own round trip above
        if (fixture?.item) return
        const session = new OwnerSession(ctx)
        const slug = `acme.test.${name}`
        if (vault.maxSecretBytes !== undefined && Buffer.byteLength(secret) > vault.maxSecretBytes) {
          // a vault with a size limit refuses a larger secret with a clear error, through `keyrack set`, and keeps nothing
          const error = await set(ctx, { key: name, env: 'test', org: 'acme', vault: id, mech: mech.id, secret }).catch((e: unknown) => e)
          expect(error).toBeInstanceOf(KeyrackSecretInvalidError)
          expect(await vault.get(session, { slug, exid: null })).toBeNull()
          return
        }
        if (isLockable(vault)) await vault.unlock(session)
        fixture!.provide?.(ctx.env, slug, secret)
        // what the vault holds: read back, or — for one that provisions elsewhere — the far side's record
        const remote = fixture!.remote
        const held = async (exid: string | null) => (remote ? (remote.read(slug) ?? null) : await vault.get(session, { slug, exid }))
        const stored = await vault.set(session, { slug, mech: mech.id, ...(await sourceFor(secret)), ...(remote ? { exid: remote.exid } : {}), until: Date.now() + 600_000 }).catch((e: unknown) => e)
        // a vault may refuse a secret its tool cannot carry exactly (secret-tool: 8 KiB; gh drops a
        // trailing newline; GitHub caps secrets at 48 KB), storing nothing; a plain one it must take
        if (name !== 'PLAIN' && stored instanceof KeyrackSecretInvalidError) return expect(await held(remote?.exid ?? null)).toBeNull()
        if (stored instanceof Error) throw stored
        const { exid } = stored as { exid: string | null }
        expect(await held(exid)).toBe(secret)
        if (isRemote(vault)) expect(await vault.exists(session, { slug, exid })).toBe(true)
        await vault.del(session, { slug, exid })
        if (isPassthrough(vault)) delete ctx.env[name]
        expect(await held(exid)).toBeNull()
        if (isRemote(vault)) expect(await vault.exists(session, { slug, exid })).toBe(false)
        // a second del of what is gone is not an error
        await vault.del(session, { slug, exid })
      })

    test('`keyrack set` proves the round trip through the registry, records it, and `del` removes it', async () => {
      const slugKey = 'SDK_KEY'
      const secret = 'contract-sdk-secret-2\nwith a second line'
      fixture!.provide?.(ctx.env, `acme.test.${slugKey}`, secret)
      const source = fixture?.item ? { exid: fixture.item(ctx.env, 'contract-sdk').exid } : isPassthrough(vault) ? {} : await sourceFor(secret)
      const result = await set(ctx, { key: slugKey, env: 'test', org: 'acme', vault: id, mech: mech.id, ...source, ...(fixture!.remote ? { exid: fixture!.remote.exid } : {}) })
      expect(result).toMatchObject({ slug: 'acme.test.SDK_KEY', vault: id, mech: mech.id, grade: { protection: vault.protection, duration: mech.duration } })
      expect((await list(ctx)).keys.map((k) => [k.slug, k.vault])).toContainEqual(['acme.test.SDK_KEY', id])
      await del(ctx, { key: slugKey, env: 'test', org: 'acme' })
      expect((await list(ctx)).keys.map((k) => k.slug)).not.toContain('acme.test.SDK_KEY')
    })

    test('a missing tool says how to install it; a vault without one works with an empty PATH', async () => {
      const bare = { ...ctx, env: { ...ctx.env, PATH: '' }, spawn: guardedSpawn({ ...ctx.env, PATH: '' }, () => planted) }
      const availability = await vault.isAvailable(bare)
      if (!vault.tool) return expect(availability.available).toBe(true)
      expect(availability.available).toBe(false)
      const install = installHint(vault.tool)!
      expect(availability.available === false && availability.hint.join('\n')).toContain(install)
      const session = new OwnerSession(bare)
      const error = await vault.set(session, { slug: 'acme.test.NO_TOOL', mech: mech.id, secret: 'x', exid: fixture!.remote?.exid ?? 'x', until: Date.now() + 60_000 }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(KeyrackVaultUnavailableError)
      expect((error as KeyrackVaultUnavailableError).hint.join('\n')).toContain(install)
    })

    test('no spawned tool saw a secret in its argv', () => {
      expect(spawn.leaks).toEqual([])
      for (const call of spawn.calls) for (const secret of planted) expect(call.argv.join(' ')).not.toContain(secret)
    })
  })
}

test('every vault adapter file is registered (no adapter outside the registry)', () => {
  const adapters = readdirSync(SRC).filter((f) => f.endsWith('.ts') && f !== 'index.ts' && f !== 'vault.ts').map((f) => f.slice(0, -3))
  expect(adapters.sort()).toEqual([...builtinVaults.ids].sort())
})
