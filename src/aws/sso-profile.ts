/**
 * An AWS SSO profile as the AWS CLI resolves it, and the sign-in token the CLI caches for it.
 *
 * A profile in sso-session format names its `[sso-session NAME]` (start URL, region, scopes) and
 * the account and role; a legacy profile carries the start URL and region itself. The CLI caches
 * the sign-in at ~/.aws/sso/cache/<sha1 of the session name>.json (legacy: of the start URL).
 * That cache is the AWS CLI's: keyrack reads it (refuses one that is not the user's own, private
 * file), writes back only a token it refreshed exactly as the SDKs do, and never copies a token
 * anywhere else — not into argv, a message, the daemon or its own files.
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { Context } from '../context.ts'
import { KeyrackVaultError } from '../domain/errors.ts'
import { printable, shellWord } from '../domain/printable.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'
import { readFileGuarded, UnsafeFileError } from '../runtime/read-file.ts'
import { findProfile, findSsoSession, readAwsConfig, type AwsConfig } from './config-file.ts'

export interface SsoProfile {
  profile: string
  /** the sso-session it signs in through; undefined for a legacy profile */
  session?: string
  startUrl: string
  /** the IAM Identity Center region (sso_region) */
  ssoRegion: string
  accountId: string
  roleName: string
  /** the profile's own `region`, for the clients that use its credentials */
  region?: string
}

export interface SsoToken {
  startUrl?: string
  region?: string
  accessToken: string
  /** epoch ms */
  expiresAt: number
  /** present when the CLI registered a client for the session: the token can be refreshed */
  refreshToken?: string
  clientId?: string
  clientSecret?: string
  /** epoch ms */
  registrationExpiresAt?: number
}

/** an access token closer than this to its expiry is refreshed (the SDKs' own window) */
export const REFRESH_WINDOW_MS = 5 * 60_000

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+=,-]{0,127}$/

/** a profile name keyrack will store and pass to `aws --profile`: plain, no spaces or shell syntax */
export const isProfileName = (name: string): boolean => PROFILE_NAME.test(name)

/**
 * The SSO settings of a profile.
 * @throws KeyrackVaultError naming the file and the fix when the profile is missing or not an SSO profile
 */
export function resolveSsoProfile(ctx: Pick<Context, 'env'>, name: string, config: AwsConfig = readAwsConfig(ctx)): SsoProfile {
  const shown = printable(name)
  const profile = findProfile(config, name)
  if (!profile)
    throw new KeyrackVaultError(`the AWS profile ${shown} is not in ${printable(config.file)}`, [
      `set it up with keyrack (it asks the start URL, signs in, lets you pick the account and role): keyrack set --key AWS_PROFILE --env <env> --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO`,
      'or name an existing profile: `aws configure list-profiles`',
    ])
  const v = profile.values
  const sessionName = v.sso_session
  let startUrl = v.sso_start_url
  let ssoRegion = v.sso_region
  if (sessionName) {
    const session = findSsoSession(config, sessionName)
    if (!session)
      throw new KeyrackVaultError(`the AWS profile ${shown} names sso-session ${printable(sessionName)}, which is not in ${printable(config.file)}`, [
        `add a \`[sso-session ${printable(sessionName)}]\` section with sso_start_url and sso_region, or run \`aws configure sso-session\``,
      ])
    startUrl = session.values.sso_start_url
    ssoRegion = session.values.sso_region
  }
  const missing = [!startUrl && 'sso_start_url', !ssoRegion && 'sso_region', !v.sso_account_id && 'sso_account_id', !v.sso_role_name && 'sso_role_name'].filter(Boolean)
  if (missing.length > 0)
    throw new KeyrackVaultError(`the AWS profile ${shown} is not an IAM Identity Center (SSO) profile: it lacks ${missing.join(', ')}`, [
      'EPHEMERAL_VIA_AWS_SSO needs an SSO profile; let keyrack write one: keyrack set --key AWS_PROFILE --env <env> --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO',
    ])
  return { profile: name, ...(sessionName ? { session: sessionName } : {}), startUrl: startUrl!, ssoRegion: ssoRegion!, accountId: v.sso_account_id!, roleName: v.sso_role_name!, ...(v.region ? { region: v.region } : {}) }
}

