/**
 * A loopback GitHub (API + git over smart HTTP), faithful to the contracts keyrack relies on, so
 * the real `@octokit/auth-app` and the real `git` talk to it unchanged. keyrack reaches it through
 * `GITHUB_API_URL` only, as it reaches GitHub Enterprise Server (`<url>/api/v3`).
 *
 * API (the paths also answer without the `/api/v3` prefix, like api.github.com):
 *   GET  /repos/{owner}/{repo}/installation          app JWT → the installation (id, account, permissions)
 *   POST /app/installations/{id}/access_tokens       app JWT → 201 { token: ghs_…, expires_at, permissions,
 *                                                    repository_selection, repositories? }, narrowed by the body's
 *                                                    `repositories` / `permissions` (422 when they exceed the installation)
 *   GET  /installation/repositories                  `Authorization: token ghs_…` → the token's repositories (401 when expired)
 * Every app request must carry a JWT (RS256) whose signature verifies with the test app's public
 * key, whose `iss` is the app's id (or client id) and whose `iat`/`exp` GitHub would accept (exp at
 * most 10 minutes ahead); otherwise 401 with GitHub's message. Tokens are `ghs_` + 36 base62
 * characters and expire after `tokenLifetimeMs` (GitHub: an hour; tests: seconds), with
 * `expires_at` in GitHub's format (whole seconds, UTC).
 *
 * git (when `gitRoot` is given): `{owner}/{repo}.git/…` served by the real `git http-backend` CGI,
 * behind HTTP basic auth that accepts only a live installation token of an installation covering
 * that repository (`x-access-token:<ghs_…>`): 401 with `WWW-Authenticate: Basic` without one, 403
 * for a push without `contents: write`. Bare repos live at `<gitRoot>/{owner}/{repo}.git`.
 *
 * The test app's RSA key is generated at start (never committed); `privateKeyPem` is PKCS#1, as
 * GitHub's .pem download is. Listens on 127.0.0.1 only; every request is recorded (method, path,
 * which credential kind was used — never the credential).
 */
import { generateKeyPairSync, randomInt } from 'node:crypto'
import { join } from 'node:path'

export type Permissions = Record<string, 'read' | 'write' | 'admin'>

export interface FakeInstallation {
  id: number
  owner: string
  /** repository names under owner the installation covers */
  repositories: string[]
  permissions: Permissions
}

export interface IssuedToken {
  installationId: number
  expiresAt: number
  repositories: string[]
  permissions: Permissions
}

