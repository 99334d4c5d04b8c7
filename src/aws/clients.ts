/**
 * The AWS SDK v3 clients keyrack uses, configured from the context: the region it is given and the
 * SDK's standard endpoint settings (AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL), read from
 * the context's environment — which is the process's in the CLI, and the one an SDK caller passes.
 *
 * Heavy: every import of an `@aws-sdk/*` package is dynamic and lives here, so nothing on the
 * `get` path loads the SDK; callers import this module lazily (a dynamic import) only when they talk to AWS.
 * Errors from the SDK become KeyrackErrors whose messages never carry a token or a credential
 * (the SDK's own messages are AWS's error text; the request is never echoed).
 */
import type { Context } from '../context.ts'
import { KeyrackVaultError } from '../domain/errors.ts'
import { printable } from '../domain/printable.ts'

/** the env-var names of the SDK's service-specific endpoint setting (its serviceId, upper snake case) */
export type AwsService = 'SSO' | 'SSO_OIDC' | 'STS' | 'SSM'

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  /** epoch ms */
  expiresAt?: number
}

/** region + endpoint for one service, as the SDK's standard settings say */
export function clientConfig(ctx: Pick<Context, 'env'>, service: AwsService, region: string): { region: string; endpoint?: string; maxAttempts: number } {
  const ignore = /^(true|1)$/i.test(ctx.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '')
  const endpoint = ignore ? undefined : ctx.env[`AWS_ENDPOINT_URL_${service}`] || ctx.env.AWS_ENDPOINT_URL
  return { region, ...(endpoint ? { endpoint } : {}), maxAttempts: 3 }
}

/** an SDK failure as a KeyrackVaultError: what AWS said (never a token), and what to try */
export function awsError(what: string, error: unknown, hint: string[] = []): KeyrackVaultError {
  const e = error as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } }
  const network = typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code) ? e.code : /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|fetch failed|Unable to connect/i.test(e?.message ?? '') ? 'network' : undefined
  if (network) return new KeyrackVaultError(`${what}: AWS could not be reached (${network})`, ['check your network connection (and any AWS_ENDPOINT_URL_* setting), then try again', ...hint])
  const name = e?.name && e.name !== 'Error' ? e.name : 'error'
  // AWS error texts are short and fixed; cut them anyway so nothing unexpected rides along
  const said = (e?.message ?? '').split('\n')[0]!.slice(0, 200)
  return new KeyrackVaultError(`${what}: ${name}${said ? ` (${printable(said)})` : ''}`, hint)
}

// ---- IAM Identity Center portal ---------------------------------------------------------

export async function ssoClient(ctx: Pick<Context, 'env'>, region: string) {
  const { SSOClient } = await import('@aws-sdk/client-sso')
  return new SSOClient(clientConfig(ctx, 'SSO', region))
}

/** the role's credentials, fresh from the portal (GetRoleCredentials) */
export async function getRoleCredentials(ctx: Pick<Context, 'env'>, input: { region: string; accessToken: string; accountId: string; roleName: string }): Promise<Required<AwsCredentials>> {
  const { GetRoleCredentialsCommand } = await import('@aws-sdk/client-sso')
  const client = await ssoClient(ctx, input.region)
  try {
    const { roleCredentials: c } = await client.send(new GetRoleCredentialsCommand({ accessToken: input.accessToken, accountId: input.accountId, roleName: input.roleName }))
    if (!c?.accessKeyId || !c.secretAccessKey || !c.sessionToken || !c.expiration) throw new Error('the answer had no credentials')
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiresAt: Number(c.expiration) }
  } finally {
    client.destroy()
  }
}

export interface SsoAccount {
  accountId: string
  accountName?: string
  emailAddress?: string
}

/** every account the signed-in user can reach (ListAccounts, all pages) */
export async function listAccounts(ctx: Pick<Context, 'env'>, input: { region: string; accessToken: string }): Promise<SsoAccount[]> {
  const { paginateListAccounts } = await import('@aws-sdk/client-sso')
  const client = await ssoClient(ctx, input.region)
  const accounts: SsoAccount[] = []
  try {
    for await (const page of paginateListAccounts({ client }, { accessToken: input.accessToken }))
      for (const a of page.accountList ?? []) if (a.accountId) accounts.push({ accountId: a.accountId, ...(a.accountName ? { accountName: a.accountName } : {}), ...(a.emailAddress ? { emailAddress: a.emailAddress } : {}) })
  } finally {
    client.destroy()
  }
  return accounts
}

