/**
 * The sign-in behind AWS SSO profiles: is it live, can it be refreshed, sign in again, end it.
 *
 * Signing in is always the portal flow, `aws sso login --profile <name>` — never
 * `aws sso login --sso-session <name>`, which starts the OAuth flow whose browser page asks the
 * human to "Allow botocore-client-<name>" (docs/decisions.md, "AWS SSO: the portal flow"). The
 * one-time client registration happens at `keyrack set` (its round trip signs in once), so later
 * unlocks show only the normal sign-in page.
 *
 * A token close to its end is refreshed the way the SDKs refresh it (SSO-OIDC CreateToken with
 * the refresh token the CLI cached, then the cache rewritten), so a session that still lasts is
 * never mistaken for an ended one and the human is asked only when the session itself is over.
 */
import type { Context } from '../context.ts'
import { KeyrackVaultError } from '../domain/errors.ts'
import { printable, shellWord } from '../domain/printable.ts'
import { AWS_CLI } from './cli-tool.ts'
import { isRefreshable, readSsoToken, REFRESH_WINDOW_MS, tokenCachePath, writeRefreshedToken, type SsoProfile, type SsoToken } from './sso-profile.ts'

/** how long a human may take to approve a sign-in in the browser (the device code lives 10 min) */
const SIGN_IN_TIMEOUT_MS = 15 * 60_000

/** OIDC errors that mean the session (or its client registration) is over: only a sign-in helps */
const SESSION_OVER = new Set(['InvalidGrantException', 'ExpiredTokenException', 'InvalidClientException', 'UnauthorizedClientException', 'AccessDeniedException'])

/**
 * A usable access token for the profile, refreshed when the SDKs would refresh it; null when the
 * sign-in is over (or never happened) and only `aws sso login` helps. Never prompts.
 */
export async function liveToken(ctx: Context, profile: SsoProfile): Promise<SsoToken | null> {
  const token = readSsoToken(ctx, profile)
  if (!token) return null
  const now = ctx.now()
  if (token.expiresAt - now > REFRESH_WINDOW_MS) return token
  if (!isRefreshable(token, now)) return token.expiresAt > now ? token : null
  const { refreshSsoToken, awsError } = await import('./clients.ts')
  let next: Awaited<ReturnType<typeof refreshSsoToken>>
  try {
    next = await refreshSsoToken(ctx, { region: profile.ssoRegion, clientId: token.clientId!, clientSecret: token.clientSecret!, refreshToken: token.refreshToken! })
  } catch (error) {
    if (SESSION_OVER.has((error as { name?: string }).name ?? '')) return token.expiresAt > now ? token : null
    throw awsError(`refreshing the AWS SSO sign-in of profile ${printable(profile.profile)} failed`, error)
  }
  writeRefreshedToken(ctx, profile, token, next)
  return { ...token, ...next }
}

/**
 * Signs in with the portal flow, `aws sso login --profile <name>`: the AWS CLI opens the browser
 * (and prints the URL and code, which the human sees), and caches the sign-in.
 * @throws KeyrackVaultUnavailableError when the AWS CLI is missing; KeyrackVaultError when the sign-in fails
 */
export async function signIn(ctx: Context, profile: SsoProfile, config?: { file: string; isTemporary: boolean }): Promise<SsoToken> {
  const result = await ctx.spawn({
    argv: ['aws', 'sso', 'login', '--profile', profile.profile],
    tool: AWS_CLI,
    timeoutMs: SIGN_IN_TIMEOUT_MS,
    showOutput: true,
    // a guided set signs in through a temporary profile in a config file of its own
    ...(config?.isTemporary ? { env: { ...ctx.env, AWS_CONFIG_FILE: config.file } } : {}),
  })
  if (result.code !== 0)
    throw new KeyrackVaultError(`\`aws sso login --profile ${printable(profile.profile)}\` failed (exit ${result.code})`, [
      'check the start URL and region of its sso-session, and that you approved the sign-in in the browser',
      `then try again, or sign in yourself: \`aws sso login --profile ${shellWord(profile.profile)}\``,
    ])
  const token = await liveToken(ctx, profile)
  if (!token)
    throw new KeyrackVaultError(`\`aws sso login --profile ${printable(profile.profile)}\` succeeded, but no live sign-in was cached at ${printable(tokenCachePath(ctx, profile))}`, [
      'check that HOME is the same for keyrack and the AWS CLI, and that the clock is right',
    ])
  return token
}

/**
 * Every profile's session is live afterwards: each distinct sign-in is checked once, and only
 * the ones that are over are signed in again (one browser sign-in per sso-session, however many
 * profiles share it).
 */
export async function ensureSignedIn(ctx: Context, profiles: readonly SsoProfile[]): Promise<void> {
  const bySignIn = new Map<string, SsoProfile>()
  for (const p of profiles) if (!bySignIn.has(tokenCachePath(ctx, p))) bySignIn.set(tokenCachePath(ctx, p), p)
  for (const profile of bySignIn.values()) if (!(await liveToken(ctx, profile))) await signIn(ctx, profile)
}

/**
 * Ends one sign-in session — the portal's Logout for its token, then the CLI's cache file of that
 * session only — unlike `aws sso logout`, which ends every session the CLI knows.
 * @returns whether a live session was ended
 */
export async function endSession(ctx: Context, profile: SsoProfile): Promise<boolean> {
  const token = readSsoToken(ctx, profile)
  if (!token) return false
  const live = token.expiresAt > ctx.now()
  if (live) {
    const { logout } = await import('./clients.ts')
    // an already-invalid token needs no logout; anything else is still worth removing locally
    await logout(ctx, { region: profile.ssoRegion, accessToken: token.accessToken }).catch(() => undefined)
  }
  const { removeFileIfExists } = await import('../runtime/fs-atomic.ts')
  removeFileIfExists(tokenCachePath(ctx, profile))
  return live
}
