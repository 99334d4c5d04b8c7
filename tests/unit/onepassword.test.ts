/**
 * The 1password vault through the SDK, against the fake `op` (tests/fakes/op.ts) on PATH:
 * the items keyrack creates (template on stdin, tagged, by id), what `del` removes and what it
 * only forgets, a re-set that leaves no old item, a failed round trip that leaves none either,
 * the scope the owner sets, sign-in without a terminal (the command to run, never a wait), a
 * session that ends mid-operation, and the session keyrack opened ended at relock. Every spawn
 * goes through the guarded port (a secret in argv fails the call), and the fake fails on one too.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { KeyrackNoTerminalError, KeyrackPolicyError, KeyrackUsageError, KeyrackVaultError } from '../../src/domain/errors.ts'
import type { SpawnRequest } from '../../src/ports.ts'
import { del } from '../../src/sdk/del.ts'
import { init } from '../../src/sdk/init.ts'
import { list } from '../../src/sdk/list.ts'
import { readPolicy, setPolicy } from '../../src/sdk/policy.ts'
import { OwnerSession } from '../../src/sdk/session.ts'
import { set } from '../../src/sdk/set.ts'
import onePassword, { itemTitle, parseReference } from '../../src/vaults/1password.ts'
import { installFakeOp, type FakeOp } from '../fakes/op.ts'
import { guardedSpawn, scriptedPrompt } from '../fakes/ports.ts'

setDefaultTimeout(60_000)

const REPLICA = 'PERMANENT_VIA_REPLICA'
const planted: string[] = []

/** a fresh owner (no passphrase: the identity is not what is tested here) and a fresh fake op */
async function machine(name: string, options: { signedIn?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `keyrack-1p-${name}-`))
  mkdirSync(join(dir, 'repo', '.git'), { recursive: true })
  const op = installFakeOp(dir)
  const env: Record<string, string | undefined> = { HOME: dir, PATH: `${op.binDir}:${process.env.PATH}`, ...op.env, ...(options.signedIn === false ? {} : op.signIn()) }
  const spawn = guardedSpawn(env, () => [...planted, op.password])
  const ctx = createContext({ home: join(dir, 'kr'), cwd: join(dir, 'repo'), environment: env, spawn })
  await init(ctx, { passphrase: false })
  return { dir, op, ctx, spawn, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
type Machine = Awaited<ReturnType<typeof machine>>

const secretOf = (label: string): string => {
  const secret = `1p-${label}-${crypto.randomUUID()}`
  planted.push(secret)
  return secret
}
const manifestEntry = async (ctx: Context, slug: string) => (await new OwnerSession(ctx).manifest()).keys[slug]

describe('set creates an item, get reads it, del removes it', () => {
  let m: Machine
  beforeAll(async () => void (m = await machine('create')))
  afterAll(() => m.cleanup())

  test('the item is an API Credential tagged keyrack, made from a template on stdin; the reference is by id', async () => {
    const secret = secretOf('xai')
    const result = await set(m.ctx, { key: 'XAI_API_KEY', env: 'test', org: 'acme', vault: '1password', mech: REPLICA, secret })
    expect(result.grade).toEqual({ protection: 'encrypted', duration: 'permanent' })
    const [item] = m.op.state().items
    expect(item).toMatchObject({ title: itemTitle('human', 'acme.test.XAI_API_KEY'), category: 'API_CREDENTIAL', tags: ['keyrack'], vault: { name: 'Private' } })
    expect(item!.fields.find((f) => f.id === 'credential')).toMatchObject({ type: 'CONCEALED', value: secret })
    const entry = await manifestEntry(m.ctx, 'acme.test.XAI_API_KEY')
    expect(entry).toMatchObject({ vault: '1password', mech: REPLICA, exid: `op://Private/${item!.id}/credential` })
    // the secret went on stdin: the create call has `-` and stdin, and no argv anywhere held it
    const create = m.op.calls().find((c) => c.argv[0] === 'item' && c.argv[1] === 'create')!
    expect(create).toEqual({ argv: ['item', 'create', '--format', 'json', '-'], stdin: true })
    expect(m.op.leaks()).toEqual([])
    expect(m.spawn.leaks).toEqual([])
    // and the round trip read it back by reference
    expect(m.op.calls().some((c) => c.argv.join(' ') === `read --no-newline ${entry!.exid}`)).toBe(true)
  })

  test('set again: a new item replaces the old one, which is deleted', async () => {
    const before = m.op.state().items.map((i) => i.id)
    await set(m.ctx, { key: 'XAI_API_KEY', env: 'test', org: 'acme', vault: '1password', mech: REPLICA, secret: secretOf('xai-2') })
    const after = m.op.state().items
    expect(after).toHaveLength(1)
    expect(before).not.toContain(after[0]!.id)
    expect((await manifestEntry(m.ctx, 'acme.test.XAI_API_KEY'))!.exid).toBe(`op://Private/${after[0]!.id}/credential`)
  })

  test('a round trip that fails leaves no item behind and the old key in place', async () => {
    const old = m.op.state().items[0]!
    // 1Password answers a different secret on the read back
    const lying = Object.assign(async (request: SpawnRequest) => {
      const result = await m.spawn(request)
      return request.argv[1] === 'read' ? { ...result, stdout: `${result.stdout}-changed` } : result
    }, { calls: m.spawn.calls, leaks: m.spawn.leaks })
    const error = await set({ ...m.ctx, spawn: lying }, { key: 'XAI_API_KEY', env: 'test', org: 'acme', vault: '1password', mech: REPLICA, secret: secretOf('xai-3') }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyrackVaultError)
    expect((error as Error).message).toContain("failed at step 'compare'")
    expect(m.op.state().items.map((i) => i.id)).toEqual([old.id])
    expect((await manifestEntry(m.ctx, 'acme.test.XAI_API_KEY'))!.exid).toBe(`op://Private/${old.id}/credential`)
  })

  test('del deletes the item keyrack created for the key', async () => {
    const result = await del(m.ctx, { key: 'XAI_API_KEY', env: 'test', org: 'acme' })
    expect(result.kept).toBeUndefined()
    expect(m.op.state().items).toEqual([])
    expect((await list(m.ctx)).keys).toEqual([])
  })

  test("del only forgets an item the user owns (keyrack did not create it), and says so", async () => {
    const id = m.op.addItem({ vault: 'Private', title: 'xai', fields: { credential: secretOf('users-own') } })
    const session = new OwnerSession(m.ctx)
    const kept = await onePassword.del(session, { slug: 'acme.test.OWN', exid: 'op://Private/xai/credential' })
    expect(kept).toEqual({ kept: 'the 1Password item at op://Private/xai/credential is yours and was left as it is (keyrack only forgot the reference)' })
    expect(m.op.state().items.map((i) => i.id)).toEqual([id])
    // an item keyrack made, but for another key, is not this key's to delete either
    const other = m.op.addItem({ vault: 'Private', title: itemTitle('human', 'acme.test.OTHER'), fields: { credential: secretOf('other') }, tags: ['keyrack'] })
    expect(await onePassword.del(session, { slug: 'acme.test.OWN', exid: `op://Private/${other}/credential` })).toHaveProperty('kept')
    expect(m.op.state().items).toHaveLength(2)
    expect(m.op.leaks()).toEqual([])
  })
})

describe('set --exid: a reference to an item the user already has', () => {
  let m: Machine
  beforeAll(async () => void (m = await machine('reference')))
  afterAll(() => m.cleanup())
  const REFERENCE = 'PERMANENT_VIA_REFERENCE'

  test('only the reference is recorded (checked to resolve first); no item is created', async () => {
    const secret = secretOf('anthropic')
    m.op.addItem({ vault: 'Shared', title: 'anthropic', fields: { credential: secret } })
    const result = await set(m.ctx, { key: 'ANTHROPIC_API_KEY', env: 'test', org: 'acme', vault: '1password', mech: REFERENCE, exid: 'op://Shared/anthropic/credential' })
    expect(result).toMatchObject({ vault: '1password', mech: REFERENCE, grade: { protection: 'encrypted', duration: 'permanent' } })
    expect(await manifestEntry(m.ctx, 'acme.test.ANTHROPIC_API_KEY')).toMatchObject({ exid: 'op://Shared/anthropic/credential', mech: REFERENCE })
    expect(m.op.state().items).toHaveLength(1)
    expect(m.op.count('item create')).toBe(0)
  })

  test('del forgets the reference and leaves the item, saying so', async () => {
    const result = await del(m.ctx, { key: 'ANTHROPIC_API_KEY', env: 'test', org: 'acme' })
    expect(result.kept).toBe('the 1Password item at op://Shared/anthropic/credential is yours and was left as it is (keyrack only forgot the reference)')
    expect(m.op.state().items).toHaveLength(1)
    expect(m.op.count('item delete')).toBe(0)
  })

  test('a reference that leads nowhere is refused with op\'s reason; nothing is recorded', async () => {
    const error = (await set(m.ctx, { key: 'NOPE_KEY', env: 'test', org: 'acme', vault: '1password', mech: REFERENCE, exid: 'op://Shared/nope/credential' }).catch((e: unknown) => e)) as KeyrackVaultError
    expect(error).toBeInstanceOf(KeyrackVaultError)
    expect(error.message).toBe('op://Shared/nope/credential does not lead to a secret: could not read secret \'op://Shared/nope/credential\': could not get item Shared/nope: "nope" isn\'t an item in the "Shared" vault. Specify the item with its UUID, name, or domain.')
    expect(error.hint[0]).toBe("copy the reference from 1Password: open the item, then the field's menu ▸ Copy Secret Reference")
    expect(await manifestEntry(m.ctx, 'acme.test.NOPE_KEY')).toBeUndefined()
  })

  test('the firewall reads what the reference leads to: a long-lived GitHub token is refused at set', async () => {
    m.op.addItem({ vault: 'Shared', title: 'gh', fields: { token: `ghp_${'R'.repeat(36)}` } })
    const error = (await set(m.ctx, { key: 'GITHUB_TOKEN', env: 'test', org: 'acme', vault: '1password', mech: REFERENCE, exid: 'op://Shared/gh/token' }).catch((e: unknown) => e)) as Error
    expect(error.constructor.name).toBe('KeyrackKeyBlockedError')
    expect(error.message).toBe('refusing to store a github classic personal access token (ghp_…), long-lived as GITHUB_TOKEN')
    expect(await manifestEntry(m.ctx, 'acme.test.GITHUB_TOKEN')).toBeUndefined()
    expect(m.op.state().items).toHaveLength(2)
  })

  test('the reference mech without --exid says both ways: point at an item, or let 1password keep the secret', async () => {
    const error = (await set(m.ctx, { key: 'K', env: 'test', org: 'acme', vault: '1password', mech: REFERENCE }).catch((e: unknown) => e)) as KeyrackUsageError
    expect(error.hint).toEqual([
      'keyrack set --key K --env test --vault 1password --mech PERMANENT_VIA_REFERENCE --exid <reference>',
      'or let 1password keep the secret itself: keyrack set --key K --env test --vault 1password --mech PERMANENT_VIA_REPLICA',
    ])
  })
})

describe('references', () => {
  test('only op://<vault>/<item>[/<section>]/<field>, and a refusal never repeats what was given', () => {
    expect(parseReference('op://Private/xai/credential')).toEqual({ vault: 'Private', item: 'xai', field: 'credential', text: 'op://Private/xai/credential' })
    expect(parseReference('op://Dev Vault/My Item/API/key')).toMatchObject({ vault: 'Dev Vault', section: 'API', field: 'key' })
    for (const bad of ['xai-pasted-secret-value', 'op://Vaulty/xai', 'op://Vaulty//credential', 'op://a/b/c/d/e', 'op://Vaulty/xai/one-time password?attribute=otp', 'op://Vaulty/-x/credential', 'op://Vaulty/xai/cre\ndential', 'op://Vaulty/{{x}}/f']) {
      const error = (() => {
        try {
          parseReference(bad)
        } catch (e) {
          return e as KeyrackUsageError
        }
      })()
      expect(error, bad).toBeInstanceOf(KeyrackUsageError)
      const said = `${error!.message}\n${error!.hint.join('\n')}`
      expect(said).not.toContain(bad.startsWith('op://') ? 'Vaulty' : bad)
    }
  })
})

describe('scope: the 1Password vaults keyrack may read', () => {
  let m: Machine
  beforeAll(async () => void (m = await machine('scope')))
  afterAll(() => m.cleanup())

  test('keyrack policy --scope keeps it in the host manifest (and the inventory, for display)', async () => {
    const result = await setPolicy(m.ctx, { scope: { '1password': ['Dev', 'Shared'] } })
    expect(result.stored.scope).toEqual({ '1password': ['Dev', 'Shared'] })
    expect(readPolicy(m.ctx).stored.scope).toEqual({ '1password': ['Dev', 'Shared'] })
    expect(await new OwnerSession(m.ctx).scope('1password')).toEqual(['Dev', 'Shared'])
    // a vault that holds only keyrack's keys has nothing to narrow; names are checked
    expect(setPolicy(m.ctx, { scope: { 'os.secure': ['x'] } })).rejects.toThrow("vault os.secure holds only keyrack's own keys")
    expect(setPolicy(m.ctx, { scope: { '1password': ['Dev/Prod'] } })).rejects.toThrow(KeyrackUsageError)
  })

  test('a new item goes into the first vault of the scope, and its reference names it', async () => {
    await set(m.ctx, { key: 'DEV_KEY', env: 'test', org: 'acme', vault: '1password', mech: REPLICA, secret: secretOf('dev') })
    const [item] = m.op.state().items
    expect(item!.vault.name).toBe('Dev')
    expect((await manifestEntry(m.ctx, 'acme.test.DEV_KEY'))!.exid).toBe(`op://Dev/${item!.id}/credential`)
  })

  test('a reference outside the scope is refused before op runs, with the two ways out', async () => {
    m.op.addItem({ vault: 'Private', title: 'personal', fields: { credential: secretOf('personal') } })
    const reads = m.op.count('read')
    const error = (await onePassword.get(new OwnerSession(m.ctx), { slug: 'acme.test.PERSONAL', exid: 'op://Private/personal/credential' }).catch((e: unknown) => e)) as KeyrackPolicyError
    expect(error).toBeInstanceOf(KeyrackPolicyError)
    expect(error.exitCode).toBe(10)
    expect(error.message).toBe("acme.test.PERSONAL points into the 1Password vault 'Private', outside the vaults keyrack may read (Dev, Shared)")
    expect(error.hint).toEqual([
      "point it at an item in 'Dev' or 'Shared': keyrack set --key PERSONAL --env test --vault 1password --mech PERMANENT_VIA_REFERENCE --exid 'op://Dev/<item>/<field>'",
      'or let keyrack read that vault too: `keyrack policy --scope 1password=Dev,Shared,Private`',
    ])
    expect(m.op.count('read')).toBe(reads)
  })

  test('an owner not created yet (an import about to create it) has no scope: its references read as they are', async () => {
    const ctx = createContext({ home: join(m.dir, 'nobody-yet'), cwd: join(m.dir, 'repo'), environment: { ...m.ctx.env }, spawn: m.spawn })
    expect(await new OwnerSession(ctx).scope('1password')).toBeNull()
    expect(await onePassword.get(new OwnerSession(ctx), { slug: 'acme.test.PERSONAL', exid: 'op://Private/personal/credential' })).toStartWith('1p-personal-')
  })

  test('lifting the scope (an empty list) lets keyrack read every vault again', async () => {
    const result = await setPolicy(m.ctx, { scope: { '1password': [] } })
    expect(result.stored.scope).toBeUndefined()
    expect(await onePassword.get(new OwnerSession(m.ctx), { slug: 'acme.test.PERSONAL', exid: 'op://Private/personal/credential' })).toStartWith('1p-personal-')
  })
})

describe('signing in', () => {
  let m: Machine
  beforeAll(async () => void (m = await machine('signin', { signedIn: false })))
  afterAll(() => m.cleanup())

  test('signed out with nobody at a terminal: the command to run first, and op signin is never started', async () => {
    const error = (await set(m.ctx, { key: 'K', env: 'test', org: 'acme', vault: '1password', mech: REPLICA, secret: secretOf('k') }).catch((e: unknown) => e)) as KeyrackNoTerminalError
    expect(error).toBeInstanceOf(KeyrackNoTerminalError)
    expect(error.message).toBe('1Password is not signed in, and there is no terminal here to sign in on')
    expect(error.hint).toEqual(['sign in to 1Password in this shell first: `eval "$(op signin)"`', 'then run the same keyrack command again in that shell'])
    expect(m.op.count('signin')).toBe(0)
    expect(m.op.state().items).toEqual([])
  })

  test('with a terminal, op signin runs there (op asks for the password, not keyrack), its session is used, then ended', async () => {
    // the fake reads the password from the terminal; here a test stands in for the terminal with
    // a spawn port that answers for op signin exactly as op prints when its stdout is not a TTY
    const token = m.op.signIn()[m.op.sessionVar]!
    planted.push(token)
    const seen: SpawnRequest[] = []
    const terminal = Object.assign(async (request: SpawnRequest) => {
      seen.push(request)
      if (request.argv[1] === 'signin') return { code: 0, stderr: '', stdout: `export ${m.op.sessionVar}="${token}"\n# This command is meant to be used with your shell's eval function.\n` }
      return m.spawn(request)
    }, { calls: m.spawn.calls, leaks: m.spawn.leaks })
    const ctx = { ...m.ctx, spawn: terminal, prompt: scriptedPrompt([]) }
    await set(ctx, { key: 'K', env: 'test', org: 'acme', vault: '1password', mech: REPLICA, secret: secretOf('k2') })
    const signin = seen.find((r) => r.argv[1] === 'signin')!
    expect(signin).toMatchObject({ argv: ['op', 'signin'], terminal: true })
    expect(signin.stdin).toBeUndefined()
    // the session went to the later calls through their environment, never their argv
    const after = seen.slice(seen.indexOf(signin) + 1)
    expect(after.map((r) => r.argv.slice(1, 3).join(' '))).toEqual(['whoami', 'item create', 'read --no-newline', 'signout'])
    for (const request of after) {
      expect(request.env?.[m.op.sessionVar]).toBe(token)
      expect(request.argv.join(' ')).not.toContain(token)
    }
    // relock ended it: the fake no longer knows the token
    expect(Object.keys(m.op.state().sessions)).not.toContain(token)
    expect(m.op.leaks()).toEqual([])
  })

  test('a session the user opened is never ended by keyrack', async () => {
    const mine = m.op.signIn()
    const ctx = { ...m.ctx, env: { ...m.ctx.env, ...mine }, spawn: guardedSpawn({ ...m.ctx.env, ...mine }, () => planted) }
    await set(ctx, { key: 'K2', env: 'test', org: 'acme', vault: '1password', mech: REPLICA, secret: secretOf('k3') })
    expect(Object.keys(m.op.state().sessions)).toContain(mine[m.op.sessionVar]!)
    expect(m.op.count('signout')).toBe(1)
  })

  test('a session that ends mid-operation, with nobody at a terminal: the command to run, never a hang', async () => {
    const mine = m.op.signIn()
    const ctx = { ...m.ctx, env: { ...m.ctx.env, ...mine }, spawn: guardedSpawn({ ...m.ctx.env, ...mine }, () => planted) }
    const session = new OwnerSession(ctx)
    await onePassword.unlock(session)
    m.op.expireSessions()
    const exid = (await manifestEntry(ctx, 'acme.test.K2'))!.exid
    const error = (await onePassword.get(session, { slug: 'acme.test.K2', exid }).catch((e: unknown) => e)) as KeyrackNoTerminalError
    expect(error).toBeInstanceOf(KeyrackNoTerminalError)
    expect(error.message).toBe('the 1Password session ended while keyrack was using it')
    expect(error.hint[0]).toBe('sign in to 1Password in this shell first: `eval "$(op signin)"`')
  })
})

describe('the fake op itself (tests/fakes/op.ts)', () => {
  test("fails a call whose argv carries a secret it holds, answers op's errors, and records every call", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyrack-fake-op-'))
    try {
      const op = installFakeOp(dir)
      const secret = secretOf('fake')
      const id = op.addItem({ vault: 'Private', title: 'held', fields: { credential: secret } })
      const env = { ...process.env, PATH: `${op.binDir}:${process.env.PATH}`, ...op.env }
      const run = (args: string[], extra: Record<string, string> = {}) => Bun.spawnSync(['op', ...args], { env: { ...env, ...extra }, stdin: 'ignore' })
      // signed out: op's words and exit 1
      const out = run(['read', `op://Private/${id}/credential`])
      expect(out.exitCode).toBe(1)
      expect(out.stderr.toString()).toMatch(/^\[ERROR\] \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d could not read secret 'op:\/\/Private\/\w+\/credential': error initializing client: You are not currently signed in\./)
      expect(run(['whoami']).stderr.toString()).toContain('account is not signed in')
      const session = op.signIn()
      expect(run(['read', '--no-newline', `op://Private/${id}/credential`], session).stdout.toString()).toBe(secret)
      expect(run(['read', 'op://Private/nope/credential'], session).stderr.toString()).toContain(`"nope" isn't an item in the "Private" vault. Specify the item with its UUID, name, or domain.`)
      expect(run(['read', '--bogus', 'x'], session).stderr.toString()).toContain('unknown flag: --bogus')
      // a held secret in argv (an assignment statement, as op allows and keyrack never uses)
      const leaked = run(['item', 'create', '--vault', 'Private', `credential[password]=${secret}`], session)
      expect(leaked.exitCode).toBe(97)
      expect(op.leaks()).toEqual(['the value of held/credential appeared in argv'])
      // so is a live session token
      expect(run(['item', 'get', session[op.sessionVar]!], session).exitCode).toBe(97)
      expect(op.calls().map((c) => c.argv[0])).toEqual(['read', 'whoami', 'read', 'read', 'read', 'item', 'item'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
