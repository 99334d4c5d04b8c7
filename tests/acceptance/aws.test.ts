/**
 * Short-lived AWS credentials through the compiled binary, against fakes that speak the real
 * protocols: the loopback AWS fake in its own process (IAM Identity Center portal and OIDC, STS,
 * SSM, the Actions OIDC token service) reached through AWS_ENDPOINT_URL_*, and the fake `aws` CLI
 * on PATH (writes the token cache where the real one does, records argv, fails on --sso-session).
 *
 * The "done": a new user blocked by the firewall for an AKIA key follows ONLY keyrack's
 * hints — each hint pasted as it is printed — to an AWS SSO profile and working short-lived
 * credentials (checked against STS, which verifies their signature).
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, Sandbox, withoutShellStatus, type RunResult } from '../helpers/harness.ts'
import { ENTER, onTerminal, type TerminalResult } from '../helpers/pty.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'
import { fakeAwsCalls, installFakeAws, startAwsFakeProcess, type AwsFakeProcess } from '../fakes/aws-process.ts'
import { awsEndpointEnv } from '../fakes/aws-server.ts'
import { createContext } from '../../src/context.ts'
import { callerIdentity } from '../../src/aws/clients.ts'

setDefaultTimeout(60_000)
beforeAll(ensureBinary, 120_000)

const noPty = skipFor('tool', 'AWS SSO guided set on a terminal (python3 pty)', missingTool('python3'))
const AKIA = 'AKIAIOSFODNN7EXAMPLE'
const AKIA_SECRET = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY'

let fake: AwsFakeProcess
const sandboxes: Sandbox[] = []
beforeAll(async () => {
  fake = await startAwsFakeProcess()
})
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup()
  fake.stop()
})

/** a sandbox whose PATH has the fake `aws` first and whose AWS endpoints are the fake's */
function awsSandbox(name: string): { sb: Sandbox; env: Record<string, string>; log: string } {
  const sb = new Sandbox(name)
  sandboxes.push(sb)
  const log = join(sb.dir, 'aws-argv.log')
  return { sb, log, env: { ...fake.env, PATH: `${installFakeAws(sb.dir)}:${process.env.PATH}`, FAKE_AWS_LOG: log } }
}

/** the hint lines of a failed run */
const hintsOf = (r: RunResult | TerminalResult): string[] => ('stderr' in r ? r.stderr : r.out).split(/\r?\n/).filter((l) => l.startsWith('keyrack: hint: ')).map((l) => l.slice('keyrack: hint: '.length))