/** where the AWS CLI caches a profile's sign-in (botocore's SSOTokenLoader cache key) */
export function tokenCachePath(ctx: Pick<Context, 'env'>, profile: Pick<SsoProfile, 'session' | 'startUrl'>): string {
  const id = profile.session ?? profile.startUrl
  return join(ctx.env.HOME || '/', '.aws', 'sso', 'cache', `${createHash('sha1').update(id).digest('hex')}.json`)
}

/**
 * The cached sign-in of a profile, or null when there is none (never signed in, or signed out).
 * @throws KeyrackVaultError when the cache file is not a private file of the user's
 */
export function readSsoToken(ctx: Pick<Context, 'env'>, profile: SsoProfile): SsoToken | null {
  const file = tokenCachePath(ctx, profile)
  let bytes: Buffer | null
  try {
    bytes = readFileGuarded(file, { maxBytes: 64 * 1024, trusted: true })
  } catch (error) {
    if (error instanceof UnsafeFileError)
      throw new KeyrackVaultError(`the AWS SSO token cache ${printable(file)} ${error.detail}; keyrack will not use it`, [
        `remove it and sign in again: \`rm ${shellWord(file)} && aws sso login --profile ${shellWord(profile.profile)}\``,
      ])
    throw error
  }
  if (bytes === null) return null
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
  } catch {
    return null // the CLI rewrites it at the next sign-in; a torn file is simply "not signed in"
  }
  const expiresAt = typeof raw.expiresAt === 'string' ? Date.parse(raw.expiresAt) : NaN
  if (typeof raw.accessToken !== 'string' || !raw.accessToken || Number.isNaN(expiresAt)) return null
  // a token for another start URL (the session was pointed elsewhere since) is not this profile's
  if (typeof raw.startUrl === 'string' && raw.startUrl !== profile.startUrl) return null
  const str = (k: string) => (typeof raw[k] === 'string' && raw[k] ? (raw[k] as string) : undefined)
  const registrationExpiresAt = str('registrationExpiresAt') ? Date.parse(str('registrationExpiresAt')!) : undefined
  return {
    startUrl: str('startUrl'), region: str('region'), accessToken: raw.accessToken, expiresAt,
    ...(str('refreshToken') ? { refreshToken: str('refreshToken') } : {}),
    ...(str('clientId') ? { clientId: str('clientId') } : {}),
    ...(str('clientSecret') ? { clientSecret: str('clientSecret') } : {}),
    ...(registrationExpiresAt && !Number.isNaN(registrationExpiresAt) ? { registrationExpiresAt } : {}),
  }
}

/** can the SDK refresh this token without the human (a registered client, a refresh token)? */
export const isRefreshable = (token: SsoToken, now: number): boolean =>
  Boolean(token.refreshToken && token.clientId && token.clientSecret && (token.registrationExpiresAt ?? 0) > now)

/**
 * Writes a refreshed token back to the CLI's cache, as the SDKs do after CreateToken: the same
 * file, the same fields, atomically and private. Only a token keyrack just refreshed is written.
 */
export function writeRefreshedToken(ctx: Pick<Context, 'env'>, profile: SsoProfile, previous: SsoToken, next: { accessToken: string; expiresAt: number; refreshToken?: string }): void {
  const file = tokenCachePath(ctx, profile)
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const record = {
    startUrl: previous.startUrl ?? profile.startUrl,
    region: previous.region ?? profile.ssoRegion,
    accessToken: next.accessToken,
    expiresAt: iso(next.expiresAt),
    ...(previous.clientId ? { clientId: previous.clientId } : {}),
    ...(previous.clientSecret ? { clientSecret: previous.clientSecret } : {}),
    ...(previous.registrationExpiresAt ? { registrationExpiresAt: iso(previous.registrationExpiresAt) } : {}),
    ...((next.refreshToken ?? previous.refreshToken) ? { refreshToken: next.refreshToken ?? previous.refreshToken } : {}),
  }
  writeFileAtomic(file, JSON.stringify(record), 0o600, { foreignDir: true })
}
