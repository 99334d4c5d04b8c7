/**
 * AWS SSO through the SDK, against fakes that speak the real protocols: the loopback AWS fake
 * (IAM Identity Center portal and OIDC, STS) reached through AWS_ENDPOINT_URL_*, and the fake `aws`
 * CLI on PATH, which writes the token cache where the real one does and fails on `--sso-session`.
 * Time moves with the clock port (shared with the fake), never by sleeping.
 *
 *  - guided set: start URL and region asked, one sign-in through a temporary profile, accounts and
 *    roles listed and picked, `[profile]` + `[sso-session]` written with every other byte kept;
 *  - the round trip proves the profile (role credentials fetched fresh) without a second sign-in;
 *  - unlock signs in only when the session is over, refreshes a token that can be refreshed, and
 *    never uses `--sso-session`; the grant never outlives the sign-in;
 *  - get serves AWS_PROFILE, and the role credentials only when asked; they work against STS;
 *  - relock ends that one session (Logout + its cache file), leaving other sessions alone.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { init } from '../../src/sdk/init.ts'
import { set } from '../../src/sdk/set.ts'
import { unlock } from '../../src/sdk/unlock.ts'
import { get } from '../../src/sdk/get.ts'
import { relock } from '../../src/sdk/relock.ts'
import { callerIdentity } from '../../src/aws/clients.ts'
import { KeyrackKeysUnavailableError } from '../../src/sdk/errors.ts'
import { KeyrackNoTerminalError } from '../../src/domain/errors.ts'
import { awsEndpointEnv, startAwsFake, type AwsFake } from '../fakes/aws-server.ts'
import { fakeAwsCalls, installFakeAws } from '../fakes/aws-process.ts'
import { manualClock, scriptedPrompt } from '../fakes/ports.ts'

setDefaultTimeout(60_000)

const HOUR = 60 * 60_000
let dir: string
let fake: AwsFake
let clock: ReturnType<typeof manualClock>
let ctx: Context
let log: string
const config = () => join(dir, 'home', '.aws', 'config')
const ORIGINAL = '# my aws config: keep this comment\n[default]\nregion = eu-west-1\n\n; an old static profile\n[profile legacy]\nregion = us-west-2\ns3 =\n  max_concurrent_requests = 4\n'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyrack-aws-sso-'))
  const home = join(dir, 'home')
  mkdirSync(join(home, '.aws'), { recursive: true })
  mkdirSync(join(dir, 'repo', '.agent'), { recursive: true })
  mkdirSync(join(dir, 'repo', '.git'))
  writeFileSync(join(dir, 'repo', '.agent', 'keyrack.yml'), 'org: acme\nenv.test:\n  - key: AWS_PROFILE\n    mech: EPHEMERAL_VIA_AWS_SSO\n')
  writeFileSync(config(), ORIGINAL)
  clock = manualClock(Date.now())
  fake = startAwsFake({ now: clock })
  log = join(dir, 'aws-argv.log')
  const environment = {
    HOME: home,
    PATH: `${installFakeAws(dir)}:${process.env.PATH}`,
    XDG_RUNTIME_DIR: join(dir, 'run'),
    TMPDIR: join(dir, 'tmp'),
    FAKE_AWS_LOG: log,
    ...awsEndpointEnv(fake.url),
  }
  mkdirSync(environment.TMPDIR, { recursive: true })
  mkdirSync(environment.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 })
  ctx = createContext({ home: join(home, '.rhachet', 'keyrack'), cwd: join(dir, 'repo'), environment, now: clock })
  await init(ctx, { passphrase: false })
})

afterAll(async () => {
  await relock(ctx).catch(() => undefined)
  fake.stop()
  rmSync(dir, { recursive: true, force: true })
})

const ops = (name: string) => fake.events.filter((e) => e.op === name && !e.denied)
const logins = () => fakeAwsCalls(log).filter((argv) => argv[0] === 'sso' && argv[1] === 'login')

describe('guided set', () => {
  test('with no terminal it names the commands that work (the --exid form)', async () => {
    const mech = await ctx.mechs.load('EPHEMERAL_VIA_AWS_SSO')
    const error = await mech.ask!(ctx, { key: 'AWS_PROFILE', env: 'test' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyrackNoTerminalError)
    expect((error as KeyrackNoTerminalError).hint.join('\n')).toContain('keyrack set --key AWS_PROFILE --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO --exid <profile>')
  })

  test('asks, signs in once (portal flow), lists accounts and roles, writes the profile and keeps every other byte', async () => {
    const prompt = scriptedPrompt([fake.startUrl, 'us-east-1', 'acme', '111111111111', 'AdministratorAccess', 'acme.test.admin'])
    const mech = await ctx.mechs.load('EPHEMERAL_VIA_AWS_SSO')
    const { exid } = (await mech.ask!({ ...ctx, prompt }, { key: 'AWS_PROFILE', env: 'test' })) as { exid: string }
    expect(exid).toBe('acme.test.admin')
    expect(prompt.asked).toHaveLength(6)
    // one sign-in, through a temporary profile, never --sso-session
    expect(logins()).toHaveLength(1)
    expect(logins()[0]).toEqual(['sso', 'login', '--profile', expect.stringMatching(/^keyrack-setup-/)])
    expect(ops('oidc:RegisterClient')).toHaveLength(1)
    expect(ops('sso:ListAccounts').length).toBeGreaterThanOrEqual(2) // paginated
    const text = readFileSync(config(), 'utf8')
    expect(text.startsWith(ORIGINAL)).toBe(true)
    expect(text.slice(ORIGINAL.length)).toBe(
      '\n# IAM Identity Center sign-in, added by keyrack\n[sso-session acme]\nsso_start_url = ' + fake.startUrl + '\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\n' +
        '# AWS_PROFILE (env test), added by keyrack\n[profile acme.test.admin]\nsso_session = acme\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\nregion = us-east-1\n',
    )
    expect(text).not.toContain('keyrack-setup-')
  })

  test('set proves the round trip with fresh role credentials and no second sign-in', async () => {
    const before = ops('sso:GetRoleCredentials').length
    const result = await set(ctx, { key: 'AWS_PROFILE', env: 'test', vault: 'aws.config', mech: 'EPHEMERAL_VIA_AWS_SSO', exid: 'acme.test.admin' })
    expect(result).toMatchObject({ slug: 'acme.test.AWS_PROFILE', vault: 'aws.config', grade: { protection: 'reference', duration: 'ephemeral' } })
    expect(ops('sso:GetRoleCredentials').length).toBe(before + 1)
    expect(logins()).toHaveLength(1)
  })

  test('the alias aws.iam.sso is the same vault, recorded as aws.config', async () => {
    const result = await set(ctx, { key: 'AWS_PROFILE', env: 'test', vault: 'aws.iam.sso', mech: 'EPHEMERAL_VIA_AWS_SSO', exid: 'acme.test.admin' })
    expect(result.vault).toBe('aws.config')
  })

  test('a profile that is not an SSO profile is refused, naming the fix', async () => {
    const error = await set(ctx, { key: 'AWS_PROFILE', env: 'test', vault: 'aws.config', mech: 'EPHEMERAL_VIA_AWS_SSO', exid: 'legacy' }).catch((e: unknown) => e)
    expect(String((error as Error).message)).toContain('is not an IAM Identity Center (SSO) profile')
  })
})

describe('unlock and get', () => {
  test('unlock with a live sign-in does not sign in again; get serves AWS_PROFILE, credentials only when asked', async () => {
    const result = await unlock(ctx, { for: 'repo', env: 'test' })
    expect(result.unlocked.map((k) => k.key)).toEqual(['AWS_PROFILE'])
    expect(logins()).toHaveLength(1)
    const plain = await get(ctx, { for: 'repo', env: 'test' })
    expect(plain.grants[0]!.key.secret).toBe('acme.test.admin')
    expect(plain.grants[0]!.companions).toBeUndefined()
    const withCreds = await get(ctx, { for: 'repo', env: 'test', withCredentials: true })
    const secrets = withCreds.grants[0]!.companions!.secrets
    expect(secrets.AWS_ACCESS_KEY_ID).toMatch(/^ASIA[0-9A-Z]{16}$/)
    // they work: STS (signature checked by the fake) says who they are
    const who = await callerIdentity(ctx, { region: 'us-east-1', credentials: { accessKeyId: secrets.AWS_ACCESS_KEY_ID!, secretAccessKey: secrets.AWS_SECRET_ACCESS_KEY!, sessionToken: secrets.AWS_SESSION_TOKEN! } })
    expect(who.arn).toBe('arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice')
  })

  test('the grant never outlives the sign-in: it expires with the token', async () => {
    const granted = (await get(ctx, { for: 'repo', env: 'test' })).grants[0]!
    const token = JSON.parse(readFileSync(join(dir, 'home', '.aws', 'sso', 'cache', readdirSync(join(dir, 'home', '.aws', 'sso', 'cache')).find((f) => f === `${new Bun.CryptoHasher('sha1').update('acme').digest('hex')}.json`)!), 'utf8'))
    expect(granted.expiresAt).toBeLessThanOrEqual(Date.parse(token.expiresAt))
    expect(granted.expiresAt).toBeLessThan(clock() + 2 * HOUR)
  })

  test('a token near its end is refreshed (CreateToken refresh_token), not signed in again', async () => {
    clock.advance(HOUR - 60_000)
    await unlock(ctx, { for: 'repo', env: 'test' })
    expect(ops('oidc:CreateToken').filter((e) => e.grantType === 'refresh_token')).toHaveLength(1)
    expect(logins()).toHaveLength(1)
  })

  test('when the session is over, unlock signs in again with --profile (portal flow, no new client registration)', async () => {
    fake.endSessions()
    clock.advance(2 * HOUR)
    await unlock(ctx, { for: 'repo', env: 'test' })
    expect(logins()).toHaveLength(2)
    expect(logins()[1]).toEqual(['sso', 'login', '--profile', 'acme.test.admin'])
    expect(fakeAwsCalls(log).flat()).not.toContain('--sso-session')
    expect(ops('oidc:RegisterClient')).toHaveLength(1)
  })

  test('credentials asked for but run out before the key: the key is expired until an unlock brings fresh ones', async () => {
    // the daemon keeps real time: hand it a grant whose role credentials already ended
    const { connectDaemon } = await import('../../src/daemon/client.ts')
    const { daemonSocketPath } = await import('../../src/daemon/owner.ts')
    const connection = await connectDaemon({ socketPath: daemonSocketPath(ctx) })
    if (!connection.ok) throw new Error('no daemon')
    const held = (await connection.client.get(['acme.test.AWS_PROFILE'])).results[0]!
    if (held.state !== 'granted') throw new Error('not granted')
    await connection.client.put([{ ...held.grant, expiresAt: held.expiresAt, companions: { secrets: held.grant.companions!.secrets, expiresAt: Date.now() - 1 } }])
    connection.client.close()
    expect((await get(ctx, { for: 'repo', env: 'test' })).grants[0]!.key.secret).toBe('acme.test.admin')
    const error = (await get(ctx, { for: 'repo', env: 'test', withCredentials: true }).catch((e: unknown) => e)) as KeyrackKeysUnavailableError
    expect(error).toBeInstanceOf(KeyrackKeysUnavailableError)
    expect(error.report[0]).toMatchObject({ key: 'AWS_PROFILE', state: 'expired', reason: expect.stringContaining('AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) ran out'), hint: ['ask a human to run `keyrack unlock --for repo --env test`'] })
    // get --unlock (a human) unlocks again: fresh credentials, no sign-in (the session is live)
    const again = await get(ctx, { for: 'repo', env: 'test', withCredentials: true, unlock: true })
    expect(again.grants[0]!.companions!.secrets.AWS_ACCESS_KEY_ID).not.toBe(held.grant.companions!.secrets.AWS_ACCESS_KEY_ID)
    expect(logins()).toHaveLength(2)
  })
})

describe('relock', () => {
  test('ends that one SSO session: Logout and its cache file, nothing else', async () => {
    const cache = join(dir, 'home', '.aws', 'sso', 'cache')
    const other = join(cache, 'unrelated-session.json')
    writeFileSync(other, '{"startUrl":"https://other.awsapps.com/start"}', { mode: 0o600 })
    const tokenFile = join(cache, `${new Bun.CryptoHasher('sha1').update('acme').digest('hex')}.json`)
    expect(existsSync(tokenFile)).toBe(true)
    const result = await relock(ctx)
    expect(result.removed).toBe(1)
    expect(ops('sso:Logout')).toHaveLength(1)
    expect(existsSync(tokenFile)).toBe(false)
    expect(existsSync(other)).toBe(true)
    const error = await get(ctx, { for: 'repo', env: 'test' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyrackKeysUnavailableError)
  })
})