/** the first `keyrack …` command in the hints matching `pattern`, as argv (hints are plain words) */
function pasted(r: RunResult | TerminalResult, pattern: RegExp): string[] {
  for (const line of hintsOf(r)) {
    const m = pattern.exec(line)
    if (m) return m[1]!.replace(/`/g, '').trim().split(/\s+/).slice(1)
  }
  throw new Error(`no hint matching ${pattern} in:\n${hintsOf(r).join('\n')}`)
}

const tokenCache = (sb: Sandbox, session: string) => join(sb.home, '.aws', 'sso', 'cache', `${createHash('sha1').update(session).digest('hex')}.json`)

/** the guided set's answers: start URL, region (default), session name (default), account, role, profile name (default) */
const GUIDED = (startUrl: string) => [
  { expect: 'start URL', send: `${startUrl}${ENTER}` },
  { expect: 'region [us-east-1]: ', send: ENTER },
  { expect: '[sso-session] section in ~/.aws/config) [', send: ENTER },
  { expect: 'which AWS account?', send: ENTER },
  { expect: 'which role in 111111111111?', send: ENTER },
  { expect: 'a name for the AWS profile', send: ENTER },
]

describe.skipIf(noPty)('a new user blocked for an AKIA key, following only the hints', () => {
  test('AKIA refused → the hinted set (guided, on a terminal) → the hinted unlock → working short-lived credentials', async () => {
    const { sb, env, log } = awsSandbox('kr-aws-done')
    sb.writeRepoManifest('org: acme\nenv.test:\n  - AWS_ACCESS_KEY_ID\n  - AWS_SECRET_ACCESS_KEY\n')
    const shell = { ...env, AWS_ACCESS_KEY_ID: AKIA, AWS_SECRET_ACCESS_KEY: AKIA_SECRET }

    // 1. the firewall refuses the long-lived key, and points somewhere
    const blocked = sb.run(['get', '--for', 'repo', '--env', 'test'], { env: shell })
    expect(blocked.code).toBe(5)
    expect(withoutShellStatus(blocked)).toBe('')
    const setArgv = pasted(blocked, /replace it with: (keyrack set .*)$/)
    expect(setArgv).toEqual(['set', '--key', 'AWS_PROFILE', '--env', 'test', '--vault', 'aws.config', '--mech', 'EPHEMERAL_VIA_AWS_SSO'])

    // 2. the manifest change, exactly as the hints word it
    const listing = hintsOf(blocked).map((l) => /list `- key: (\w+)` with `mech: (\w+)` under env\.(\w+) in place of (.+)$/.exec(l)).find(Boolean)!
    expect(listing[4]).toBe('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY')
    expect(hintsOf(blocked).some((l) => l.includes('add `with-credentials: true` to that entry'))).toBe(true)
    sb.writeRepoManifest(`org: acme\nenv.${listing[3]}:\n  - key: ${listing[1]}\n    mech: ${listing[2]}\n    with-credentials: true\n`)

    // 3. the pasted set: this machine has no keyrack yet, and the answer says how to create one
    const first = sb.run(setArgv, { env: shell })
    expect(first.code).toBe(8)
    const initArgv = pasted(first, /create it: (`keyrack init`)/)
    const init = onTerminal(sb, initArgv, [
      { expect: 'new passphrase for the keyrack identity', send: `pw-aws-1${ENTER}` },
      { expect: 'the same passphrase again', send: `pw-aws-1${ENTER}` },
    ], { env: shell })
    expect(init.code).toBe(0)

    // 4. the pasted set again, on a terminal: guided, one sign-in through a temporary profile
    const set = onTerminal(sb, setArgv, [...GUIDED(fake.startUrl), { expect: 'passphrase for the keyrack identity', send: `pw-aws-1${ENTER}` }], { env: shell, timeout: 30 })
    expect(set.missing).toBeNull()
    expect(set.code).toBe(0)
    expect(set.out).toContain('keyrack: set acme.test.AWS_PROFILE in aws.config via EPHEMERAL_VIA_AWS_SSO (grade reference,ephemeral); round trip verified')
    expect(fakeAwsCalls(log)).toEqual([['sso', 'login', '--profile', expect.stringMatching(/^keyrack-setup-\d+$/)]])
    const config = readFileSync(join(sb.home, '.aws', 'config'), 'utf8')
    expect(config).toContain('[profile d-9067c1a2b3.test.admin]\nsso_session = d-9067c1a2b3\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\n')

    // 5. get says it is locked, and who unlocks it
    const locked = sb.run(['get', '--for', 'repo', '--env', 'test'], { env: shell })
    expect(locked.code).toBe(4)
    const unlockArgv = pasted(locked, /ask a human to run (`keyrack unlock [^`]+`)/)
    const unlock = sb.run([...unlockArgv, '--passphrase-fd', '3'], { env: shell, fds: { 3: 'pw-aws-1\n' } })
    expect(unlock.code).toBe(0)
    // the sign-in is live: no second browser sign-in
    expect(fakeAwsCalls(log)).toHaveLength(1)

    // 6. the keys: AWS_PROFILE and, as the manifest asks, short-lived role credentials that work
    const got = sb.run(['get', '--for', 'repo', '--env', 'test'], { env: shell })
    expect(got.code).toBe(0)
    const exported = Object.fromEntries([...got.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]))
    expect(Object.keys(exported)).toEqual(['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    expect(exported.AWS_PROFILE).toBe('d-9067c1a2b3.test.admin')
    expect(exported.AWS_ACCESS_KEY_ID).toMatch(/^ASIA[0-9A-Z]{16}$/)
    const ctx = createContext({ environment: { HOME: sb.home, ...awsEndpointEnv(fake.url) } })
    const who = await callerIdentity(ctx, { region: 'us-east-1', credentials: { accessKeyId: exported.AWS_ACCESS_KEY_ID!, secretAccessKey: exported.AWS_SECRET_ACCESS_KEY!, sessionToken: exported.AWS_SESSION_TOKEN! } })
    expect(who.arn).toBe('arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice')

    // secrets stayed where they belong: the sign-in only in the AWS CLI's cache, credentials nowhere on disk or in argv
    const cacheFile = tokenCache(sb, 'd-9067c1a2b3')
    const token = JSON.parse(readFileSync(cacheFile, 'utf8')) as { accessToken: string; refreshToken: string }
    expect(sb.filesContaining(token.accessToken)).toEqual([cacheFile])
    for (const secret of [exported.AWS_SECRET_ACCESS_KEY!, exported.AWS_SESSION_TOKEN!]) expect(sb.filesContaining(secret)).toEqual([])
    for (const secret of [token.accessToken, token.refreshToken, exported.AWS_SECRET_ACCESS_KEY!]) {
      expect(fakeAwsCalls(log).flat().join(' ')).not.toContain(secret)
      expect(sb.transcript.slice(0, -2).join('\n')).not.toContain(secret)
    }
  }, 180_000)
})

