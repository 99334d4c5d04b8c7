/**
 * The adapter layer through the SDK, with a fake vault registered next to the built-ins
 * (tests/fakes/memory-vault.ts): the registry is the only way in; a vault that needs no owner
 * identity is unlocked and served under a passphrase-protected identity; every vault is opened
 * once per unlock and a batch vault read in one call; the inventory tells `absent` from `locked`
 * without the passphrase; `get --unlock` lives in the SDK.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context, type ContextOptions } from '../../src/context.ts'
import type { KeyrackError } from '../../src/domain/errors.ts'
import { KeyrackKeysUnavailableError } from '../../src/sdk/errors.ts'
import { get } from '../../src/sdk/get.ts'
import { init } from '../../src/sdk/init.ts'
import { relock } from '../../src/sdk/relock.ts'
import { set } from '../../src/sdk/set.ts'
import { unlock } from '../../src/sdk/unlock.ts'
import { vaultRegistry } from '../../src/vaults/index.ts'
import type { Vault } from '../../src/vaults/vault.ts'
import { memoryVault, referenceVault } from '../fakes/memory-vault.ts'

setDefaultTimeout(60_000)

const dir = mkdtempSync(join(tmpdir(), 'keyrack-layer-'))
const repo = join(dir, 'repo')
mkdirSync(join(repo, '.git'), { recursive: true })
mkdirSync(join(repo, '.agent'), { recursive: true })
writeFileSync(join(repo, '.agent', 'keyrack.yml'), ['org: acme', 'env.test:', '  - MEM_ONE', '  - MEM_TWO', '  - MEM_THREE', '  - SEC_ONE', '  - SEC_TWO', '  - FROM_ENV', '  - NEVER_SET', 'env.prep:', '  - BY_REF', ''].join('\n'))
const runtime = join(dir, 'run')
mkdirSync(runtime, { recursive: true, mode: 0o700 })

const memory = memoryVault()
const refs = referenceVault()
refs.items.set('ref://team/api-key', 'referenced-secret-1')
const vaults = vaultRegistry({
  'os.secure': () => import('../../src/vaults/os.secure.ts').then((m) => m.default as Vault),
  'os.direct': () => import('../../src/vaults/os.direct.ts').then((m) => m.default as Vault),
  'os.envvar': () => import('../../src/vaults/os.envvar.ts').then((m) => m.default as Vault),
  'test.memory': async () => memory,
  'test.ref': async () => refs,
})
const PASS = 'layer-pass-1'
let asked = 0
const passphrase = async ({ attempt }: { attempt: number }) => (asked++, attempt > 1 ? null : PASS)
const environment = { HOME: dir, PATH: process.env.PATH, XDG_RUNTIME_DIR: runtime, FROM_ENV: 'from-the-environment-1' }
const make = (extra: ContextOptions = {}): Context => createContext({ home: join(dir, 'kr'), cwd: repo, environment, vaults, ...extra })
const REPLICA = 'PERMANENT_VIA_REPLICA'

beforeAll(async () => {
  await init(make({ passphrase }), { passphrase })
  const human = make({ passphrase })
  for (const key of ['MEM_ONE', 'MEM_TWO', 'MEM_THREE']) await set(human, { key, env: 'test', vault: 'test.memory', mech: REPLICA, secret: `${key.toLowerCase()}-secret` })
  for (const key of ['SEC_ONE', 'SEC_TWO']) await set(human, { key, env: 'test', vault: 'os.secure', mech: REPLICA, secret: `${key.toLowerCase()}-secret` })
  await set(human, { key: 'FROM_ENV', env: 'test', vault: 'os.envvar', mech: REPLICA })
  await memory.relock!(null as never)
})
afterAll(async () => {
  await relock(make())
  rmSync(dir, { recursive: true, force: true })
})

describe('a passphrase-protected owner, before any unlock', () => {
  test('get tells absent from locked without the passphrase, and serves the os.envvar key', async () => {
    asked = 0
    memory.counts.unlock = memory.counts.get = memory.counts.getMany = 0
    const error = (await get(make(), { for: 'repo', env: 'test' }).catch((e: unknown) => e)) as KeyrackKeysUnavailableError
    expect(error).toBeInstanceOf(KeyrackKeysUnavailableError)
    const state = Object.fromEntries(error.report.map((r) => [r.key, r.state]))
    expect(state).toEqual({ MEM_ONE: 'locked', MEM_TWO: 'locked', MEM_THREE: 'locked', SEC_ONE: 'locked', SEC_TWO: 'locked', FROM_ENV: 'granted', NEVER_SET: 'absent' })
    const never = error.report.find((r) => r.key === 'NEVER_SET')!
    expect(never.hint).toEqual(['keyrack set --key NEVER_SET --env test --vault os.secure --mech <mech> (choose the mech: `keyrack set --help` lists them)'])
    expect(error.report.find((r) => r.key === 'MEM_ONE')!.reason).toBe('set in test.memory, not unlocked')
    expect(error.report.find((r) => r.key === 'MEM_ONE')!.hint).toEqual(['ask a human to run `keyrack unlock --for repo --env test`'])
    expect(asked).toBe(0)
    expect(memory.counts.get + memory.counts.getMany).toBe(0)
    // lenient: the environment key is served as an os.envvar grant, nothing else
    const lenient = await get(make(), { for: 'repo', env: 'test', lenient: true })
    expect(lenient.grants.map((g) => [g.slug, g.vault, g.key.secret])).toEqual([['acme.test.FROM_ENV', 'os.envvar', 'from-the-environment-1']])
  })

  test('unlock opens the identity once and the lockable vault once, reads the batch vault in one call, and needs nothing for os.envvar', async () => {
    asked = 0
    memory.counts.unlock = memory.counts.get = memory.counts.getMany = 0
    const result = await unlock(make({ passphrase }), { for: 'repo', env: 'test' })
    expect(asked).toBe(1)
    expect(memory.counts).toEqual({ unlock: 1, get: 0, getMany: 1 })
    expect(result.unlocked.map((k) => k.key)).toEqual(['MEM_ONE', 'MEM_TWO', 'MEM_THREE', 'SEC_ONE', 'SEC_TWO'])
    expect(result.skipped).toEqual([
      { key: 'FROM_ENV', reason: 'os.envvar needs no unlock: `keyrack get` reads it directly' },
      { key: 'NEVER_SET', reason: 'not set: keyrack set --key NEVER_SET --env test --vault os.secure --mech <mech>' },
    ])
    await memory.relock!(null as never)
  })

  test('then a robot gets every key that is set from the daemon; the absent one stays absent', async () => {
    const error = (await get(make(), { for: 'repo', env: 'test' }).catch((e: unknown) => e)) as KeyrackKeysUnavailableError
    expect(error.report.filter((r) => r.state !== 'granted').map((r) => [r.key, r.state])).toEqual([['NEVER_SET', 'absent']])
    const { grants } = await get(make(), { for: 'repo', env: 'test', lenient: true })
    expect(grants.map((g) => [g.key.secret, g.vault])).toEqual([
      ['mem_one-secret', 'test.memory'], ['mem_two-secret', 'test.memory'], ['mem_three-secret', 'test.memory'],
      ['sec_one-secret', 'os.secure'], ['sec_two-secret', 'os.secure'], ['from-the-environment-1', 'os.envvar'],
    ])
  })

  test('a repo whose keys live only in lockable vaults unlocks without the owner passphrase', async () => {
    await relock(make())
    const never = async () => {
      throw new Error('the owner passphrase was asked for')
    }
    memory.counts.unlock = 0
    const result = await unlock(make({ passphrase: never }), { key: 'MEM_TWO', env: 'test' })
    expect(result.unlocked.map((k) => k.key)).toEqual(['MEM_TWO'])
    expect(memory.counts.unlock).toBe(1)
    await memory.relock!(null as never)
  })

  test('get --unlock (in the SDK): one look, one unlock, then the keys from the daemon', async () => {
    await relock(make())
    asked = 0
    const result = await get(make({ passphrase }), { key: 'SEC_ONE', env: 'test', unlock: true })
    expect(result.grants.map((g) => g.key.secret)).toEqual(['sec_one-secret'])
    expect(asked).toBe(1)
    // it went through the daemon: a robot now gets it too
    expect((await get(make(), { key: 'SEC_ONE', env: 'test' })).grants[0]!.key.secret).toBe('sec_one-secret')
    // with a passphrase but no --unlock, get reads the vault directly for this one call (nothing more in the daemon)
    await relock(make())
    const direct = await get(make({ passphrase }), { key: 'SEC_TWO', env: 'test' })
    expect(direct.grants[0]!.key.secret).toBe('sec_two-secret')
    expect(await get(make(), { key: 'SEC_TWO', env: 'test' }).catch((e: KeyrackKeysUnavailableError) => e.report[0]!.state)).toBe('locked')
  })

  test('the inventory holds no slug, secret or exid in clear', () => {
    const text = readFileSync(join(dir, 'kr', 'inventory.human.json'), 'utf8')
    for (const needle of ['MEM_ONE', 'acme', 'secret', 'from-the-environment']) expect(text).not.toContain(needle)
    expect(Object.keys(JSON.parse(text).keys)).toHaveLength(6)
  })
})

describe('PERMANENT_VIA_REFERENCE with a vault that stores only references', () => {
  test('set takes the pointer (--exid), proves it resolves, and refuses one that does not', async () => {
    const human = make({ passphrase })
    const bad = await set(human, { key: 'BY_REF', env: 'prep', vault: 'test.ref', mech: 'PERMANENT_VIA_REFERENCE', exid: 'ref://team/missing' }).catch((e: unknown) => e)
    expect((bad as Error).message).toContain("the round trip through test.ref failed at step 'compare': test.ref returned nothing")
    const missingExid = await set(human, { key: 'BY_REF', env: 'prep', vault: 'test.ref', mech: 'PERMANENT_VIA_REFERENCE' }).catch((e: unknown) => e)
    expect((missingExid as Error).message).toBe('PERMANENT_VIA_REFERENCE stores a reference: say which item with `--exid`')
    const result = await set(human, { key: 'BY_REF', env: 'prep', vault: 'test.ref', mech: 'PERMANENT_VIA_REFERENCE', exid: 'ref://team/api-key' })
    expect(result).toMatchObject({ slug: 'acme.prep.BY_REF', vault: 'test.ref', grade: { protection: 'encrypted', duration: 'permanent' } })
    // a replica cannot be kept in a reference vault, nor a reference in os.secure
    const misplaced = (await set(human, { key: 'BY_REF', env: 'prep', vault: 'os.secure', mech: 'PERMANENT_VIA_REFERENCE', exid: 'x' }).catch((e: unknown) => e)) as KeyrackError
    expect(misplaced.message).toBe('mech PERMANENT_VIA_REFERENCE cannot take its source from vault os.secure')
    expect(misplaced.hint).toEqual(['use one of: --vault test.ref'])
  })

  test('only the host manifest knows the pointer: locked without the passphrase, unlocked with it (asked once)', async () => {
    await relock(make())
    const error = (await get(make(), { key: 'BY_REF', env: 'prep' }).catch((e: unknown) => e)) as KeyrackKeysUnavailableError
    expect(error.report[0]).toMatchObject({ state: 'locked', reason: 'set, but not unlocked' })
    asked = 0
    const result = await unlock(make({ passphrase }), { key: 'BY_REF', env: 'prep' })
    expect(asked).toBe(1)
    expect(result.unlocked.map((k) => [k.key, k.mech, k.vault])).toEqual([['BY_REF', 'PERMANENT_VIA_REFERENCE', 'test.ref']])
    expect((await get(make(), { key: 'BY_REF', env: 'prep' })).grants[0]!.key.secret).toBe('referenced-secret-1')
    // the inventory knows it has an exid, never the exid itself
    expect(readFileSync(join(dir, 'kr', 'inventory.human.json'), 'utf8')).not.toContain('ref://')
  })
})
