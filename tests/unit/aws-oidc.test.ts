/**
 * EPHEMERAL_VIA_GITHUB_OIDC through the SDK in CI mode, in an Actions-like environment: the job's
 * OIDC token comes from the token service the loopback fake serves (ACTIONS_ID_TOKEN_REQUEST_URL
 * and _TOKEN, as a runner sets them for `id-token: write`), and the fake STS accepts only a JWT it
 * signed, for the audience sts.amazonaws.com, from a subject the role trusts.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { get } from '../../src/sdk/get.ts'
import { callerIdentity } from '../../src/aws/clients.ts'
import { KeyrackKeysUnavailableError } from '../../src/sdk/errors.ts'
import { KeyrackManifestInvalidError } from '../../src/domain/errors.ts'
import { awsEndpointEnv, startAwsFake, type AwsFake } from '../fakes/aws-server.ts'

setDefaultTimeout(30_000)

let dir: string
let fake: AwsFake
const MANIFEST = [
  'org: acme',
  'env.test:',
  '  - key: AWS_PROFILE',
  '    mech: EPHEMERAL_VIA_AWS_SSO',
  '    is-optional-if-has: AWS_ACCESS_KEY_ID',
  '  - key: AWS_ACCESS_KEY_ID',
  '    mech: EPHEMERAL_VIA_GITHUB_OIDC',
  '    role-arn: arn:aws:iam::111111111111:role/acme-ci',
  '    is-optional-if-has: AWS_PROFILE',
  '',
].join('\n')

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyrack-aws-oidc-'))
  mkdirSync(join(dir, 'repo', '.agent'), { recursive: true })
  mkdirSync(join(dir, 'repo', '.git'))
  writeFileSync(join(dir, 'repo', '.agent', 'keyrack.yml'), MANIFEST)
  fake = startAwsFake()
})
afterAll(() => {
  fake.stop()
  rmSync(dir, { recursive: true, force: true })
})

const ctxWith = (env: Record<string, string | undefined>): Context =>
  createContext({ home: join(dir, 'kr'), cwd: join(dir, 'repo'), environment: { HOME: dir, PATH: process.env.PATH, ...awsEndpointEnv(fake.url), GITHUB_RUN_ID: '4242', ...env } })

describe('EPHEMERAL_VIA_GITHUB_OIDC', () => {
  test('in a job with id-token: write, the OIDC token becomes the role credentials (always with their companions)', async () => {
    const result = await get(ctxWith(fake.actionsEnv()), { for: 'repo', env: 'test', ci: true })
    const report = Object.fromEntries(result.report.map((r) => [r.key, r]))
    expect(report.AWS_PROFILE!.optional).toBe(true)
    const grant = report.AWS_ACCESS_KEY_ID!.grant!
    expect(grant).toMatchObject({ mech: 'EPHEMERAL_VIA_GITHUB_OIDC', key: { grade: { protection: 'reference', duration: 'ephemeral' } } })
    expect(grant.key.secret).toMatch(/^ASIA[0-9A-Z]{16}$/)
    expect(Object.keys(grant.companions!.secrets)).toEqual(['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    expect(grant.expiresAt).toBeGreaterThan(Date.now())
    expect(fake.events.find((e) => e.op === 'actions:token')).toMatchObject({ audience: 'sts.amazonaws.com' })
    expect(fake.events.find((e) => e.op === 'sts:AssumeRoleWithWebIdentity' && !e.denied)).toMatchObject({ roleArn: 'arn:aws:iam::111111111111:role/acme-ci', sub: 'repo:acme/app:ref:refs/heads/main' })
    const who = await callerIdentity(ctxWith({}), { region: 'us-east-1', credentials: { accessKeyId: grant.key.secret, secretAccessKey: grant.companions!.secrets.AWS_SECRET_ACCESS_KEY!, sessionToken: grant.companions!.secrets.AWS_SESSION_TOKEN! } })
    expect(who.arn).toBe('arn:aws:sts::111111111111:assumed-role/acme-ci/keyrack-4242-1')
  })

  test('credentials already in the job environment win (idempotent: no second exchange)', async () => {
    const first = (await get(ctxWith(fake.actionsEnv()), { for: 'repo', env: 'test', ci: true })).grants[0]!
    const exchanges = fake.events.filter((e) => e.op === 'sts:AssumeRoleWithWebIdentity').length
    const env = { ...fake.actionsEnv(), AWS_ACCESS_KEY_ID: first.key.secret, ...first.companions!.secrets }
    const again = await get(ctxWith(env), { for: 'repo', env: 'test', ci: true })
    expect(again.grants[0]!.key.secret).toBe(first.key.secret)
    expect(fake.events.filter((e) => e.op === 'sts:AssumeRoleWithWebIdentity').length).toBe(exchanges)
  })

  test('a job without id-token: write is told the permissions to add', async () => {
    const { ACTIONS_ID_TOKEN_REQUEST_URL: _u, ACTIONS_ID_TOKEN_REQUEST_TOKEN: _t, ...noPermission } = fake.actionsEnv()
    const error = (await get(ctxWith(noPermission), { for: 'repo', env: 'test', ci: true }).catch((e: unknown) => e)) as KeyrackKeysUnavailableError
    expect(error).toBeInstanceOf(KeyrackKeysUnavailableError)
    const report = error.report.find((r) => r.key === 'AWS_ACCESS_KEY_ID')!
    expect(report).toMatchObject({ state: 'absent', reason: expect.stringContaining('does not grant `id-token: write`') })
    expect(report.hint.join('\n')).toContain('permissions: { id-token: write, contents: read }')
  })

  test('a role that does not trust this repo is refused by STS, and the hint names the trust policy', async () => {
    const other = startAwsFake({ oidcSubject: 'repo:someone-else/app:ref:refs/heads/main' })
    try {
      const ctx = createContext({ home: join(dir, 'kr'), cwd: join(dir, 'repo'), environment: { HOME: dir, ...awsEndpointEnv(other.url), ...other.actionsEnv() } })
      const error = (await get(ctx, { for: 'repo', env: 'test', ci: true }).catch((e: unknown) => e)) as KeyrackKeysUnavailableError
      const report = error.report.find((r) => r.key === 'AWS_ACCESS_KEY_ID')!
      expect(report.reason).toContain('STS refused to let this job assume arn:aws:iam::111111111111:role/acme-ci: AccessDenied')
      expect(report.hint.join('\n')).toContain("trust policy must trust token.actions.githubusercontent.com")
    } finally {
      other.stop()
    }
  })

  test('outside CI the key is not minted; AWS_PROFILE stands in for it (is-optional-if-has)', async () => {
    const tokens = fake.events.filter((e) => e.op === 'actions:token').length
    const error = (await get(ctxWith({}), { for: 'repo', env: 'test' }).catch((e: unknown) => e)) as KeyrackKeysUnavailableError
    const report = error.report.find((r) => r.key === 'AWS_ACCESS_KEY_ID')!
    expect(report.reason).toContain('minted only in CI')
    expect(report.hint.join('\n')).toContain('is-optional-if-has: AWS_PROFILE')
    expect(fake.events.filter((e) => e.op === 'actions:token').length).toBe(tokens)
  })

  test('the manifest must give the role, and the mech grants AWS_ACCESS_KEY_ID', async () => {
    const { parseFileFull } = await import('../../src/manifests/repo-file.ts')
    expect(() => parseFileFull('org: acme\nenv.test:\n  - key: AWS_ACCESS_KEY_ID\n    mech: EPHEMERAL_VIA_GITHUB_OIDC\n', 'k.yml', 'k.yml')).toThrow(KeyrackManifestInvalidError)
    expect(() => parseFileFull('org: acme\nenv.test:\n  - key: AWS_PROFILE\n    role-arn: arn:aws:iam::111111111111:role/ci\n', 'k.yml', 'k.yml')).toThrow('is read only by `mech: EPHEMERAL_VIA_GITHUB_OIDC`')
    expect(() => parseFileFull('org: acme\nenv.test:\n  - key: AWS_ACCESS_KEY_ID\n    mech: EPHEMERAL_VIA_GITHUB_OIDC\n    role-arn: not-an-arn\n', 'k.yml', 'k.yml')).toThrow('must be an IAM role ARN')
  })
})