describe('without a terminal', () => {
  let sb: Sandbox
  let env: Record<string, string>
  let log: string
  beforeAll(() => {
    ;({ sb, env, log } = awsSandbox('kr-aws-plain'))
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest('org: acme\nenv.test:\n  - key: AWS_PROFILE\n    mech: EPHEMERAL_VIA_AWS_SSO\n')
    mkdirSync(join(sb.home, '.aws'), { recursive: true })
    writeFileSync(
      join(sb.home, '.aws', 'config'),
      `[sso-session acme]\nsso_start_url = ${fake.startUrl}\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\n[profile acme-dev]\nsso_session = acme\nsso_account_id = 111111111111\nsso_role_name = ReadOnlyAccess\nregion = us-east-1\n`,
    )
  })

  test('the guided set needs a terminal: exit 2, naming the --exid form and the terminal form', () => {
    const r = sb.run(['set', '--key', 'AWS_PROFILE', '--env', 'test', '--vault', 'aws.config', '--mech', 'EPHEMERAL_VIA_AWS_SSO'], { env })
    expect(r.code).toBe(2)
    expect(hintsOf(r)).toContain('or name an SSO profile you already have: keyrack set --key AWS_PROFILE --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO --exid <profile>')
    expect(fakeAwsCalls(log)).toEqual([])
  })

  test('set --exid <existing profile> signs in (portal flow; its output on stderr only) and proves the round trip', () => {
    const r = sb.run(['set', '--key', 'AWS_PROFILE', '--env', 'test', '--vault', 'aws.config', '--mech', 'EPHEMERAL_VIA_AWS_SSO', '--exid', 'acme-dev'], { env })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Successfully logged into Start URL')
    expect(fakeAwsCalls(log)).toEqual([['sso', 'login', '--profile', 'acme-dev']])
  })

  test('unlock after the session ended signs in again with --profile; stdout stays shell code', async () => {
    await fake.endSessions()
    // the CLI's token says it is still good: keyrack asks AWS (GetRoleCredentials) rather than trust the cache
    const first = sb.run(['unlock', '--for', 'repo', '--env', 'test'], { env })
    expect(first.code).not.toBe(0)
    expect(first.stderr).toContain('was ended or revoked')
    // a token past its end (and no refresh that works) is a sign-in to redo: unlock does it
    const cache = tokenCache(sb, 'acme')
    const token = JSON.parse(readFileSync(cache, 'utf8'))
    writeFileSync(cache, JSON.stringify({ ...token, expiresAt: '2020-01-01T00:00:00Z' }), { mode: 0o600 })
    const r = sb.run(['unlock', '--for', 'repo', '--env', 'test'], { env })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^([A-Z_]+='[^']*'; export [A-Z_]+;\n)+$/)
    expect(r.stdout).not.toContain('Successfully')
    expect(r.stderr).toContain('Successfully logged into Start URL')
    expect(fakeAwsCalls(log).at(-1)).toEqual(['sso', 'login', '--profile', 'acme-dev'])
    expect(fakeAwsCalls(log).flat()).not.toContain('--sso-session')
    // one OAuth client registration for this session, ever: later sign-ins are the portal flow
    const registrations = (await fake.state()).events.filter((e) => e.op === 'oidc:RegisterClient' && e.clientName === 'botocore-client-acme')
    expect(registrations).toHaveLength(1)
  })

  test('get --with-credentials adds the role credentials; json names them; relock ends that one session', async () => {
    const plain = sb.run(['get', '--for', 'repo', '--env', 'test'], { env })
    expect(plain.stdout).toBe("export AWS_PROFILE='acme-dev'\n")
    const creds = sb.run(['get', '--key', 'AWS_PROFILE', '--env', 'test', '--with-credentials'], { env })
    expect(creds.stdout).toMatch(/^export AWS_PROFILE='acme-dev'\nexport AWS_ACCESS_KEY_ID='ASIA[0-9A-Z]{16}'\nexport AWS_SECRET_ACCESS_KEY='[^']+'\nexport AWS_SESSION_TOKEN='[^']+'\n$/)
    const json = JSON.parse(sb.run(['get', '--for', 'repo', '--env', 'test', '--with-credentials', '--output', 'json'], { env }).stdout)
    expect(Object.keys(json.keys[0].companions)).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    const cache = tokenCache(sb, 'acme')
    expect(existsSync(cache)).toBe(true)
    const relock = sb.run(['relock'], { env })
    expect(relock.code).toBe(0)
    expect(existsSync(cache)).toBe(false)
    expect((await fake.state()).events.filter((e) => e.op === 'sso:Logout').length).toBeGreaterThan(0)
  })
})

