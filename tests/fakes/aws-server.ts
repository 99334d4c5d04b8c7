/**
 * A loopback stand-in for the AWS services keyrack talks to, speaking their real wire protocols so
 * the real SDK clients (and a fake `aws` CLI, tests/fakes/aws-cli.ts) work against it unchanged,
 * reached only through the SDK's standard endpoint settings (AWS_ENDPOINT_URL_SSO, _SSO_OIDC, _STS,
 * _SSM): product code never knows it is tested.
 *
 *   IAM Identity Center portal (REST-JSON, bearer token in `x-amz-sso_bearer_token`):
 *     GET  /assignment/accounts?max_result&next_token           ListAccounts (paginated)
 *     GET  /assignment/roles?account_id&max_result&next_token   ListAccountRoles (paginated)
 *     GET  /federation/credentials?account_id&role_name         GetRoleCredentials
 *     POST /logout                                              Logout
 *   IAM Identity Center OIDC (REST-JSON):
 *     POST /client/register        RegisterClient (the "botocore-client-…" consent, once per session)
 *     POST /device_authorization   StartDeviceAuthorization
 *     POST /token                  CreateToken (device_code and refresh_token grants)
 *   STS (query protocol, form body, XML answers):
 *     Action=GetCallerIdentity              SigV4-signed with credentials this fake issued
 *     Action=AssumeRoleWithWebIdentity      unsigned; the web identity token must be a JWT this fake signed
 *   SSM (JSON 1.1, `X-Amz-Target: AmazonSSM.<Op>`, SigV4-signed):
 *     GetParameter (WithDecryption), PutParameter (SecureString, Overwrite), DeleteParameter
 *   GitHub Actions OIDC token service:
 *     GET  /_services/token?api-version=2.0&audience=…   with `Authorization: Bearer <request token>`
 *
 * One directory user ("alice") signs in at one start URL; the "human" approves each device
 * authorization unless `approve` is false. Time comes from `now` (tests move it: expiry without
 * sleeping). Every call is recorded in `events` (never with a secret), so tests can assert e.g.
 * that an unlock registered no new OAuth client.
 */
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign as rsaSign, verify as rsaVerify, type KeyObject } from 'node:crypto'
import { verifySigv4 } from './sigv4.ts'

export interface FakeAccount {
  accountId: string
  accountName: string
  emailAddress: string
  roles: string[]
}

export interface FakeOidcRole {
  arn: string
  /** `sub` claims the role's trust policy accepts; `*` matches any run of characters */
  subject: string
}

export interface AwsFakeOptions {
  startUrl?: string
  region?: string
  user?: string
  accounts?: FakeAccount[]
  now?: () => number
  /** access token lifetime (IAM Identity Center hands out 1 h tokens to refreshable clients) */
  tokenTtlMs?: number
  /** how long the sign-in session lasts (refresh tokens stop working after it): 8 h by default */
  sessionTtlMs?: number
  /** role credentials lifetime (the permission set's session duration) */
  roleTtlMs?: number
  /** list pages: small, so pagination is exercised */
  pageSize?: number
  oidcRoles?: FakeOidcRole[]
  /** the bearer token the Actions runner gives the job (ACTIONS_ID_TOKEN_REQUEST_TOKEN) */
  oidcRequestToken?: string
  /** the `sub` of the job's OIDC token */
  oidcSubject?: string
}

export interface AwsFakeEvent {
  op: string
  [detail: string]: unknown
}

export interface IssuedCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
  expiresAt: number
  arn: string
  account: string
}

interface Session {
  id: string
  startUrl: string
  user: string
  clientId: string
  endsAt: number
  loggedOut: boolean
}

