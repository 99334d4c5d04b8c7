/**
 * EPHEMERAL_VIA_AWS_SSO: the key is AWS_PROFILE — the name of an IAM Identity Center (SSO)
 * profile with a live sign-in behind it (SPEC §8). Its source is the profile name, kept in the
 * aws.config vault; the sign-in is the AWS CLI's.
 *
 * Minting validates against AWS, not against a cache: the role's credentials are fetched fresh
 * (GetRoleCredentials) with the cached token, so a session ended or revoked server-side fails
 * here. The grant lasts as long as the sign-in (the token's expiry after any refresh), never
 * longer; the role credentials travel with it as companions (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN — short-lived ASIA… keys), handed out only when asked
 * (`--with-credentials`, or `with-credentials: true` on the key in .agent/keyrack.yml), for tools
 * that do not read profiles.
 *
 * Minting never signs in: that is the human's step, done by the vault's unlock (`aws sso login
 * --profile …`, the portal flow) before anything is minted.
 */
import { KeyrackKeyExpiredError } from '../domain/errors.ts'
import { ownerFlag } from '../domain/hints.ts'
import { parseSlug } from '../domain/names.ts'
import { printable } from '../domain/printable.ts'
import type { Mech } from './mech.ts'

export const AWS_CREDENTIAL_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const

export const ephemeralViaAwsSsoMech: Mech = {
  id: 'EPHEMERAL_VIA_AWS_SSO',
  duration: 'ephemeral',
  description: 'an AWS IAM Identity Center (SSO) profile: AWS_PROFILE with a live sign-in behind it (and its role credentials with --with-credentials)',
  source: 'exid',
  dedicated: true,
  companions: { keys: AWS_CREDENTIAL_KEYS, when: 'asked' },

  async ask(ctx, input) {
    const { askSsoProfile } = await import('../aws/guided-profile.ts')
    return askSsoProfile(ctx, { ...input, ownerFlag: ownerFlag(ctx) })
  },

  async toKey(ctx, { slug, source }) {
    const { resolveSsoProfile } = await import('../aws/sso-profile.ts')
    const { liveToken } = await import('../aws/sso-session.ts')
    const { getRoleCredentials, awsError } = await import('../aws/clients.ts')
    const profile = resolveSsoProfile(ctx, source)
    const { key, env } = parseSlug(slug)
    const again = `sign in again: \`keyrack unlock --key ${key} --env ${env}${ownerFlag(ctx)}\``
    const token = await liveToken(ctx, profile)
    if (!token) throw new KeyrackKeyExpiredError(`the AWS SSO sign-in of profile ${printable(profile.profile)} has ended`, [again])
    const credentials = await getRoleCredentials(ctx, { region: profile.ssoRegion, accessToken: token.accessToken, accountId: profile.accountId, roleName: profile.roleName }).catch((error: unknown) => {
      if ((error as { name?: string }).name === 'UnauthorizedException') throw new KeyrackKeyExpiredError(`the AWS SSO sign-in of profile ${printable(profile.profile)} was ended or revoked`, [again])
      throw awsError(`AWS refused the role ${printable(profile.roleName)} in account ${profile.accountId} of profile ${printable(profile.profile)}`, error, [
        'check that your permission set still grants that role (`aws sso list-account-roles`), or set the key up again with another role',
      ])
    })
    return {
      secret: profile.profile,
      expiresAt: token.expiresAt,
      companions: {
        secrets: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_SESSION_TOKEN: credentials.sessionToken },
        expiresAt: credentials.expiresAt,
      },
    }
  },
}
export default ephemeralViaAwsSsoMech