export interface FakeGithub {
  /** http://127.0.0.1:PORT: the host git talks to */
  url: string
  /** `<url>/api/v3`: what GITHUB_API_URL takes (GitHub Enterprise Server form) */
  apiUrl: string
  app: { id: number; clientId: string; privateKeyPem: string; privateKeyPkcs8Pem: string }
  installations: FakeInstallation[]
  /** every token issued, by token */
  tokens: Map<string, IssuedToken>
  requests: { method: string; path: string; credential: 'jwt' | 'token' | 'basic' | 'none'; status: number }[]
  /** how long new tokens live; tests may change it */
  tokenLifetimeMs: number
  /** is this a token the fake issued that has not expired? */
  isLive(token: string): boolean
  stop(): void
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const LEVELS = ['read', 'write', 'admin']

export async function startFakeGithub(options: { installations: FakeInstallation[]; tokenLifetimeMs?: number; gitRoot?: string; appId?: number }): Promise<FakeGithub> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  })
  const { createPrivateKey } = await import('node:crypto')
  const pkcs8 = createPrivateKey(privateKey).export({ type: 'pkcs8', format: 'pem' }) as string
  const verifyKey = await crypto.subtle.importKey('spki', publicKey, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify'])
  const appId = options.appId ?? 4242
  const clientId = 'Iv23liFAKEclient01'
  const tokens = new Map<string, IssuedToken>()
  const requests: FakeGithub['requests'] = []

  const fake: FakeGithub = {
    url: '',
    apiUrl: '',
    app: { id: appId, clientId, privateKeyPem: privateKey, privateKeyPkcs8Pem: pkcs8 },
    installations: options.installations,
    tokens,
    requests,
    tokenLifetimeMs: options.tokenLifetimeMs ?? 60 * 60 * 1000,
    isLive: (token) => {
      const issued = tokens.get(token)
      return issued !== undefined && issued.expiresAt > Date.now()
    },
    stop: () => server.stop(true),
  }

  const json = (status: number, body: unknown) => Response.json(body, { status, headers: { 'x-github-media-type': 'github.v3; format=json' } })
  const error = (status: number, message: string) => json(status, { message, documentation_url: 'https://docs.github.com/rest', status: String(status) })

  /** null when the JWT is good, else GitHub's 401 */
  const checkJwt = async (authorization: string | null): Promise<Response | null> => {
    const jwt = /^bearer (.+)$/i.exec(authorization ?? '')?.[1]
    if (!jwt) return error(401, 'A JSON web token could not be decoded')
    const [header, payload, signature] = jwt.split('.')
    if (!header || !payload || !signature) return error(401, 'A JSON web token could not be decoded')
    let claims: { iss?: unknown; iat?: unknown; exp?: unknown }
    try {
      if (JSON.parse(b64urlText(header)).alg !== 'RS256') return error(401, 'A JSON web token could not be decoded')
      claims = JSON.parse(b64urlText(payload))
    } catch {
      return error(401, 'A JSON web token could not be decoded')
    }
    const valid = await crypto.subtle.verify('RSASSA-PKCS1-v1_5', verifyKey, b64urlBytes(signature), new TextEncoder().encode(`${header}.${payload}`))
    if (!valid) return error(401, 'A JSON web token could not be decoded')
    if (String(claims.iss) !== String(appId) && claims.iss !== clientId) return error(401, "'Issuer' claim ('iss') must be an Integer")
    const now = Math.floor(Date.now() / 1000)
    if (typeof claims.iat !== 'number' || claims.iat > now + 60) return error(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past.")
    if (typeof claims.exp !== 'number' || claims.exp <= now) return error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.")
    if (claims.exp > now + 600 + 60) return error(401, "'Expiration time' claim ('exp') is too far in the future")
    return null
  }

  const newToken = (): string => `ghs_${Array.from({ length: 36 }, () => BASE62[randomInt(BASE62.length)]).join('')}`

  const installationBody = (inst: FakeInstallation) => ({
    id: inst.id,
    account: { login: inst.owner, id: 1000 + inst.id, type: 'Organization' },
    app_id: appId,
    app_slug: 'keyrack-test-app',
    target_id: 1000 + inst.id,
    target_type: 'Organization',
    permissions: inst.permissions,
    events: [],
    repository_selection: 'selected',
    access_tokens_url: `${fake.apiUrl}/app/installations/${inst.id}/access_tokens`,
    repositories_url: `${fake.apiUrl}/installation/repositories`,
    html_url: `${fake.url}/organizations/${inst.owner}/settings/installations/${inst.id}`,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    single_file_name: null,
  })
  const repoBody = (owner: string, name: string, index: number) => ({ id: 5000 + index, name, full_name: `${owner}/${name}`, private: true })

  const api = async (request: Request, path: string): Promise<Response> => {
    let m = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(path)
    if (m && request.method === 'GET') {
      const denied = await checkJwt(request.headers.get('authorization'))
      if (denied) return denied
      const inst = options.installations.find((i) => i.owner === m![1] && i.repositories.includes(m![2]!))
      return inst ? json(200, installationBody(inst)) : error(404, 'Not Found')
    }
    m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path)
    if (m && request.method === 'POST') {
      const denied = await checkJwt(request.headers.get('authorization'))
      if (denied) return denied
      const inst = options.installations.find((i) => i.id === Number(m![1]))
      if (!inst) return error(404, 'Not Found')
      const text = await request.text()
      let body: { repositories?: unknown; permissions?: unknown } = {}
      try {
        body = text ? JSON.parse(text) : {}
      } catch {
        return error(400, 'Problems parsing JSON')
      }
      let repositories = inst.repositories
      if (body.repositories !== undefined) {
        if (!Array.isArray(body.repositories) || !body.repositories.every((r) => typeof r === 'string' && inst.repositories.includes(r)))
          return error(422, 'There is at least one repository that does not exist or is not accessible to the parent installation.')
        repositories = body.repositories as string[]
      }
      let permissions = inst.permissions
      if (body.permissions !== undefined) {
        const asked = body.permissions as Record<string, string>
        for (const [name, level] of Object.entries(asked))
          if (!LEVELS.includes(level) || !inst.permissions[name] || LEVELS.indexOf(level) > LEVELS.indexOf(inst.permissions[name]!))
            return error(422, 'The permissions requested are not granted to this installation.')
        permissions = asked as Permissions
      }
      const token = newToken()
      // GitHub's expires_at has whole seconds
      const expiresAt = Math.floor((Date.now() + fake.tokenLifetimeMs) / 1000) * 1000
      tokens.set(token, { installationId: inst.id, expiresAt, repositories, permissions })
      return json(201, {
        token,
        expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        permissions,
        repository_selection: 'selected',
        ...(body.repositories !== undefined ? { repositories: repositories.map((name, i) => repoBody(inst.owner, name, i)) } : {}),
      })
    }
    if (path === '/installation/repositories' && request.method === 'GET') {
      const token = /^(?:token|bearer) (ghs_\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1]
      if (!token || !fake.isLive(token)) return error(401, 'Bad credentials')
      const issued = tokens.get(token)!
      const owner = options.installations.find((i) => i.id === issued.installationId)!.owner
      return json(200, { total_count: issued.repositories.length, repository_selection: 'selected', repositories: issued.repositories.map((name, i) => repoBody(owner, name, i)) })
    }
    return error(404, 'Not Found')
  }

  /** the smart-HTTP git endpoint, behind basic auth with a live installation token */
  const git = async (request: Request, owner: string, repo: string, rest: string, query: string): Promise<Response> => {
    const basic = /^basic (.+)$/i.exec(request.headers.get('authorization') ?? '')?.[1]
    const challenge = () => new Response('Authentication failed\n', { status: 401, headers: { 'www-authenticate': 'Basic realm="GitHub"' } })
    if (!basic) return challenge()
    const decoded = Buffer.from(basic, 'base64').toString('utf8')
    const token = decoded.slice(decoded.indexOf(':') + 1)
    const issued = tokens.get(token)
    if (!issued || !fake.isLive(token)) return challenge()
    const inst = options.installations.find((i) => i.id === issued.installationId)
    if (!inst || inst.owner !== owner || !issued.repositories.includes(repo)) return new Response('Repository not found.\n', { status: 404 })
    const push = rest === 'git-receive-pack' || query.includes('service=git-receive-pack')
    const contents = issued.permissions.contents
    if (push && contents !== 'write' && contents !== 'admin') return new Response(`Permission to ${owner}/${repo}.git denied to keyrack-test-app[bot].\n`, { status: 403 })
    const body = new Uint8Array(await request.arrayBuffer())
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: options.gitRoot!,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: `/${owner}/${repo}.git/${rest}`,
      REQUEST_METHOD: request.method,
      QUERY_STRING: query,
      CONTENT_TYPE: request.headers.get('content-type') ?? '',
      CONTENT_LENGTH: String(body.byteLength),
      REMOTE_USER: 'x-access-token',
      REMOTE_ADDR: '127.0.0.1',
    }
    const encoding = request.headers.get('content-encoding')
    if (encoding) env.HTTP_CONTENT_ENCODING = encoding
    const protocol = request.headers.get('git-protocol')
    if (protocol) env.GIT_PROTOCOL = protocol
    const proc = Bun.spawn(['git', 'http-backend'], { env, stdin: body, stdout: 'pipe', stderr: 'pipe' })
    const output = new Uint8Array(await new Response(proc.stdout).arrayBuffer())
    await proc.exited
    // CGI: headers, a blank line, the body
    let split = -1
    for (let i = 0; i + 3 < output.length; i++)
      if (output[i] === 13 && output[i + 1] === 10 && output[i + 2] === 13 && output[i + 3] === 10) {
        split = i
        break
      }
    if (split < 0) return new Response('git http-backend failed\n', { status: 500 })
    const headers = new Headers()
    let status = 200
    for (const line of new TextDecoder().decode(output.subarray(0, split)).split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon < 0) continue
      const name = line.slice(0, colon).trim()
      const value = line.slice(colon + 1).trim()
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10)
      else headers.append(name, value)
    }
    return new Response(output.subarray(split + 4), { status, headers })
  }

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request): Promise<Response> {
      const url = new URL(request.url)
      const authorization = request.headers.get('authorization') ?? ''
      const credential = /^bearer ey/i.test(authorization) ? 'jwt' : /^(token|bearer) /i.test(authorization) ? 'token' : /^basic /i.test(authorization) ? 'basic' : 'none'
      let response: Response
      const gitPath = /^\/([^/]+)\/([^/]+)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(url.pathname)
      if (gitPath && options.gitRoot) response = await git(request, gitPath[1]!, gitPath[2]!, gitPath[3]!, url.search.slice(1))
      else response = await api(request, url.pathname.replace(/^\/api\/v3(?=\/)/, ''))
      requests.push({ method: request.method, path: url.pathname, credential, status: response.status })
      return response
    },
  })
  fake.url = `http://127.0.0.1:${server.port}`
  fake.apiUrl = `${fake.url}/api/v3`
  return fake
}

