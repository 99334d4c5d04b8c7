/**
 * `keyrack.fillPlan({ env })` in-process: each allowlisted key's state and the exact command that
 * makes it granted (set / unlock / replace), typed, never a secret, never printing; a protected
 * identity hides "never set" behind `locked` unless a passphrase source is given.
 */
import { afterAll, describe, expect, spyOn, test, setDefaultTimeout } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keyrack, KeyrackUsageError, type FillPlan, type KeyrackOptions } from 'keyrack'
import { createRuntimeDir } from '../helpers/runtime-dir.ts'

setDefaultTimeout(30_000)
const dir = mkdtempSync(join(tmpdir(), 'keyrack-fillplan-'))
const repo = join(dir, 'repo')
mkdirSync(join(repo, '.git'), { recursive: true })
mkdirSync(join(repo, '.agent'), { recursive: true })
writeFileSync(
  join(repo, '.agent', 'keyrack.yml'),
  ['org: acme', 'env.all:', '  - SHARED', 'env.test:', '  - key: ALPHA', '    mech: PERMANENT_VIA_REPLICA', '  - BETA', '  - LEAKY', '  - key: SSO', '    mech: EPHEMERAL_VIA_AWS_SSO', 'env.prod: []', ''].join('\n'),
)
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const ENVIRONMENT = { HOME: dir, PATH: process.env.PATH, XDG_RUNTIME_DIR: createRuntimeDir(dir) }
const opts = (home: string, extra: Partial<KeyrackOptions> = {}) => ({ home, cwd: repo, environment: ENVIRONMENT, ...extra }) satisfies KeyrackOptions
const REPLICA = { vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA' }
const byKey = (plan: FillPlan) => Object.fromEntries(plan.keys.map((k) => [k.key, k]))

describe('keyrack.fillPlan', () => {
  test('an owner with no keyrack: every key absent, init comes first', async () => {
    const plan = await keyrack.fillPlan({ ...opts(join(dir, 'none')), env: 'test' })
    expect(plan).toMatchObject({ env: 'test', owner: 'human', initialized: false, ready: false, absent: ['ALPHA', 'BETA', 'LEAKY', 'SSO', 'SHARED'], locked: [], blocked: [] })
    expect(plan.commands[0]).toBe('keyrack init')
  })

  test('states and exact commands: granted, absent (required mech with its own vault, chosen mech, env.all), blocked; no secret anywhere', async () => {
    const home = join(dir, 'open')
    await keyrack.init({ ...opts(home), passphrase: false })
    await keyrack.set({ ...opts(home), key: 'ALPHA', env: 'test', ...REPLICA, secret: 'alpha-secret-1' })
    await keyrack.set({ ...opts(home), key: 'LEAKY', env: 'test', vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', secret: 'leaky-secret-2' })
    // a long-lived AWS key that reached os.direct by hand: get blocks it, so the plan says replace
    const directFile = join(home, 'direct.human.json')
    const direct = JSON.parse(await Bun.file(directFile).text())
    direct['acme.test.LEAKY'].secret = 'AKIAIOSFODNN7EXAMPLE'
    writeFileSync(directFile, JSON.stringify(direct), { mode: 0o600 })

    const writes: string[] = []
    const spies = [spyOn(process.stdout, 'write'), spyOn(process.stderr, 'write')].map((s) => s.mockImplementation((chunk: unknown) => (writes.push(String(chunk)), true)))
    const plan = await keyrack.fillPlan({ ...opts(home), env: 'test' }).finally(() => spies.forEach((s) => s.mockRestore()))
    expect(writes).toEqual([])

    const k = byKey(plan)
    expect(plan).toMatchObject({ initialized: true, ready: false, absent: ['BETA', 'SSO', 'SHARED'], locked: [], blocked: ['LEAKY'] })
    expect(k.ALPHA).toMatchObject({ state: 'granted', action: 'none', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', grade: { protection: 'encrypted', duration: 'permanent' }, requiredMech: 'PERMANENT_VIA_REPLICA' })
    expect(k.BETA).toMatchObject({ state: 'absent', action: 'set', setEnv: 'test', fillable: true, setCommand: 'keyrack set --key BETA --env test --vault os.secure --mech <mech>' })
    expect(k.SHARED).toMatchObject({ state: 'absent', setEnv: 'all', setCommand: 'keyrack set --key SHARED --env all --vault os.secure --mech <mech>' })
    // AWS SSO profiles live only in aws.config: the command names that vault
    expect(k.SSO).toMatchObject({ state: 'absent', fillable: true, requiredMech: 'EPHEMERAL_VIA_AWS_SSO', setCommand: 'keyrack set --key SSO --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO' })
    expect(k.LEAKY).toMatchObject({ state: 'blocked', action: 'replace' })
    expect(k.LEAKY!.hint.join('\n')).toContain('EPHEMERAL_VIA_AWS_SSO')
    expect(plan.commands).toEqual([k.BETA!.setCommand!, k.SSO!.setCommand!, k.SHARED!.setCommand!])
    const text = JSON.stringify(plan)
    for (const secret of ['alpha-secret-1', 'AKIAIOSFODNN7EXAMPLE']) expect(text).not.toContain(secret)

    // --vault / --mech choices show in the commands; a mech the repo requires wins over --mech
    const chosen = byKey(await keyrack.fillPlan({ ...opts(home), env: 'test', vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA' }))
    expect(chosen.BETA!.setCommand).toBe('keyrack set --key BETA --env test --vault os.direct --mech PERMANENT_VIA_REPLICA')
    expect(chosen.SSO!.setCommand).toBe('keyrack set --key SSO --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO')
  })

  test('a protected identity: the inventory tells absent from locked without the passphrase', async () => {
    const home = join(dir, 'locked')
    const passphrase = async ({ attempt }: { attempt: number }) => (attempt > 1 ? null : 'pw-fill-1')
    await keyrack.init({ ...opts(home), passphrase })
    await keyrack.set({ ...opts(home, { passphrase }), key: 'ALPHA', env: 'test', ...REPLICA, secret: 'alpha-secret-1' })

    const blind = await keyrack.fillPlan({ ...opts(home), env: 'test' })
    expect(blind.locked).toEqual(['ALPHA'])
    expect(blind.absent).toEqual(['BETA', 'LEAKY', 'SSO', 'SHARED'])
    expect(blind.keys.some((k) => k.maybeAbsent)).toBe(false)
    expect(blind.unlockCommand).toBe('keyrack unlock --for repo --env test')
  })

  test('keys set before the inventory existed: uncertain without a passphrase; one passphrase writes the inventory', async () => {
    const home = join(dir, 'legacy')
    const passphrase = async ({ attempt }: { attempt: number }) => (attempt > 1 ? null : 'pw-fill-2')
    await keyrack.init({ ...opts(home), passphrase })
    await keyrack.set({ ...opts(home, { passphrase }), key: 'ALPHA', env: 'test', ...REPLICA, secret: 'alpha-secret-1' })
    rmSync(join(home, 'inventory.human.json'))

    const blind = await keyrack.fillPlan({ ...opts(home), env: 'test' })
    expect(blind.absent).toEqual([])
    expect(blind.locked).toEqual(['ALPHA', 'BETA', 'LEAKY', 'SSO', 'SHARED'])
    expect(blind.keys.every((k) => k.maybeAbsent)).toBe(true)

    let asked = 0
    const seeing = await keyrack.fillPlan({ ...opts(home, { passphrase: async (r) => (asked++, passphrase(r)) }), env: 'test' })
    expect(asked).toBe(1)
    expect(seeing.locked).toEqual(['ALPHA'])
    expect(seeing.absent).toEqual(['BETA', 'LEAKY', 'SSO', 'SHARED'])
    expect(seeing.keys.some((k) => k.maybeAbsent)).toBe(false)
    expect(seeing.commands.at(-1)).toBe('keyrack unlock --for repo --env test')
    // and from now on a robot sees the same, with no passphrase at all
    expect((await keyrack.fillPlan({ ...opts(home), env: 'test' })).absent).toEqual(['BETA', 'LEAKY', 'SSO', 'SHARED'])
  })

  test('a bad env is a typed error, as in get', async () => {
    const error = await keyrack.fillPlan({ home: join(dir, 'none'), cwd: repo, environment: ENVIRONMENT }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyrackUsageError)
    expect((error as Error).message).toContain('say which env')
  })
})
