/**
 * Which AWS identity and region keyrack uses to reach a service on the user's behalf (aws.params):
 *
 *  - a profile named with the key (or AWS_PROFILE in the environment): an IAM Identity Center
 *    (SSO) profile gets its role credentials the way EPHEMERAL_VIA_AWS_SSO does — the sign-in the
 *    AWS CLI cached, role credentials fetched fresh — so the identity can itself be an AWS SSO key
 *    keyrack holds; any other profile is left to the SDK's own resolution of that profile;
 *  - else credentials in the environment (AWS_ACCESS_KEY_ID, …: CI, or `keyrack exec`);
 *  - else the SDK's default chain.
 *
 * The region: the one named with the key, then AWS_REGION / AWS_DEFAULT_REGION, then the profile's.
 */
import type { Context } from '../context.ts'
import { KeyrackKeyExpiredError, KeyrackVaultError } from '../domain/errors.ts'
import { printable } from '../domain/printable.ts'
import type { AwsCredentials } from './clients.ts'
import { findProfile, readAwsConfig } from './config-file.ts'
import { resolveSsoProfile, type SsoProfile } from './sso-profile.ts'

export interface AwsIdentity {
  region: string
  /** explicit credentials; absent: the SDK resolves `profile` (or its default chain) itself */
  credentials?: AwsCredentials
  profile?: string
  /** the SSO profile behind the credentials, when there is one (its sign-in may need renewing) */
  sso?: SsoProfile
}

/** the profile the identity comes from: the one named, else AWS_PROFILE */
export const profileFor = (ctx: Pick<Context, 'env'>, named?: string): string | undefined => named || ctx.env.AWS_PROFILE || undefined

/** the SSO profile behind `profile`, or undefined when it is another kind of profile (or none) */
export function ssoProfileFor(ctx: Pick<Context, 'env'>, profile: string | undefined): SsoProfile | undefined {
  if (!profile) return undefined
  const config = readAwsConfig(ctx)
  const section = findProfile(config, profile)
  if (!section) throw new KeyrackVaultError(`the AWS profile ${printable(profile)} is not in ${printable(config.file)}`, ['name a profile from `aws configure list-profiles`'])
  const v = section.values
  return v.sso_session || v.sso_start_url ? resolveSsoProfile(ctx, profile, config) : undefined
}

export function regionFor(ctx: Pick<Context, 'env'>, named: string | undefined, profile: string | undefined, what: string): string {
  const fromProfile = profile ? findProfile(readAwsConfig(ctx), profile)?.values.region : undefined
  const region = named || ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || fromProfile
  if (!region)
    throw new KeyrackVaultError(`no AWS region for ${what}`, ['name it with the key (`?region=us-east-1` at the end of `--exid`), or set AWS_REGION'])
  return region
}

/** the identity to call AWS with, for a profile named with the key (or none) */
export async function awsIdentity(ctx: Context, input: { profile?: string; region?: string; what: string }): Promise<AwsIdentity> {
  const profile = profileFor(ctx, input.profile)
  const region = regionFor(ctx, input.region, profile, input.what)
  const sso = ssoProfileFor(ctx, profile)
  if (sso) {
    const { liveToken } = await import('./sso-session.ts')
    const { getRoleCredentials, awsError } = await import('./clients.ts')
    const token = await liveToken(ctx, sso)
    if (!token) throw new KeyrackKeyExpiredError(`the AWS SSO sign-in of profile ${printable(sso.profile)} has ended`, [`sign in again: \`keyrack unlock\` for the keys kept in aws.params (or \`aws sso login --profile ${printable(sso.profile)}\`)`])
    const credentials = await getRoleCredentials(ctx, { region: sso.ssoRegion, accessToken: token.accessToken, accountId: sso.accountId, roleName: sso.roleName }).catch((error: unknown) => {
      throw awsError(`AWS refused the role of profile ${printable(sso.profile)}`, error)
    })
    return { region, credentials, profile, sso }
  }
  if (profile) return { region, profile }
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = ctx.env
  if (accessKeyId && secretAccessKey) return { region, credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
  return { region }
}