/** a bare repository the git endpoint serves, with one commit on main (files from `files`) */
export async function createBareRepo(gitRoot: string, owner: string, repo: string, files: Record<string, string>): Promise<string> {
  const { mkdirSync, mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { dirname } = await import('node:path')
  const bare = join(gitRoot, owner, `${repo}.git`)
  mkdirSync(dirname(bare), { recursive: true })
  const run = (args: string[], cwd: string) => {
    const result = Bun.spawnSync(['git', ...args], { cwd, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: gitRoot }, stderr: 'pipe' })
    if (result.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr.toString()}`)
  }
  run(['init', '-q', '--bare', '-b', 'main', bare], gitRoot)
  run(['config', 'http.receivepack', 'true'], bare)
  const work = mkdtempSync(join(gitRoot, '.seed-'))
  run(['init', '-q', '-b', 'main'], work)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true })
    writeFileSync(join(work, path), text)
  }
  run(['add', '-A'], work)
  run(['-c', 'user.name=seed', '-c', 'user.email=seed@example.invalid', 'commit', '-q', '-m', 'seed'], work)
  run(['push', '-q', bare, 'main'], work)
  rmSync(work, { recursive: true, force: true })
  return bare
}

const b64urlBytes = (text: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(text, 'base64url'))
const b64urlText = (text: string): string => Buffer.from(text, 'base64url').toString('utf8')

/**
 * `bun tests/fakes/github-api.ts <dir>`: the fake as a process of its own, for tests whose own
 * process blocks while the binary runs (the doc tests run README blocks with spawnSync). It serves
 * app 4242 installed on acme/widgets (contents: write), writes the app's private key to
 * `<dir>/app.private-key.pem` and then `<dir>/fake-github.json` ({ url, apiUrl }), and exits when
 * its parent does.
 */
if (import.meta.main) {
  const dir = process.argv[2]
  if (!dir) throw new Error('usage: bun tests/fakes/github-api.ts <dir>')
  const { writeFileSync, renameSync } = await import('node:fs')
  const github = await startFakeGithub({ installations: [{ id: 777, owner: 'acme', repositories: ['widgets'], permissions: { contents: 'write', metadata: 'read' } }] })
  writeFileSync(join(dir, 'app.private-key.pem'), github.app.privateKeyPem, { mode: 0o600 })
  writeFileSync(join(dir, 'fake-github.json.tmp'), JSON.stringify({ url: github.url, apiUrl: github.apiUrl }))
  renameSync(join(dir, 'fake-github.json.tmp'), join(dir, 'fake-github.json'))
  const parent = process.ppid
  setInterval(() => {
    try {
      process.kill(parent, 0)
    } catch {
      github.stop()
      process.exit(0)
    }
  }, 1000)
}