export interface AwsFake {
  readonly url: string
  readonly startUrl: string
  readonly region: string
  readonly events: AwsFakeEvent[]
  /** does the "human" approve the next device authorizations? */
  approve: boolean
  readonly issued: Map<string, IssuedCredentials>
  readonly parameters: Map<string, { name: string; value: string; type: string; version: number; modifiedAt: number }>
  /** the clock, if the test did not give one: move it with `advance` */
  advance(ms: number): void
  now(): number
  /** ends every sign-in session (as if the session duration ran out) */
  endSessions(): void
  /** credentials of a role, as if assumed some other way (for tests that need an identity to start from) */
  credentialsFor(roleArn: string): IssuedCredentials
  /** the handler, for a server of the test's choosing */
  fetch(request: Request): Promise<Response>
  /** what the Actions runner puts in a job's environment (id-token: write) */
  actionsEnv(): Record<string, string>
  stop(): void
}

const DEFAULT_ACCOUNTS: FakeAccount[] = [
  { accountId: '111111111111', accountName: 'acme-dev', emailAddress: 'dev@acme.example', roles: ['AdministratorAccess', 'ReadOnlyAccess'] },
  { accountId: '222222222222', accountName: 'acme-prod', emailAddress: 'prod@acme.example', roles: ['ReadOnlyAccess'] },
  { accountId: '333333333333', accountName: 'acme-sandbox', emailAddress: 'sandbox@acme.example', roles: ['PowerUserAccess'] },
]

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/'
const OIDC_ISSUER = 'https://token.actions.githubusercontent.com'
const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url')
const alnum = (n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'): string => [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('')
const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function createAwsFake(options: AwsFakeOptions = {}, url = 'http://127.0.0.1'): AwsFake {
  let clock = options.now ? undefined : Date.now()
  const now = options.now ?? (() => clock!)
  const startUrl = options.startUrl ?? 'https://d-9067c1a2b3.awsapps.com/start'
  const region = options.region ?? 'us-east-1'
  const user = options.user ?? 'alice'
  const accounts = options.accounts ?? DEFAULT_ACCOUNTS
  const tokenTtl = options.tokenTtlMs ?? 60 * 60_000
  const sessionTtl = options.sessionTtlMs ?? 8 * 60 * 60_000
  const roleTtl = options.roleTtlMs ?? 60 * 60_000
  const pageSize = options.pageSize ?? 2
  const oidcRoles = options.oidcRoles ?? [{ arn: 'arn:aws:iam::111111111111:role/acme-ci', subject: 'repo:acme/app:*' }]
  const oidcRequestToken = options.oidcRequestToken ?? `runner-${alnum(24)}`
  const oidcSubject = options.oidcSubject ?? 'repo:acme/app:ref:refs/heads/main'
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })

  const events: AwsFakeEvent[] = []
  const clients = new Map<string, { secret: string; name: string; expiresAt: number }>()
  const devices = new Map<string, { clientId: string; startUrl: string; expiresAt: number }>()
  const sessions = new Map<string, Session>()
  const accessTokens = new Map<string, { session: string; expiresAt: number }>()
  const refreshTokens = new Map<string, { session: string }>()
  const issued = new Map<string, IssuedCredentials>()
  const parameters = new Map<string, { name: string; value: string; type: string; version: number; modifiedAt: number }>()

  const issueCredentials = (arn: string, account: string, ttl: number): IssuedCredentials => {
    const creds: IssuedCredentials = {
      accessKeyId: `ASIA${alnum(16)}`,
      secretAccessKey: b64url(randomBytes(30)).slice(0, 40),
      sessionToken: `IQoJb3JpZ2luX2Vj${b64url(randomBytes(180))}`,
      expiresAt: now() + ttl,
      arn,
      account,
    }
    issued.set(creds.accessKeyId, creds)
    return creds
  }

  const liveSession = (token: string | null): Session | null => {
    const t = token ? accessTokens.get(token) : undefined
    if (!t || t.expiresAt <= now()) return null
    const s = sessions.get(t.session)
    return s && !s.loggedOut && s.endsAt > now() ? s : null
  }

  // ---- REST-JSON helpers -----------------------------------------------------------------
  const json = (body: unknown, status = 200) => Response.json(body, { status, headers: { 'x-amzn-requestid': randomUUID() } })
  const restError = (status: number, type: string, message: string) =>
    Response.json({ message, __type: type }, { status, headers: { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.switchboard.portal/`, 'x-amzn-requestid': randomUUID() } })
  const oidcError = (status: number, type: string, error: string, description: string) =>
    Response.json({ error, error_description: description }, { status, headers: { 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID() } })

  const page = <T>(items: T[], url: URL, max: string | null) => {
    const size = Math.min(Number(max ?? pageSize) || pageSize, pageSize)
    const start = Number(url.searchParams.get('next_token') ?? '0') || 0
    const slice = items.slice(start, start + size)
    return { slice, next: start + size < items.length ? String(start + size) : undefined }
  }

  // ---- the portal ------------------------------------------------------------------------
  function portal(request: Request, url: URL): Response {
    const token = request.headers.get('x-amz-sso_bearer_token')
    const session = liveSession(token)
    if (url.pathname === '/logout' && request.method === 'POST') {
      events.push({ op: 'sso:Logout' })
      const t = token ? accessTokens.get(token) : undefined
      if (!t) return restError(401, 'UnauthorizedException', 'Session token not found or invalid')
      const s = sessions.get(t.session)
      if (s) s.loggedOut = true
      return new Response(null, { status: 200 })
    }
    if (!session) {
      events.push({ op: `sso:${url.pathname}`, denied: 'token' })
      return restError(401, 'UnauthorizedException', 'Session token not found or invalid')
    }
    if (url.pathname === '/assignment/accounts') {
      events.push({ op: 'sso:ListAccounts' })
      const { slice, next } = page(accounts, url, url.searchParams.get('max_result'))
      return json({ accountList: slice.map(({ roles: _roles, ...a }) => a), ...(next ? { nextToken: next } : {}) })
    }
    if (url.pathname === '/assignment/roles') {
      const accountId = url.searchParams.get('account_id')
      events.push({ op: 'sso:ListAccountRoles', accountId })
      const account = accounts.find((a) => a.accountId === accountId)
      if (!account) return restError(403, 'ForbiddenException', 'No access')
      const { slice, next } = page(account.roles, url, url.searchParams.get('max_result'))
      return json({ roleList: slice.map((roleName) => ({ roleName, accountId })), ...(next ? { nextToken: next } : {}) })
    }
    if (url.pathname === '/federation/credentials') {
      const accountId = url.searchParams.get('account_id') ?? ''
      const roleName = url.searchParams.get('role_name') ?? ''
      events.push({ op: 'sso:GetRoleCredentials', accountId, roleName })
      const account = accounts.find((a) => a.accountId === accountId)
      if (!account || !account.roles.includes(roleName)) return restError(403, 'ForbiddenException', 'No access')
      const c = issueCredentials(`arn:aws:sts::${accountId}:assumed-role/AWSReservedSSO_${roleName}_0123456789abcdef/${session.user}`, accountId, roleTtl)
      return json({ roleCredentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: c.expiresAt } })
    }
    return restError(404, 'ResourceNotFoundException', 'Not found')
  }

  // ---- IAM Identity Center OIDC ----------------------------------------------------------
  async function ssoOidc(request: Request, url: URL): Promise<Response> {
    const body = (await request.json().catch(() => ({}))) as Record<string, unknown>
    if (url.pathname === '/client/register') {
      const clientId = `client-${alnum(20)}`
      const secret = b64url(randomBytes(48))
      const expiresAt = now() + 90 * 24 * 60 * 60_000
      clients.set(clientId, { secret, name: String(body.clientName ?? ''), expiresAt })
      events.push({ op: 'oidc:RegisterClient', clientName: body.clientName, scopes: body.scopes })
      return json({ clientId, clientSecret: secret, clientIdIssuedAt: Math.floor(now() / 1000), clientSecretExpiresAt: Math.floor(expiresAt / 1000) })
    }
    const client = clients.get(String(body.clientId ?? ''))
    if (!client || client.secret !== body.clientSecret || client.expiresAt <= now()) {
      events.push({ op: `oidc:${url.pathname}`, denied: 'client' })
      return oidcError(401, 'InvalidClientException', 'invalid_client', 'Invalid client')
    }
    if (url.pathname === '/device_authorization') {
      const deviceCode = b64url(randomBytes(32))
      devices.set(deviceCode, { clientId: String(body.clientId), startUrl: String(body.startUrl ?? ''), expiresAt: now() + 600_000 })
      events.push({ op: 'oidc:StartDeviceAuthorization', startUrl: body.startUrl })
      const userCode = `${alnum(4, 'BCDFGHJKLMNPQRSTVWXZ')}-${alnum(4, 'BCDFGHJKLMNPQRSTVWXZ')}`
      return json({
        deviceCode, userCode, expiresIn: 600, interval: 1,
        verificationUri: `https://device.sso.${region}.amazonaws.com/`,
        verificationUriComplete: `https://device.sso.${region}.amazonaws.com/?user_code=${userCode}`,
      })
    }
    if (url.pathname === '/token') {
      const grant = String(body.grantType ?? '')
      if (grant === 'urn:ietf:params:oauth:grant-type:device_code') {
        const device = devices.get(String(body.deviceCode ?? ''))
        if (!device || device.clientId !== body.clientId) return oidcError(400, 'InvalidGrantException', 'invalid_grant', 'Invalid grant provided')
        if (device.expiresAt <= now()) return oidcError(400, 'ExpiredTokenException', 'expired_token', 'Device code expired')
        if (!fake.approve) {
          events.push({ op: 'oidc:CreateToken', grantType: 'device_code', denied: 'human' })
          return oidcError(400, 'AccessDeniedException', 'access_denied', 'The user denied the authorization')
        }
        if (device.startUrl !== startUrl) return oidcError(400, 'InvalidRequestException', 'invalid_request', 'Unknown start URL')
        devices.delete(String(body.deviceCode))
        const session: Session = { id: randomUUID(), startUrl, user, clientId: device.clientId, endsAt: now() + sessionTtl, loggedOut: false }
        sessions.set(session.id, session)
        events.push({ op: 'oidc:CreateToken', grantType: 'device_code' })
        return json(tokensFor(session))
      }
      if (grant === 'refresh_token') {
        const refresh = refreshTokens.get(String(body.refreshToken ?? ''))
        const session = refresh ? sessions.get(refresh.session) : undefined
        if (!refresh || !session || session.clientId !== body.clientId || session.loggedOut || session.endsAt <= now()) {
          events.push({ op: 'oidc:CreateToken', grantType: 'refresh_token', denied: 'session' })
          return oidcError(400, 'InvalidGrantException', 'invalid_grant', 'Invalid grant provided')
        }
        refreshTokens.delete(String(body.refreshToken))
        events.push({ op: 'oidc:CreateToken', grantType: 'refresh_token' })
        return json(tokensFor(session))
      }
      return oidcError(400, 'UnsupportedGrantTypeException', 'unsupported_grant_type', 'Unsupported grant type')
    }
    return oidcError(404, 'ResourceNotFoundException', 'not_found', 'Not found')
  }

  function tokensFor(session: Session) {
    const accessToken = `aoa${b64url(randomBytes(48))}`
    const refreshToken = `aor${b64url(randomBytes(48))}`
    const expiresAt = Math.min(now() + tokenTtl, session.endsAt)
    accessTokens.set(accessToken, { session: session.id, expiresAt })
    refreshTokens.set(refreshToken, { session: session.id })
    return { accessToken, tokenType: 'Bearer', expiresIn: Math.round((expiresAt - now()) / 1000), refreshToken }
  }

  // ---- STS (query protocol) --------------------------------------------------------------
  const stsError = (status: number, code: string, message: string) =>
    new Response(
      `<ErrorResponse xmlns="${STS_NS}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${randomUUID()}</RequestId>\n</ErrorResponse>\n`,
      { status, headers: { 'content-type': 'text/xml' } },
    )
  const stsOk = (action: string, result: string) =>
    new Response(
      `<${action}Response xmlns="${STS_NS}">\n  <${action}Result>\n${result}  </${action}Result>\n  <ResponseMetadata>\n    <RequestId>${randomUUID()}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`,
      { headers: { 'content-type': 'text/xml' } },
    )

  /** the credentials a signed request was made with, or the error an AWS service answers */
  function signer(request: Request, url: URL, body: Uint8Array, service: string): { creds: IssuedCredentials } | { error: { status: number; code: string; message: string } } {
    const verdict = verifySigv4({ method: request.method, url, headers: request.headers, body }, (id) => issued.get(id)?.secretAccessKey ?? null)
    if (!verdict.ok) return { error: { status: verdict.code === 'MissingAuthenticationToken' ? 400 : 403, code: verdict.code, message: verdict.message } }
    const creds = issued.get(verdict.by.accessKeyId)!
    if (verdict.by.service !== service) return { error: { status: 403, code: 'SignatureDoesNotMatch', message: `Credential should be scoped to correct service: '${service}'.` } }
    if (request.headers.get('x-amz-security-token') !== creds.sessionToken) return { error: { status: 403, code: 'UnrecognizedClient', message: 'The security token included in the request is invalid.' } }
    if (creds.expiresAt <= now()) return { error: { status: 400, code: 'ExpiredToken', message: 'The security token included in the request is expired' } }
    return { creds }
  }

  async function sts(request: Request, url: URL): Promise<Response> {
    const raw = new Uint8Array(await request.arrayBuffer())
    const form = new URLSearchParams(new TextDecoder().decode(raw))
    const action = form.get('Action')
    if (form.get('Version') !== '2011-06-15') return stsError(400, 'InvalidAction', 'Could not find operation for this version')
    if (action === 'GetCallerIdentity') {
      const who = signer(request, url, raw, 'sts')
      if ('error' in who) {
        events.push({ op: 'sts:GetCallerIdentity', denied: who.error.code })
        return stsError(who.error.status, who.error.code, who.error.message)
      }
      events.push({ op: 'sts:GetCallerIdentity', arn: who.creds.arn })
      const session = who.creds.arn.split('/').at(-1)
      return stsOk('GetCallerIdentity', `    <Arn>${xmlEscape(who.creds.arn)}</Arn>\n    <UserId>AROA${alnum(17)}:${xmlEscape(session ?? '')}</UserId>\n    <Account>${who.creds.account}</Account>\n`)
    }
    if (action === 'AssumeRoleWithWebIdentity') {
      const roleArn = form.get('RoleArn') ?? ''
      const sessionName = form.get('RoleSessionName') ?? ''
      const duration = Number(form.get('DurationSeconds') ?? '3600')
      const claims = verifyJwt(form.get('WebIdentityToken') ?? '')
      if (!claims) {
        events.push({ op: 'sts:AssumeRoleWithWebIdentity', denied: 'token' })
        return stsError(400, 'InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
      }
      if (Number(claims.exp) * 1000 <= now()) return stsError(400, 'ExpiredTokenException', 'Token expired: current date/time is later than the exp claim')
      const role = oidcRoles.find((r) => r.arn === roleArn)
      const trusted = role && claims.aud === 'sts.amazonaws.com' && new RegExp(`^${role.subject.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(String(claims.sub))
      if (!trusted) {
        events.push({ op: 'sts:AssumeRoleWithWebIdentity', roleArn, denied: 'trust' })
        return stsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity')
      }
      if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) return stsError(400, 'ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint")
      if (!(duration >= 900 && duration <= 43_200)) return stsError(400, 'ValidationError', "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint")
      const account = roleArn.split(':')[4] ?? ''
      const roleName = roleArn.split('/').at(-1)
      const c = issueCredentials(`arn:aws:sts::${account}:assumed-role/${roleName}/${sessionName}`, account, duration * 1000)
      events.push({ op: 'sts:AssumeRoleWithWebIdentity', roleArn, sub: claims.sub })
      return stsOk(
        'AssumeRoleWithWebIdentity',
        `    <SubjectFromWebIdentityToken>${xmlEscape(String(claims.sub))}</SubjectFromWebIdentityToken>\n    <Audience>sts.amazonaws.com</Audience>\n` +
          `    <AssumedRoleUser>\n      <Arn>${xmlEscape(c.arn)}</Arn>\n      <AssumedRoleId>AROA${alnum(17)}:${xmlEscape(sessionName)}</AssumedRoleId>\n    </AssumedRoleUser>\n` +
          `    <Credentials>\n      <SessionToken>${c.sessionToken}</SessionToken>\n      <SecretAccessKey>${c.secretAccessKey}</SecretAccessKey>\n      <Expiration>${new Date(c.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z')}</Expiration>\n      <AccessKeyId>${c.accessKeyId}</AccessKeyId>\n    </Credentials>\n` +
          `    <Provider>${OIDC_ISSUER}</Provider>\n`,
      )
    }
    return stsError(400, 'InvalidAction', `Could not find operation ${action ?? ''} for version 2011-06-15`)
  }

  // ---- SSM (JSON 1.1) --------------------------------------------------------------------
  const ssmError = (type: string, message: string, status = 400) =>
    new Response(JSON.stringify({ __type: type, message }), { status, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() } })
  const ssmOk = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() } })

  async function ssm(request: Request, url: URL, target: string): Promise<Response> {
    const raw = new Uint8Array(await request.arrayBuffer())
    const who = signer(request, url, raw, 'ssm')
    const op = target.slice('AmazonSSM.'.length)
    if ('error' in who) {
      events.push({ op: `ssm:${op}`, denied: who.error.code })
      return ssmError(who.error.code, who.error.message, who.error.status)
    }
    if (request.headers.get('content-type') !== 'application/x-amz-json-1.1') return ssmError('SerializationException', 'wrong content type')
    const body = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>
    const name = String(body.Name ?? '')
    const key = `${who.creds.account}:${name}`
    events.push({ op: `ssm:${op}`, name, arn: who.creds.arn })
    if (!/^[a-zA-Z0-9_.\-/]{1,2048}$/.test(name) || (name.includes('/') && !name.startsWith('/')))
      return ssmError('ValidationException', 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_')
    const stored = parameters.get(key)
    if (op === 'GetParameter') {
      if (!stored) return ssmError('ParameterNotFound', '')
      const value = stored.type === 'SecureString' && body.WithDecryption !== true ? b64url(createHash('sha256').update(stored.value).digest()) : stored.value
      return ssmOk({ Parameter: { Name: stored.name, Type: stored.type, Value: value, Version: stored.version, LastModifiedDate: stored.modifiedAt / 1000, ARN: `arn:aws:ssm:${region}:${who.creds.account}:parameter${name.startsWith('/') ? '' : '/'}${name}`, DataType: 'text' } })
    }
    if (op === 'PutParameter') {
      const value = typeof body.Value === 'string' ? body.Value : ''
      if (value.length === 0 || Buffer.byteLength(value) > 4096)
        return ssmError('ValidationException', `1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to 4096`)
      if (stored && body.Overwrite !== true) return ssmError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.')
      const type = String(body.Type ?? stored?.type ?? 'String')
      parameters.set(key, { name, value, type, version: (stored?.version ?? 0) + 1, modifiedAt: now() })
      return ssmOk({ Version: (stored?.version ?? 0) + 1, Tier: 'Standard' })
    }
    if (op === 'DeleteParameter') {
      if (!stored) return ssmError('ParameterNotFound', '')
      parameters.delete(key)
      return ssmOk({})
    }
    return ssmError('UnknownOperationException', '')
  }

  // ---- GitHub Actions OIDC token service --------------------------------------------------
  function signJwt(claims: Record<string, unknown>): string {
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: 'fake-actions' }))
    const payload = b64url(JSON.stringify(claims))
    const signature = rsaSign('sha256', Buffer.from(`${header}.${payload}`), privateKey as KeyObject)
    return `${header}.${payload}.${b64url(signature)}`
  }
  function verifyJwt(token: string): Record<string, unknown> | null {
    const [header, payload, signature] = token.split('.')
    if (!header || !payload || !signature) return null
    if (!rsaVerify('sha256', Buffer.from(`${header}.${payload}`), publicKey as KeyObject, Buffer.from(signature, 'base64url'))) return null
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
    return claims.iss === OIDC_ISSUER ? claims : null
  }
  function actionsToken(request: Request, url: URL): Response {
    const auth = request.headers.get('authorization') ?? ''
    if (auth.toLowerCase() !== `bearer ${oidcRequestToken}`.toLowerCase()) {
      events.push({ op: 'actions:token', denied: 'request-token' })
      return Response.json({ message: 'Unauthorized' }, { status: 401 })
    }
    const audience = url.searchParams.get('audience') ?? 'https://github.com/acme'
    const iat = Math.floor(now() / 1000)
    events.push({ op: 'actions:token', audience })
    return Response.json({
      count: 1984,
      value: signJwt({ jti: randomUUID(), sub: oidcSubject, aud: audience, iss: OIDC_ISSUER, repository: 'acme/app', ref: 'refs/heads/main', nbf: iat - 5, iat, exp: iat + 300 }),
    })
  }

  async function fetch(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const target = request.headers.get('x-amz-target')
    if (target?.startsWith('AmazonSSM.')) return ssm(request, url, target)
    if (url.pathname === '/_services/token' && request.method === 'GET') return actionsToken(request, url)
    if (request.method === 'POST' && url.pathname === '/' && request.headers.get('content-type')?.startsWith('application/x-www-form-urlencoded')) return sts(request, url)
    if (['/client/register', '/device_authorization', '/token'].includes(url.pathname) && request.method === 'POST') return ssoOidc(request, url)
    return portal(request, url)
  }

  const fake: AwsFake = {
    url,
    startUrl,
    region,
    events,
    approve: true,
    issued,
    parameters,
    advance: (ms) => {
      if (clock === undefined) throw new Error('advance(): the test gave its own clock; move that one')
      clock += ms
    },
    now,
    endSessions: () => {
      for (const s of sessions.values()) s.endsAt = Math.min(s.endsAt, now())
    },
    fetch,
    credentialsFor: (roleArn) => issueCredentials(roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/') + '/test', roleArn.split(':')[4] ?? '', roleTtl),
    actionsEnv: () => ({
      GITHUB_ACTIONS: 'true',
      CI: 'true',
      ACTIONS_ID_TOKEN_REQUEST_URL: `${fake.url}/_services/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidcRequestToken,
    }),
    stop: () => undefined,
  }
  return fake
}

/** the fake on a loopback port, in this process (for SDK-level tests; the binary needs startAwsFakeProcess) */
export function startAwsFake(options: AwsFakeOptions = {}): AwsFake {
  const fake = createAwsFake(options)
  const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (request) => fake.fetch(request) })
  return Object.assign(fake, { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) })
}

/** the standard endpoint settings that point every AWS client (SDK and CLI) at the fake */
export function awsEndpointEnv(url: string, region = 'us-east-1'): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_SSO: url,
    AWS_ENDPOINT_URL_SSO_OIDC: url,
    AWS_ENDPOINT_URL_STS: url,
    AWS_ENDPOINT_URL_SSM: url,
    AWS_REGION: region,
    // no instance metadata lookups from a test machine
    AWS_EC2_METADATA_DISABLED: 'true',
  }
}
