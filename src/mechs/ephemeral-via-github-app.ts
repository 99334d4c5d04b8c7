/**
 * EPHEMERAL_VIA_GITHUB_APP: the vault stores a GitHub App's credentials — its app id, its private
 * key, and the installation to act as (an id, or the `owner`/`repo` it is installed on) — and each
 * mint is a fresh installation token (`ghs_…`, an hour) from GitHub's API, through
 * `@octokit/auth-app`. The private key must live in an encrypted vault (minProtection), never in
 * plaintext. The token's own `expires_at` bounds the grant; the daemon renews it before then
 * (RenewableMech), so an unlock of nine hours serves a live token for all nine.
 *
 * A repo may narrow the tokens, as actions/create-github-app-token does: `repositories:` and
 * `permission-<name>:` on the key's entry in .agent/keyrack.yml (GitHub refuses to widen them
 * past what the installation has). The API is `GITHUB_API_URL` (GitHub Enterprise Server,
 * `https://HOST/api/v3`) or api.github.com; what the daemon needs to renew — the key, the resolved
 * installation, the API URL and the narrowing — travels to it as the key's `renewal`.
 *
 * This module stays light: octokit is imported only when a token is minted.
 */
import { isAbsolute, resolve } from 'node:path'
import * as v from 'valibot'
import type { Context } from '../context.ts'
import { KeyrackNoTerminalError, KeyrackSecretInvalidError, KeyrackUsageError, KeyrackVaultError, KeyrackVaultUnavailableError } from '../domain/errors.ts'
import { printable } from '../domain/printable.ts'
import { VERSION } from '../domain/version.ts'
import type { GithubPermissionLevel, RepoKeySpec } from '../manifests/repo-file.ts'
import { readFileGuarded, UnsafeFileError } from '../runtime/read-file.ts'
import type { MintedKey, RenewableMech } from './mech.ts'

const MECH = 'EPHEMERAL_VIA_GITHUB_APP'
/** GitHub's public API; `GITHUB_API_URL` replaces it (GitHub Enterprise Server: https://HOST/api/v3) */
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com'
/** a GitHub API call that takes longer than this has failed */
const REQUEST_TIMEOUT_MS = 30_000
/** a PEM private key: GitHub's download is PKCS#1 (`RSA PRIVATE KEY`), a converted one PKCS#8 */
const PEM = /^-----BEGIN (RSA )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END (RSA )?PRIVATE KEY-----\n?$/
const MAX_PEM_BYTES = 16 * 1024

const Id = v.union([v.pipe(v.number(), v.safeInteger(), v.minValue(1)), v.pipe(v.string(), v.regex(/^[1-9][0-9]{0,18}$/))])
/** the app id (digits), or its client id (`Iv1.…`, `Iv23…`), which GitHub also accepts as the JWT issuer */
const AppId = v.union([Id, v.pipe(v.string(), v.regex(/^Iv[0-9A-Za-z.]{4,60}$/))])
const Name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,100}$/))
const SourceSchema = v.strictObject({
  appId: AppId,
  privateKey: v.pipe(v.string(), v.maxLength(MAX_PEM_BYTES)),
  installationId: v.optional(Id),
  owner: v.optional(Name),
  repo: v.optional(Name),
})

/** the stored source: which app, its key, and which installation (or where to look it up) */
export interface AppSource {
  appId: string
  privateKey: string
  installation: { id: number } | { owner: string; repo: string }
}

/** what the daemon renews from: the source with the installation resolved, the API and the narrowing */
interface Renewal {
  appId: string
  privateKey: string
  installationId: number
  apiUrl: string
  repositories?: string[]
  permissions?: Record<string, GithubPermissionLevel>
}

const FORMAT = '{"appId": 123, "installationId": 456, "privateKey": "-----BEGIN RSA PRIVATE KEY-----\\n…"} (or "owner" and "repo" in place of "installationId")'

/**
 * The stored JSON as a source; a private key pasted from an env var (`\n` escaped) is accepted.
 * @throws KeyrackSecretInvalidError naming the part that is wrong, never quoting it
 */
