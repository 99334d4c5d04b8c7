/**
 * EPHEMERAL_VIA_GITHUB_OIDC: AWS credentials for a GitHub Actions job, with no secret stored
 * anywhere (SPEC §8). The repo manifest declares the IAM role with the key:
 *
 *   - key: AWS_ACCESS_KEY_ID
 *     mech: EPHEMERAL_VIA_GITHUB_OIDC
 *     role-arn: arn:aws:iam::123456789012:role/ci
 *
 * and in CI (`keyrack get --for repo --ci`) the job's OIDC token (audience sts.amazonaws.com) is
 * exchanged with STS AssumeRoleWithWebIdentity for the role's credentials: AWS_ACCESS_KEY_ID (an
 * ASIA… key) with AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which always travel with it. The
 * job needs `permissions: id-token: write`; the role's trust policy decides which repos and refs
 * may assume it.
 */
import { printable } from '../domain/printable.ts'
import type { Mech } from './mech.ts'

export const STS_AUDIENCE = 'sts.amazonaws.com'

export const ephemeralViaGithubOidcMech: Mech = {
  id: 'EPHEMERAL_VIA_GITHUB_OIDC',
  duration: 'ephemeral',
  description: 'in GitHub Actions: the job\'s OIDC token exchanged for an IAM role\'s credentials (declared with `role-arn:` in .agent/keyrack.yml; nothing to set)',
  source: 'declared',
  companions: { keys: ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'], when: 'always' },

  async toKey(ctx, { source: roleArn }) {
    const { githubActionsIdToken, ID_TOKEN_PERMISSIONS } = await import('../ci/github-oidc.ts')
    const { assumeRoleWithWebIdentity, awsError } = await import('../aws/clients.ts')
    const token = await githubActionsIdToken(ctx, STS_AUDIENCE)
    // a session name CloudTrail shows: which run assumed the role
    const run = `${ctx.env.GITHUB_RUN_ID ?? 'run'}-${ctx.env.GITHUB_RUN_ATTEMPT ?? '1'}`.replace(/[^\w+=,.@-]/g, '')
    const credentials = await assumeRoleWithWebIdentity(ctx, {
      region: ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || 'us-east-1',
      roleArn,
      sessionName: `keyrack-${run}`.slice(0, 64),
      token,
    }).catch((error: unknown) => {
      throw awsError(`STS refused to let this job assume ${printable(roleArn)}`, error, [
        `the role's trust policy must trust token.actions.githubusercontent.com for this repo and ref (audience ${STS_AUDIENCE}), and the job needs \`${ID_TOKEN_PERMISSIONS}\``,
      ])
    })
    return {
      secret: credentials.accessKeyId,
      expiresAt: credentials.expiresAt,
      companions: { secrets: { AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_SESSION_TOKEN: credentials.sessionToken }, expiresAt: credentials.expiresAt },
    }
  },
}
export default ephemeralViaGithubOidcMech
