/**
 * The git credential helper's decisions, through the SDK: git's request format, which hosts get an
 * answer (github.com over https, GITHUB_API_URL's host with its scheme, nothing else), which key
 * (the repo's allowlisted GITHUB_TOKEN, through `get`: allowlist, firewall), and silence where the
 * helper is not the one to answer.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { KeyrackUsageError } from '../../src/domain/errors.ts'
import { KeyrackKeysUnavailableError } from '../../src/sdk/errors.ts'
import { formatCredential, gitCredential, parseCredentialRequest, servedHosts } from '../../src/sdk/git-credential.ts'
import { createTestKeyrack, type TestKeyrack } from '../../src/testing/index.ts'

const TOKEN = `ghs_${'a1B2c3D4e5F6'.repeat(3)}`
let rack: TestKeyrack
let ctx: (env?: Record<string, string>, cwd?: string) => Context

beforeAll(async () => {
  rack = await createTestKeyrack({ manifest: ['org: acme', 'env.test:', '  - GITHUB_TOKEN', '  - OTHER_KEY', 'env.prod:', '  - OTHER_KEY', ''].join('\n') })
  await rack.set('test', 'GITHUB_TOKEN', TOKEN)
  ctx = (env = {}, cwd = rack.repo) => createContext({ ...rack.options, cwd, environment: { ...rack.options.environment, ...env } })
})
afterAll(() => rack.cleanup())

const ask = (request: string) => parseCredentialRequest(request)

describe("git's request", () => {
  test('key=value lines up to a blank line; array keys and unknown attributes are ignored in the decision', () => {
    expect(ask('protocol=https\nhost=github.com\npath=acme/widgets.git\ncapability[]=authtype\nwwwauth[]=Basic realm="GitHub"\n\nprotocol=ignored\n')).toEqual(
      Object.assign(Object.create(null), { protocol: 'https', host: 'github.com', path: 'acme/widgets.git', 'capability[]': 'authtype', 'wwwauth[]': 'Basic realm="GitHub"' }),
    )
  })

  test('the answer: username, password and the expiry git honours', () => {
    expect(formatCredential({ username: 'x-access-token', password: TOKEN, expiresAt: 1_767_225_600_999 })).toBe(`username=x-access-token\npassword=${TOKEN}\npassword_expiry_utc=1767225600\n`)
  })
})

describe('which hosts', () => {
  test('github.com over https, and the host of GITHUB_API_URL with its own scheme (api.github.com is github.com)', () => {
    expect(servedHosts({})).toEqual([{ protocol: 'https', host: 'github.com' }])
    expect(servedHosts({ GITHUB_API_URL: 'https://api.github.com' })).toEqual([{ protocol: 'https', host: 'github.com' }])
    expect(servedHosts({ GITHUB_API_URL: 'https://GHE.example.com/api/v3' })).toEqual([{ protocol: 'https', host: 'github.com' }, { protocol: 'https', host: 'ghe.example.com' }])
    expect(servedHosts({ GITHUB_API_URL: 'not a url' })).toEqual([{ protocol: 'https', host: 'github.com' }])
  })

  test('answers github.com with the repo GITHUB_TOKEN; gets nothing for http, other hosts, or a host without a protocol', async () => {
    expect(await gitCredential(ctx(), { request: ask('protocol=https\nhost=github.com\n') })).toEqual({ username: 'x-access-token', password: TOKEN })
    expect(await gitCredential(ctx(), { request: ask('protocol=https\nhost=github.com\nusername=robot\n') })).toMatchObject({ username: 'robot' })
    for (const request of ['protocol=http\nhost=github.com\n', 'protocol=https\nhost=github.com.evil.example\n', 'protocol=https\nhost=gitlab.com\n', 'host=github.com\n', 'protocol=https\nhost=ghe.example.com\n'])
      expect(await gitCredential(ctx(), { request: ask(request) })).toBeNull()
    expect(await gitCredential(ctx({ GITHUB_API_URL: 'https://ghe.example.com/api/v3' }), { request: ask('protocol=https\nhost=ghe.example.com\n') })).toMatchObject({ password: TOKEN })
  })
})

describe('which key', () => {
  test('outside a repo with a keyrack manifest, or for a key the repo does not list: nothing', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'keyrack-git-credential-'))
    try {
      expect(await gitCredential(ctx({}, elsewhere), { request: ask('protocol=https\nhost=github.com\n') })).toBeNull()
    } finally {
      rmSync(elsewhere, { recursive: true, force: true })
    }
    expect(await gitCredential(ctx(), { request: ask('protocol=https\nhost=github.com\n'), key: 'NOT_LISTED' })).toBeNull()
    expect(await gitCredential(ctx(), { request: ask('protocol=https\nhost=github.com\n'), env: 'prod' })).toBeNull()
  })

  test('a key listed for several envs needs --env; one listed but not set is the get error, with its hint', async () => {
    const several = await gitCredential(ctx(), { request: ask('protocol=https\nhost=github.com\n'), key: 'OTHER_KEY' }).catch((e: unknown) => e)
    expect(several).toBeInstanceOf(KeyrackUsageError)
    expect((several as KeyrackUsageError).hint[0]).toBe("git config credential.https://github.com.helper '!keyrack git-credential --env test'")
    const absent = await gitCredential(ctx(), { request: ask('protocol=https\nhost=github.com\n'), key: 'OTHER_KEY', env: 'prod' }).catch((e: unknown) => e)
    expect(absent).toBeInstanceOf(KeyrackKeysUnavailableError)
    expect((absent as KeyrackKeysUnavailableError).report[0]).toMatchObject({ key: 'OTHER_KEY', state: 'absent' })
  })
})