export function parseAppSource(text: string): AppSource {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw invalid('it is not JSON')
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('it is not a JSON object')
  const parsed = v.safeParse(SourceSchema, json)
  if (!parsed.success) {
    const issue = parsed.issues[0]!
    const field = issue.path?.[0]?.key
    if (issue.type === 'strict_object' && typeof field === 'string') throw invalid(`it has a field keyrack does not know (fields are appId, privateKey, installationId, owner, repo)`)
    throw invalid(`\`${String(field)}\` is missing or not valid`)
  }
  const { appId, privateKey, installationId, owner, repo } = parsed.output
  const pem = privateKey.replace(/\\n/g, '\n').replace(/\r\n/g, '\n').trim() + '\n'
  if (/ENCRYPTED|OPENSSH/.test(pem.slice(0, 64))) throw invalid('`privateKey` is encrypted or in OpenSSH form: use the .pem file GitHub downloads (`-----BEGIN RSA PRIVATE KEY-----`)')
  if (!PEM.test(pem)) throw invalid('`privateKey` is not a PEM private key (the .pem file GitHub downloads starts with `-----BEGIN RSA PRIVATE KEY-----`)')
  if (installationId !== undefined && (owner !== undefined || repo !== undefined)) throw invalid('give either `installationId` or `owner` and `repo`, not both')
  let installation: AppSource['installation']
  if (installationId !== undefined) installation = { id: Number(installationId) }
  else if (owner !== undefined && repo !== undefined) installation = { owner, repo }
  else throw invalid('say which installation: `installationId`, or `owner` and `repo` of a repository the app is installed on')
  return { appId: String(appId), privateKey: pem, installation }
}

function invalid(what: string): KeyrackSecretInvalidError {
  return new KeyrackSecretInvalidError(`the GitHub App source is not valid: ${what}`, [
    `pipe it as JSON to \`--secret-stdin\`: ${FORMAT}`,
    'or run the same `keyrack set` on a terminal without `--secret-stdin`: it asks for each part (the key from its .pem file)',
  ])
}

