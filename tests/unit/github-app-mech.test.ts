/**
 * EPHEMERAL_VIA_GITHUB_APP against the loopback GitHub (tests/fakes/github-api.ts), through the real
 * @octokit/auth-app: the app JWT must verify with the app's public key, tokens come back with
 * GitHub's shapes, narrowing is sent as GitHub takes it, and every failure is a typed error that
 * says what to do — never quoting the private key.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { KeyrackError, KeyrackNoTerminalError, KeyrackSecretInvalidError, KeyrackVaultError, KeyrackVaultUnavailableError } from '../../src/domain/errors.ts'
import mech, { githubApiUrl, parseAppSource } from '../../src/mechs/ephemeral-via-github-app.ts'
import { isRenewable } from '../../src/mechs/mech.ts'
import { startFakeGithub, type FakeGithub } from '../fakes/github-api.ts'
import { scriptedPrompt } from '../fakes/ports.ts'

let github: FakeGithub
let dir: string
let fetched: string[]
let ctx: Context

beforeAll(async () => {
  github = await startFakeGithub({
    installations: [{ id: 777, owner: 'acme', repositories: ['widgets', 'gadgets'], permissions: { contents: 'write', metadata: 'read', pull_requests: 'write' } }],
    tokenLifetimeMs: 60 * 60 * 1000,
  })
  dir = mkdtempSync(join(tmpdir(), 'keyrack-gh-mech-'))
  fetched = []
  ctx = createContext({
    home: join(dir, 'kr'),
    cwd: dir,
    environment: { HOME: dir, GITHUB_API_URL: github.apiUrl },
    fetch: (input, init) => {
      fetched.push(String(input instanceof Request ? input.url : input))
      return fetch(input, init)
    },
  })
})
afterAll(() => {
  github.stop()
  rmSync(dir, { recursive: true, force: true })
})

const source = (fields: Record<string, unknown> = {}) => JSON.stringify({ appId: github.app.id, installationId: 777, privateKey: github.app.privateKeyPem, ...fields })
const errorOf = async (promise: Promise<unknown>) => promise.then(() => null, (e: unknown) => e)

describe('the source', () => {
  test('takes installationId or owner/repo, a PKCS#1 or PKCS#8 key, and a key pasted with escaped newlines', () => {
    expect(parseAppSource(source()).installation).toEqual({ id: 777 })
    expect(parseAppSource(source({ installationId: undefined, owner: 'acme', repo: 'widgets' })).installation).toEqual({ owner: 'acme', repo: 'widgets' })
    expect(parseAppSource(source({ privateKey: github.app.privateKeyPkcs8Pem })).privateKey).toStartWith('-----BEGIN PRIVATE KEY-----\n')
    expect(parseAppSource(source({ privateKey: github.app.privateKeyPem.trim().replaceAll('\n', '\\n') })).privateKey).toBe(github.app.privateKeyPem)
    expect(parseAppSource(source({ appId: String(github.app.id) })).appId).toBe(String(github.app.id))
  })

  test('a malformed source is refused with what is wrong, never quoting it', () => {
    const cases: [string, RegExp][] = [
      ['not json', /not JSON/],
      ['[1]', /not a JSON object|missing or not valid/],
      [source({ installationId: undefined }), /say which installation/],
      [source({ owner: 'acme', repo: 'widgets' }), /either `installationId` or `owner` and `repo`/],
      [source({ privateKey: 'AKIAIOSFODNN7EXAMPLE-not-a-pem' }), /not a PEM private key/],
      [source({ privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----' }), /encrypted or in OpenSSH form/],
      [source({ appId: 'robert"); drop' }), /`appId` is missing or not valid/],
      [source({ extra: 'x' }), /a field keyrack does not know/],
    ]
    for (const [text, message] of cases) {
      const error = (() => {
        try {
          mech.checkSource!(text)
        } catch (e) {
          return e
        }
      })()
      expect(error, text.slice(0, 40)).toBeInstanceOf(KeyrackSecretInvalidError)
      expect((error as Error).message).toMatch(message)
      const said = `${(error as KeyrackError).message}\n${(error as KeyrackError).hint.join('\n')}`
      expect(said).not.toContain('AKIAIOSFODNN7EXAMPLE')
      expect(said).not.toContain(github.app.privateKeyPem.split('\n')[1]!)
    }
  })

  test('GITHUB_API_URL is the API (GitHub Enterprise Server), api.github.com without it; anything else is refused', () => {
    expect(githubApiUrl({})).toBe('https://api.github.com')
    expect(githubApiUrl({ GITHUB_API_URL: 'https://ghe.example.com/api/v3/' })).toBe('https://ghe.example.com/api/v3')
    expect(() => githubApiUrl({ GITHUB_API_URL: 'file:///etc/passwd' })).toThrow(/https:\/\/ URL/)
    expect(() => githubApiUrl({ GITHUB_API_URL: 'not a url' })).toThrow(/not a URL/)
  })
})

describe('minting', () => {
  test('an installation token (ghs_…) with its expires_at, from the app JWT GitHub verifies, through ctx.fetch at GITHUB_API_URL', async () => {
    const before = github.requests.length
    const minted = await mech.toKey(ctx, { slug: 'acme.test.GITHUB_TOKEN', source: source() })
    expect(minted.secret).toMatch(/^ghs_[A-Za-z0-9]{36}$/)
    expect(github.isLive(minted.secret)).toBe(true)
    expect(minted.expiresAt).toBe(github.tokens.get(minted.secret)!.expiresAt)
    expect(minted.expiresAt! - Date.now()).toBeGreaterThan(59 * 60 * 1000)
    const calls = github.requests.slice(before)
    expect(calls.map((r) => [r.method, r.path, r.credential, r.status])).toEqual([['POST', '/api/v3/app/installations/777/access_tokens', 'jwt', 201]])
    expect(fetched.at(-1)).toStartWith(github.apiUrl)
  })

  test('owner/repo is looked up as the repo installation, PKCS#8 keys and client ids work too', async () => {
    const before = github.requests.length
    const minted = await mech.toKey(ctx, { slug: 'acme.test.GITHUB_TOKEN', source: source({ appId: github.app.clientId, installationId: undefined, owner: 'acme', repo: 'widgets', privateKey: github.app.privateKeyPkcs8Pem }) })
    expect(github.isLive(minted.secret)).toBe(true)
    expect(github.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'GET /api/v3/repos/acme/widgets/installation 200',
      'POST /api/v3/app/installations/777/access_tokens 201',
    ])
    // the renewal carries the installation it found: the daemon never looks it up again
    expect(JSON.parse(minted.renewal!).installationId).toBe(777)
  })

  test("the repo manifest's repositories and permission-* narrow the token", async () => {
    const minted = await mech.toKey(ctx, {
      slug: 'acme.test.GITHUB_TOKEN',
      source: source(),
      declared: { key: 'GITHUB_TOKEN', repositories: ['widgets'], permissions: { contents: 'read', pull_requests: 'write' } },
    })
    expect(github.tokens.get(minted.secret)).toMatchObject({ repositories: ['widgets'], permissions: { contents: 'read', pull_requests: 'write' } })
    // and the daemon renews with the same narrowing
    const renewed = await mech.renew(ctx, { slug: 'acme.test.GITHUB_TOKEN', renewal: minted.renewal! })
    expect(renewed.secret).not.toBe(minted.secret)
    expect(github.tokens.get(renewed.secret)).toMatchObject({ repositories: ['widgets'], permissions: { contents: 'read', pull_requests: 'write' } })
  })

  test('narrowing past the installation is a 422 that points at .agent/keyrack.yml', async () => {
    const error = await errorOf(mech.toKey(ctx, { slug: 'acme.test.GITHUB_TOKEN', source: source(), declared: { key: 'GITHUB_TOKEN', permissions: { administration: 'write' } } }))
    expect(error).toBeInstanceOf(KeyrackVaultError)
    expect((error as KeyrackError).message).toContain('422')
    expect((error as KeyrackError).hint.join('\n')).toContain('.agent/keyrack.yml')
  })

  test('renewal needs no vault, no repo and no environment: the daemon mints from it alone', async () => {
    expect(isRenewable(mech)).toBe(true)
    const minted = await mech.toKey(ctx, { slug: 'acme.test.GITHUB_TOKEN', source: source() })
    const bare = createContext({ home: join(dir, 'elsewhere'), cwd: '/', environment: {} })
    const renewed = await mech.renew(bare, { slug: 'acme.test.GITHUB_TOKEN', renewal: minted.renewal! })
    expect(github.isLive(renewed.secret)).toBe(true)
    expect(renewed.secret).not.toBe(minted.secret)
  })

  test('a key that is not the app\'s is a 401 with what to check; an unknown installation a 404; no API a vault-unavailable error', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey
    const wrongKey = await errorOf(mech.toKey(ctx, { slug: 'acme.test.GITHUB_TOKEN', source: source({ privateKey: other }) }))
    expect(wrongKey).toBeInstanceOf(KeyrackVaultError)
    expect((wrongKey as Error).message).toContain('401')
    expect(`${(wrongKey as Error).message}${(wrongKey as KeyrackError).hint}`).not.toContain(other.split('\n')[1]!)
    const notInstalled = await errorOf(mech.toKey(ctx, { slug: 'acme.test.GITHUB_TOKEN', source: source({ installationId: undefined, owner: 'acme', repo: 'elsewhere' }) }))
    expect((notInstalled as Error).message).toMatch(/not installed on acme\/elsewhere \(404/)
    const unknown = await errorOf(mech.toKey(ctx, { slug: 'acme.test.GITHUB_TOKEN', source: source({ installationId: 999 }) }))
    expect((unknown as Error).message).toMatch(/no installation 999/)
    const offline = await errorOf(mech.toKey({ ...ctx, env: { GITHUB_API_URL: 'http://127.0.0.1:9/api/v3' } }, { slug: 'acme.test.GITHUB_TOKEN', source: source() }))
    expect(offline).toBeInstanceOf(KeyrackVaultUnavailableError)
    expect((offline as Error).message).toContain('cannot reach the GitHub API at http://127.0.0.1:9/api/v3')
  })
})

describe('guided set', () => {
  test('asks for the app id, the installation and the path of the .pem file', async () => {
    const pem = join(dir, 'app.private-key.pem')
    writeFileSync(pem, github.app.privateKeyPem, { mode: 0o600 })
    const prompt = scriptedPrompt([String(github.app.id), 'acme/widgets', pem])
    const asked = await mech.ask!({ ...ctx, prompt }, { key: 'GITHUB_TOKEN', env: 'test' })
    expect(prompt.asked).toHaveLength(3)
    expect(parseAppSource((asked as { secret: string }).secret)).toEqual({ appId: String(github.app.id), privateKey: github.app.privateKeyPem, installation: { owner: 'acme', repo: 'widgets' } })
    const byId = await mech.ask!({ ...ctx, prompt: scriptedPrompt([String(github.app.id), '777', '~/app.private-key.pem']) }, { key: 'GITHUB_TOKEN', env: 'test' })
    expect(parseAppSource((byId as { secret: string }).secret).installation).toEqual({ id: 777 })
  })

  test('a missing .pem says so; with no terminal it names the stdin form', async () => {
    const missing = await errorOf(mech.ask!({ ...ctx, prompt: scriptedPrompt(['1', '777', join(dir, 'nope.pem')]) }, { key: 'GITHUB_TOKEN', env: 'test' }))
    expect((missing as Error).message).toContain('there is no file at')
    const noTty = await errorOf(mech.ask!({ ...ctx, prompt: undefined }, { key: 'GITHUB_TOKEN', env: 'test' }))
    expect(noTty).toBeInstanceOf(KeyrackNoTerminalError)
    expect((noTty as KeyrackError).hint.join('\n')).toContain('--mech EPHEMERAL_VIA_GITHUB_APP --secret-stdin')
  })
})
