/**
 * aws.config (alias aws.iam.sso): the key is an AWS CLI profile name — a pointer, not a secret
 * (protection `reference`). The profile lives in ~/.aws/config in sso-session format; the sign-in
 * behind it is the AWS CLI's (its token cache), which keyrack reads and never copies.
 *
 *  - set: records an existing SSO profile (the guided `set` of EPHEMERAL_VIA_AWS_SSO writes one first);
 *  - unlock: for the keys being unlocked, signs in again (`aws sso login --profile …`, the portal
 *    flow) only where the SSO session is over — one sign-in per session;
 *  - get: the profile name, once the profile is checked to still be an SSO profile;
 *  - relock: ends the SSO session of each profile the daemon let go of (the portal's Logout and
 *    that session's cache file only), unless a key still held uses the same session;
 *  - del: forgets the key; the profile stays in ~/.aws/config (it is the user's, and other tools
 *    may use it).
 *
 * It serves one mech, EPHEMERAL_VIA_AWS_SSO, which validates the sign-in with role credentials
 * fetched fresh (GetRoleCredentials) and gives the grant the session's expiry.
 */
import { KeyrackUsageError } from '../domain/errors.ts'
import { AWS_CLI, awsConfigPath } from '../aws/cli-tool.ts'
import type { LockableVault } from './vault.ts'

export const awsConfigVault: LockableVault = {
  id: 'aws.config',
  protection: 'reference',
  description: 'an AWS CLI profile in ~/.aws/config (IAM Identity Center / SSO); the AWS CLI keeps the sign-in',
  stores: ['exid'],
  mechs: ['EPHEMERAL_VIA_AWS_SSO'],
  tool: AWS_CLI,
  where: (ctx) => awsConfigPath(ctx),

  async isAvailable(ctx) {
    const { findOnPath, installHint } = await import('../runtime/spawn.ts')
    if (findOnPath('aws', ctx.env.PATH)) return { available: true }
    const install = installHint(AWS_CLI)
    return { available: false, reason: 'the AWS CLI (`aws`) is not installed; it signs you in to IAM Identity Center', hint: [...(install ? [`install it: \`${install}\``] : []), 'then check with `keyrack doctor`'] }
  },

  async set(session, { exid }) {
    if (!exid) throw new KeyrackUsageError('aws.config stores an AWS profile name: say which with `--exid <profile>`', ['keyrack set --key AWS_PROFILE --env <env> --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO --exid <profile>'])
    await requireTool(session.ctx)
    const { resolveSsoProfile, isProfileName } = await import('../aws/sso-profile.ts')
    if (!isProfileName(exid)) throw new KeyrackUsageError('an AWS profile name is letters, digits and . _ - @ + = , (no spaces)', ['`aws configure list-profiles` lists yours'])
    resolveSsoProfile(session.ctx, exid)
    return { exid }
  },

  async get(session, { exid }) {
    if (!exid) return null
    const { resolveSsoProfile } = await import('../aws/sso-profile.ts')
    // throws, naming the fix, when the profile was removed or is no longer an SSO profile
    return resolveSsoProfile(session.ctx, exid).profile
  },

  async del() {
    // the profile is the user's (other tools may use it): only keyrack's record of it goes
  },

  async unlock(session, keys = []) {
    const profiles = keys.flatMap((k) => (k.exid ? [k.exid] : []))
    if (profiles.length === 0) return
    await requireTool(session.ctx)
    const { readAwsConfig } = await import('../aws/config-file.ts')
    const { resolveSsoProfile } = await import('../aws/sso-profile.ts')
    const { ensureSignedIn } = await import('../aws/sso-session.ts')
    const config = readAwsConfig(session.ctx)
    await ensureSignedIn(session.ctx, profiles.map((p) => resolveSsoProfile(session.ctx, p, config)))
  },

  async relock(session, keys = [], kept = []) {
    if (keys.length === 0) return
    const { readAwsConfig } = await import('../aws/config-file.ts')
    const { resolveSsoProfile, tokenCachePath } = await import('../aws/sso-profile.ts')
    const { endSession } = await import('../aws/sso-session.ts')
    const config = readAwsConfig(session.ctx)
    const signInOf = (name: string) => {
      try {
        const profile = resolveSsoProfile(session.ctx, name, config)
        return { profile, file: tokenCachePath(session.ctx, profile) }
      } catch {
        return null // the profile is gone from the config: there is no session of it to end
      }
    }
    // a session a kept key still signs in through stays open
    const done = new Set(kept.flatMap((k) => signInOf(k.secret)?.file ?? []))
    for (const { secret } of keys) {
      const found = signInOf(secret)
      if (!found || done.has(found.file)) continue
      done.add(found.file)
      await endSession(session.ctx, found.profile)
    }
  },
}

async function requireTool(ctx: Parameters<LockableVault['isAvailable']>[0]): Promise<void> {
  const { findOnPath, toolMissingError } = await import('../runtime/spawn.ts')
  if (!findOnPath('aws', ctx.env.PATH)) throw toolMissingError(AWS_CLI)
}

export default awsConfigVault