/** the API base URL: `GITHUB_API_URL` when set (GitHub Enterprise Server), else api.github.com */
export function githubApiUrl(env: Record<string, string | undefined>): string {
  const configured = env.GITHUB_API_URL?.trim()
  if (!configured) return DEFAULT_GITHUB_API_URL
  let url: URL
  try {
    url = new URL(configured)
  } catch {
    throw new KeyrackUsageError('GITHUB_API_URL is not a URL', ['set it to your GitHub API, e.g. `export GITHUB_API_URL=https://github.example.com/api/v3`, or unset it for github.com'])
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new KeyrackUsageError('GITHUB_API_URL must be an https:// URL', ['e.g. `export GITHUB_API_URL=https://github.example.com/api/v3`'])
  return url.href.replace(/\/+$/, '')
}

/** the repo manifest's narrowing for this key, if any */
function narrowingOf(declared: RepoKeySpec | undefined): Pick<Renewal, 'repositories' | 'permissions'> {
  return {
    ...(declared?.repositories ? { repositories: [...declared.repositories] } : {}),
    ...(declared?.permissions ? { permissions: { ...declared.permissions } } : {}),
  }
}

/** what is read of a failure: octokit's RequestError has a status, and a response when GitHub answered */
interface RequestFailure {
  status?: number
  response?: unknown
}

/**
 * Mints one installation token. Only the status of a failure is used: octokit's errors carry the
 * request (authorization redacted), and nothing of it reaches a message.
 */
async function mintToken(ctx: Context, app: { appId: string; privateKey: string; installation: AppSource['installation'] }, narrowing: Pick<Renewal, 'repositories' | 'permissions'>, apiUrl: string): Promise<{ token: string; expiresAt: number; installationId: number }> {
  const [{ createAppAuth }, { request }] = await Promise.all([import('@octokit/auth-app'), import('@octokit/request')])
  const api = request.defaults({
    baseUrl: apiUrl,
    headers: { 'user-agent': `keyrack/${VERSION}` },
    request: { fetch: ctx.fetch, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
  })
  const auth = createAppAuth({ appId: app.appId, privateKey: app.privateKey, request: api })
  let step: 'lookup' | 'token' = 'lookup'
  try {
    let installationId: number
    if ('id' in app.installation) installationId = app.installation.id
    else {
      const jwt = await auth({ type: 'app' })
      const { data } = await api('GET /repos/{owner}/{repo}/installation', {
        owner: app.installation.owner,
        repo: app.installation.repo,
        headers: { authorization: `bearer ${jwt.token}` },
      })
      installationId = data.id
    }
    step = 'token'
    const minted = await auth({
      type: 'installation',
      installationId,
      // every mint is a new token: octokit's cache would hand back one that is about to expire
      refresh: true,
      ...(narrowing.repositories ? { repositoryNames: narrowing.repositories } : {}),
      ...(narrowing.permissions ? { permissions: narrowing.permissions } : {}),
    })
    const expiresAt = Date.parse(minted.expiresAt)
    if (!minted.token || !Number.isFinite(expiresAt)) throw new KeyrackVaultError(`GitHub's answer at ${printable(apiUrl)} has no token or expiry`, ['check GITHUB_API_URL: it must be the GitHub API, e.g. https://github.example.com/api/v3'])
    return { token: minted.token, expiresAt, installationId }
  } catch (error) {
    if (error instanceof KeyrackVaultError) throw error
    throw apiError(error as RequestFailure, step, app, apiUrl, narrowing)
  }
}

function apiError(error: RequestFailure, step: 'lookup' | 'token', app: { appId: string; installation: AppSource['installation'] }, apiUrl: string, narrowing: Pick<Renewal, 'repositories' | 'permissions'>): Error {
  const where = printable(apiUrl)
  const reset = `then store it again: \`keyrack set … --mech ${MECH}\``
  const installation = 'id' in app.installation ? `installation ${app.installation.id}` : `${app.installation.owner}/${app.installation.repo}`
  // no status: nothing was sent, the JWT could not be signed with the key
  if (error.status === undefined)
    return new KeyrackSecretInvalidError('the GitHub App private key cannot sign a token (is it the RSA key GitHub generated for the app?)', [`download a new private key from the app's settings, ${reset}`])
  // a status but no response: octokit's word for "no HTTP answer" (network, DNS, timeout)
  if (error.response === undefined)
    return new KeyrackVaultUnavailableError(`cannot reach the GitHub API at ${where}`, ['check your network (and GITHUB_API_URL, when you use GitHub Enterprise Server), then try again'])
  switch (error.status) {
    case 401:
      return new KeyrackVaultError(`GitHub refused the app's credentials (401 at ${where}): app ${printable(app.appId)} and its private key do not match, or the key was revoked`, [`check the app id and the key in the app's settings (generate a new private key if needed), ${reset}`])
    case 403:
      return new KeyrackVaultError(`GitHub refused the token request for ${installation} (403 at ${where}): the app is suspended, or the installation does not grant what was asked`, [
        ...(narrowing.permissions ? ['check the `permission-*` fields of the key in .agent/keyrack.yml against the app installation\'s permissions'] : []),
        "check the app's installation in the GitHub settings of its owner",
      ])
    case 404:
      return step === 'lookup'
        ? new KeyrackVaultError(`app ${printable(app.appId)} is not installed on ${installation} (404 at ${where})`, [`install the app on ${installation} (the app's settings → Install App), or give its \`installationId\`, ${reset}`])
        : new KeyrackVaultError(`GitHub has no ${installation} for app ${printable(app.appId)} (404 at ${where})`, [`check the installation id in the app's settings → Install App, ${reset}`])
    case 422:
      return new KeyrackVaultError(`GitHub refused to narrow the token for ${installation} (422 at ${where}): a repository or permission asked for is not part of the installation`, [
        'fix `repositories:` or the `permission-*` fields of the key in .agent/keyrack.yml: they can only narrow what the installation grants',
      ])
    default:
      return new KeyrackVaultError(`GitHub answered ${error.status} to the token request for ${installation} at ${where}`, ['try again later; if it persists, check https://www.githubstatus.com (or your GitHub Enterprise Server)'])
  }
}

export const ephemeralViaGithubAppMech: RenewableMech = {
  id: MECH,
  duration: 'ephemeral',
  description: "a GitHub App's key mints hour-long installation tokens (ghs_…), renewed while unlocked",
  source: 'secret',
  // the app's private key outlives every token it mints: it is never kept in plaintext
  minProtection: 'encrypted',
  /** GitHub's tokens last an hour: renew with five minutes to spare */
  renewBeforeMs: 5 * 60 * 1000,

  checkSource(source) {
    parseAppSource(source)
  },

  async ask(ctx, { key, env }) {
    const prompt = ctx.prompt
    if (!prompt)
      throw new KeyrackNoTerminalError(`no terminal to ask for the GitHub App of ${key}`, [
        `pipe its credentials as JSON: \`keyrack set --key ${key} --env ${env} --vault os.secure --mech ${MECH} --secret-stdin < app.json\`, with ${FORMAT}`,
      ])
    const appId = (await prompt.text("the GitHub App's id (its settings page → About → App ID)")).trim()
    const where = (await prompt.text('the installation: its id (the number at the end of the installation\'s settings URL), or owner/repo of a repository the app is installed on')).trim()
    const pemPath = (await prompt.text("the path to the app's private key (.pem, from its settings → Private keys → Generate)")).trim()
    const file = expandHome(pemPath, ctx)
    let bytes: Buffer | null
    try {
      bytes = readFileGuarded(file, { maxBytes: MAX_PEM_BYTES })
    } catch (error) {
      if (error instanceof UnsafeFileError) throw new KeyrackSecretInvalidError(`cannot use ${printable(file)} as the private key: ${error.detail}`, ['give the path of the .pem file GitHub downloaded'])
      throw new KeyrackSecretInvalidError(`cannot read ${printable(file)}`, ['give the path of the .pem file GitHub downloaded, and check its permissions'])
    }
    if (bytes === null) throw new KeyrackSecretInvalidError(`there is no file at ${printable(file)}`, ['give the path of the .pem file GitHub downloaded'])
    const slash = where.indexOf('/')
    const installation = slash > 0 ? { owner: where.slice(0, slash), repo: where.slice(slash + 1) } : { installationId: /^\d+$/.test(where) ? Number(where) : where }
    const source = JSON.stringify({ appId: /^\d+$/.test(appId) ? Number(appId) : appId, ...installation, privateKey: bytes.toString('utf8') })
    bytes.fill(0)
    parseAppSource(source)
    return { secret: source }
  },

  async toKey(ctx, { source, declared }) {
    const app = parseAppSource(source)
    const apiUrl = githubApiUrl(ctx.env)
    const narrowing = narrowingOf(declared)
    const minted = await mintToken(ctx, app, narrowing, apiUrl)
    const renewal: Renewal = { appId: app.appId, privateKey: app.privateKey, installationId: minted.installationId, apiUrl, ...narrowing }
    return { secret: minted.token, expiresAt: minted.expiresAt, renewal: JSON.stringify(renewal) }
  },

  async renew(ctx, { renewal }): Promise<MintedKey> {
    const state = JSON.parse(renewal) as Renewal
    const minted = await mintToken(ctx, { appId: state.appId, privateKey: state.privateKey, installation: { id: state.installationId } }, state, state.apiUrl)
    return { secret: minted.token, expiresAt: minted.expiresAt, renewal }
  },
}
export default ephemeralViaGithubAppMech

/** `~/x.pem` and relative paths, as a shell would have them */
function expandHome(path: string, ctx: Context): string {
  if (path === '~' || path.startsWith('~/')) return resolve(ctx.env.HOME ?? '/', path.slice(2))
  return isAbsolute(path) ? path : resolve(ctx.cwd, path)
}