/** the roles the user may take in one account (ListAccountRoles, all pages) */
export async function listAccountRoles(ctx: Pick<Context, 'env'>, input: { region: string; accessToken: string; accountId: string }): Promise<string[]> {
  const { paginateListAccountRoles } = await import('@aws-sdk/client-sso')
  const client = await ssoClient(ctx, input.region)
  const roles: string[] = []
  try {
    for await (const page of paginateListAccountRoles({ client }, { accessToken: input.accessToken, accountId: input.accountId }))
      for (const r of page.roleList ?? []) if (r.roleName) roles.push(r.roleName)
  } finally {
    client.destroy()
  }
  return roles
}

/** ends the sign-in session server-side (the portal's Logout) */
export async function logout(ctx: Pick<Context, 'env'>, input: { region: string; accessToken: string }): Promise<void> {
  const { LogoutCommand } = await import('@aws-sdk/client-sso')
  const client = await ssoClient(ctx, input.region)
  try {
    await client.send(new LogoutCommand({ accessToken: input.accessToken }))
  } finally {
    client.destroy()
  }
}

// ---- IAM Identity Center OIDC -----------------------------------------------------------

/** a new access token for a registered client's refresh token (CreateToken, grant refresh_token) */
export async function refreshSsoToken(ctx: Pick<Context, 'env'> & { now(): number }, input: { region: string; clientId: string; clientSecret: string; refreshToken: string }): Promise<{ accessToken: string; expiresAt: number; refreshToken?: string }> {
  const { SSOOIDCClient, CreateTokenCommand } = await import('@aws-sdk/client-sso-oidc')
  const client = new SSOOIDCClient(clientConfig(ctx, 'SSO_OIDC', input.region))
  try {
    const answer = await client.send(new CreateTokenCommand({ clientId: input.clientId, clientSecret: input.clientSecret, grantType: 'refresh_token', refreshToken: input.refreshToken }))
    if (!answer.accessToken || !answer.expiresIn) throw new Error('the answer had no token')
    return { accessToken: answer.accessToken, expiresAt: ctx.now() + answer.expiresIn * 1000, ...(answer.refreshToken ? { refreshToken: answer.refreshToken } : {}) }
  } finally {
    client.destroy()
  }
}

// ---- STS --------------------------------------------------------------------------------

/** who these credentials are (GetCallerIdentity) */
export async function callerIdentity(ctx: Pick<Context, 'env'>, input: { region: string; credentials: AwsCredentials }): Promise<{ arn: string; account: string }> {
  const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts')
  const client = new STSClient({ ...clientConfig(ctx, 'STS', input.region), credentials: input.credentials })
  try {
    const answer = await client.send(new GetCallerIdentityCommand({}))
    return { arn: answer.Arn ?? '', account: answer.Account ?? '' }
  } finally {
    client.destroy()
  }
}

/** a role's credentials for a web identity token (AssumeRoleWithWebIdentity; unsigned) */
export async function assumeRoleWithWebIdentity(ctx: Pick<Context, 'env'>, input: { region: string; roleArn: string; sessionName: string; token: string; durationSeconds?: number }): Promise<Required<AwsCredentials>> {
  const { STSClient, AssumeRoleWithWebIdentityCommand } = await import('@aws-sdk/client-sts')
  // unsigned (the operation needs no credentials): this call is how a job without any gets them
  const client = new STSClient(clientConfig(ctx, 'STS', input.region))
  try {
    const { Credentials: c } = await client.send(
      new AssumeRoleWithWebIdentityCommand({ RoleArn: input.roleArn, RoleSessionName: input.sessionName, WebIdentityToken: input.token, ...(input.durationSeconds ? { DurationSeconds: input.durationSeconds } : {}) }),
    )
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) throw new Error('the answer had no credentials')
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiresAt: c.Expiration.getTime() }
  } finally {
    client.destroy()
  }
}

// ---- SSM Parameter Store ----------------------------------------------------------------

/** an SSM client with explicit credentials, or the SDK's own resolution of `profile` (or its default chain) */
export async function ssmClient(ctx: Pick<Context, 'env'>, input: { region: string; credentials?: AwsCredentials; profile?: string }) {
  const { SSMClient } = await import('@aws-sdk/client-ssm')
  return new SSMClient({ ...clientConfig(ctx, 'SSM', input.region), ...(input.credentials ? { credentials: input.credentials } : input.profile ? { profile: input.profile } : {}) })
}
