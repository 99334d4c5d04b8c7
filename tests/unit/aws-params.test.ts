/**
 * aws.params through the SDK, against the loopback AWS fake's SSM (JSON 1.1, SigV4 checked with
 * the credentials the fake issued): the AWS identity is an AWS SSO profile keyrack holds, so the
 * role credentials come from the cached sign-in, fetched fresh.
 *
 *  - set records where the parameter is and how it is reached (name, profile, region);
 *  - unlock reads it into the daemon (signing in again only when the SSO session is over), get serves it;
 *  - a teammate (another owner) reaches the same parameter by pointing at it;
 *  - a secret over SSM's 4 KiB is refused before anything is stored;
 *  - a failed round trip puts a team's parameter back instead of deleting it.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { KeyrackSecretInvalidError } from '../../src/domain/errors.ts'
import { init } from '../../src/sdk/init.ts'
import { set } from '../../src/sdk/set.ts'
import { unlock } from '../../src/sdk/unlock.ts'
import { get } from '../../src/sdk/get.ts'
import { relock } from '../../src/sdk/relock.ts'
import { mechRegistry } from '../../src/mechs/index.ts'
import { builtinMechs } from '../../src/mechs/index.ts'
import type { Mech } from '../../src/mechs/mech.ts'
import { awsEndpointEnv, startAwsFake, type AwsFake } from '../fakes/aws-server.ts'
import { fakeAwsCalls, installFakeAws } from '../fakes/aws-process.ts'

setDefaultTimeout(60_000)

let dir: string
let fake: AwsFake
let ctx: Context
let log: string
const contexts: Context[] = []

function context(owner: string, extra: Record<string, string> = {}): Context {
  const home = join(dir, 'home')
  const made = createContext({
    owner,
    home: join(home, '.rhachet', 'keyrack'),
    cwd: join(dir, 'repo'),
    environment: { HOME: home, PATH: `${installFakeAws(dir)}:${process.env.PATH}`, XDG_RUNTIME_DIR: join(dir, 'run'), TMPDIR: join(dir, 'tmp'), FAKE_AWS_LOG: log, ...awsEndpointEnv(fake.url), ...extra },
  })
  contexts.push(made)
  return made
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyrack-aws-params-'))
  log = join(dir, 'aws-argv.log')
  fake = startAwsFake()
  mkdirSync(join(dir, 'home', '.aws'), { recursive: true })
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 })
  mkdirSync(join(dir, 'repo', '.agent'), { recursive: true })
  mkdirSync(join(dir, 'repo', '.git'))
  writeFileSync(join(dir, 'repo', '.agent', 'keyrack.yml'), 'org: acme\nenv.test:\n  - XAI_API_KEY\n')
  // the team's SSO profile (as a guided set would have written it); the sign-in is not cached yet
  writeFileSync(
    join(dir, 'home', '.aws', 'config'),
    `[sso-session acme]\nsso_start_url = ${fake.startUrl}\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\n[profile acme.test.admin]\nsso_session = acme\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\nregion = us-east-1\n`,
  )
  ctx = context('human')
  await init(ctx, { passphrase: false })
})

afterAll(async () => {
  for (const c of contexts) await relock(c).catch(() => undefined)
  fake.stop()
  rmSync(dir, { recursive: true, force: true })
})

const PLACE = '/keyrack/acme/test/XAI_API_KEY?profile=acme.test.admin&region=us-east-1'
const SECRET = `xai-${'k'.repeat(80)}`

describe('aws.params', () => {
  test('set signs in (portal flow), stores a SecureString with the SSO role, and records name, profile and region', async () => {
    const result = await set(ctx, { key: 'XAI_API_KEY', env: 'test', vault: 'aws.params', mech: 'PERMANENT_VIA_REPLICA', secret: SECRET, exid: '/keyrack/acme/test/XAI_API_KEY?profile=acme.test.admin' })
    expect(result).toMatchObject({ vault: 'aws.params', grade: { protection: 'encrypted', duration: 'permanent' } })
    expect(fakeAwsCalls(log)).toEqual([['sso', 'login', '--profile', 'acme.test.admin']])
    const put = fake.events.find((e) => e.op === 'ssm:PutParameter' && !e.denied)!
    expect(put).toMatchObject({ name: '/keyrack/acme/test/XAI_API_KEY', arn: expect.stringContaining('AWSReservedSSO_AdministratorAccess') })
    expect(fake.parameters.get('111111111111:/keyrack/acme/test/XAI_API_KEY')).toMatchObject({ type: 'SecureString', value: SECRET })
    const { list } = await import('../../src/sdk/list.ts')
    expect(JSON.stringify(await list(ctx))).not.toContain(SECRET)
  })

  test('get does not reach AWS: the key is locked until an unlock reads it into the daemon', async () => {
    const before = fake.events.length
    const error = await get(ctx, { for: 'repo', env: 'test' }).catch((e: { report?: { state: string }[] }) => e)
    expect((error as { report: { state: string }[] }).report[0]!.state).toBe('locked')
    expect(fake.events.length).toBe(before)
    await unlock(ctx, { for: 'repo', env: 'test' })
    expect(fake.events.slice(before).map((e) => e.op)).toContain('ssm:GetParameter')
    expect((await get(ctx, { for: 'repo', env: 'test' })).grants[0]!.key.secret).toBe(SECRET)
  })

  test('a teammate points at the same parameter (a reference: nothing is written) and reads it', async () => {
    // a reference mech the registry may not carry yet: the vault's pointer form is what is tested
    const reference: Mech = { id: 'PERMANENT_VIA_REFERENCE', duration: 'permanent', description: 'a pointer the vault resolves', source: 'exid', toKey: async (_c, { source }) => ({ secret: source }) }
    const mate = { ...context('mate'), mechs: mechRegistry({ PERMANENT_VIA_REPLICA: () => builtinMechs.load('PERMANENT_VIA_REPLICA'), PERMANENT_VIA_REFERENCE: async () => reference }) }
    await init(mate, { passphrase: false })
    const puts = fake.events.filter((e) => e.op === 'ssm:PutParameter').length
    await set(mate, { key: 'XAI_API_KEY', env: 'test', vault: 'aws.params', mech: 'PERMANENT_VIA_REFERENCE', exid: PLACE })
    expect(fake.events.filter((e) => e.op === 'ssm:PutParameter').length).toBe(puts)
    await unlock(mate, { for: 'repo', env: 'test' })
    expect((await get(mate, { for: 'repo', env: 'test' })).grants[0]!.key.secret).toBe(SECRET)
  })

  test('a secret over 4 KiB is refused before anything is stored', async () => {
    const puts = fake.events.filter((e) => e.op === 'ssm:PutParameter').length
    const error = await set(ctx, { key: 'BIG', env: 'test', vault: 'aws.params', mech: 'PERMANENT_VIA_REPLICA', secret: 'x'.repeat(5000), exid: '/keyrack/acme/test/BIG?profile=acme.test.admin' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyrackSecretInvalidError)
    expect((error as Error).message).toContain('at most 4096 bytes')
    expect(fake.events.filter((e) => e.op === 'ssm:PutParameter').length).toBe(puts)
  })

  test("a failed round trip puts a team's parameter back, never deletes it", async () => {
    // a mech that refuses what it is given: the round trip fails at 'mint', after the store
    const refusing: Mech = { id: 'PERMANENT_VIA_REPLICA', duration: 'permanent', description: 'refuses', source: 'secret', toKey: async () => Promise.reject(new Error('refused')) }
    const broken = { ...context('broken'), mechs: mechRegistry({ PERMANENT_VIA_REPLICA: async () => refusing }) }
    await init(broken, { passphrase: false })
    const error = await set(broken, { key: 'XAI_API_KEY', env: 'test', vault: 'aws.params', mech: 'PERMANENT_VIA_REPLICA', secret: 'xai-rotated-but-broken', exid: PLACE }).catch((e: unknown) => e)
    expect((error as Error).message).toContain("failed at step 'mint'")
    expect(fake.parameters.get('111111111111:/keyrack/acme/test/XAI_API_KEY')?.value).toBe(SECRET)
  })
})