describe('GitHub Actions: OIDC → AWS credentials', () => {
  test('get --ci --output github-env masks first, appends the three variables, and is idempotent', () => {
    const { sb, env } = awsSandbox('kr-aws-oidc')
    sb.writeRepoManifest(
      'org: acme\nenv.test:\n  - key: AWS_PROFILE\n    mech: EPHEMERAL_VIA_AWS_SSO\n    is-optional-if-has: AWS_ACCESS_KEY_ID\n  - key: AWS_ACCESS_KEY_ID\n    mech: EPHEMERAL_VIA_GITHUB_OIDC\n    role-arn: arn:aws:iam::111111111111:role/acme-ci\n    is-optional-if-has: AWS_PROFILE\n',
    )
    const githubEnv = join(sb.dir, 'github_env')
    writeFileSync(githubEnv, '')
    const job = { ...env, ...fake.actionsEnv, GITHUB_ENV: githubEnv }
    const r = sb.run(['get', '--for', 'repo', '--env', 'test', '--ci', '--output', 'github-env'], { env: job })
    expect(r.code).toBe(0)
    const written = readFileSync(githubEnv, 'utf8')
    const value = (name: string) => new RegExp(`^${name}<<(\\S+)\\n([^\\n]*)\\n\\1$`, 'm').exec(written)?.[2] ?? new RegExp(`^${name}=(.*)$`, 'm').exec(written)?.[1]
    expect(value('AWS_ACCESS_KEY_ID')).toMatch(/^ASIA/)
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) expect(r.stdout).toContain(`::add-mask::${value(name)}`)
    expect(r.stderr).toContain('$GITHUB_ENV: 3 keys added (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)')
    // the next step has them in its environment (the runner reads $GITHUB_ENV): nothing new is minted or written
    const next = { ...job, AWS_ACCESS_KEY_ID: value('AWS_ACCESS_KEY_ID')!, AWS_SECRET_ACCESS_KEY: value('AWS_SECRET_ACCESS_KEY')!, AWS_SESSION_TOKEN: value('AWS_SESSION_TOKEN')! }
    const again = sb.run(['get', '--for', 'repo', '--env', 'test', '--ci', '--output', 'github-env'], { env: next })
    expect(again.code).toBe(0)
    expect(again.stderr).toContain('$GITHUB_ENV: 0 keys added, 1 already there')
    expect(readFileSync(githubEnv, 'utf8')).toBe(written)
  })

  test('a job without id-token: write fails with the permissions to add', () => {
    const { sb, env } = awsSandbox('kr-aws-oidc-perm')
    sb.writeRepoManifest('org: acme\nenv.test:\n  - key: AWS_ACCESS_KEY_ID\n    mech: EPHEMERAL_VIA_GITHUB_OIDC\n    role-arn: arn:aws:iam::111111111111:role/acme-ci\n')
    const r = sb.run(['get', '--for', 'repo', '--env', 'test', '--ci'], { env: { ...env, GITHUB_ACTIONS: 'true', CI: 'true' } })
    expect(r.code).toBe(4)
    expect(hintsOf(r)).toContain('add to the job (or the workflow): `permissions: { id-token: write, contents: read }`')
  })
})

describe.skipIf(noPty)('fill', () => {
  test('a key the repo declares ephemeral: fill offers EPHEMERAL_VIA_AWS_SSO first, its only vault, and the guided set', () => {
    const { sb, env } = awsSandbox('kr-aws-fill')
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest('org: acme\nenv.test:\n  - AWS_PROFILE: ephemeral\n')
    const r = onTerminal(sb, ['fill', '--env', 'test'], [{ expect: 'how should AWS_PROFILE become a usable key?', send: ENTER }, ...GUIDED(fake.startUrl)], { env, timeout: 30 })
    expect(r.missing).toBeNull()
    expect(r.code).toBe(0)
    // only ephemeral mechs are offered, AWS SSO first; the vault is not asked (only aws.config holds it)
    const offered = r.out.slice(r.out.indexOf('how should AWS_PROFILE'), r.out.indexOf('vault: aws.config'))
    expect(offered.indexOf('EPHEMERAL_VIA_AWS_SSO')).toBeGreaterThan(-1)
    expect(offered).not.toContain('PERMANENT_VIA_REPLICA')
    expect(r.out).toContain('keyrack: vault: aws.config (the one that holds EPHEMERAL_VIA_AWS_SSO')
    expect(r.out).toContain('env test is ready')
    expect(sb.run(['get', '--for', 'repo', '--env', 'test'], { env }).stdout).toBe("export AWS_PROFILE='d-9067c1a2b3.test.admin'\n")
  })
})
