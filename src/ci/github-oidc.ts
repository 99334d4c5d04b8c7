/**
 * The GitHub Actions OIDC token of the running job (what `core.getIDToken(audience)` returns): the
 * runner puts ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN in the environment
 * of a job whose workflow grants `permissions: id-token: write`; a GET of the URL with the
 * audience appended, carrying the request token as a bearer token, answers `{"value": "<JWT>"}`.
 * Reached only through the context's fetch port; the token never leaves this process except to STS.
 */
import type { Context } from '../context.ts'
import { KeyrackVaultError } from '../domain/errors.ts'
import { isGithubActions } from './github-actions.ts'

/** the workflow permissions a job needs for an OIDC token, as YAML to paste */
export const ID_TOKEN_PERMISSIONS = 'permissions: { id-token: write, contents: read }'

export async function githubActionsIdToken(ctx: Pick<Context, 'env' | 'fetch'>, audience: string): Promise<string> {
  const url = ctx.env.ACTIONS_ID_TOKEN_REQUEST_URL
  const requestToken = ctx.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN
  if (!isGithubActions(ctx.env))
    throw new KeyrackVaultError('an OIDC token comes only from a GitHub Actions job, and this is not one', [
      'EPHEMERAL_VIA_GITHUB_OIDC mints in CI; on your machine use an AWS SSO profile: keyrack set --key AWS_PROFILE --env <env> --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO',
    ])
  if (!url || !requestToken)
    throw new KeyrackVaultError('this GitHub Actions job cannot get an OIDC token: its workflow does not grant `id-token: write`', [
      `add to the job (or the workflow): \`${ID_TOKEN_PERMISSIONS}\``,
    ])
  let response: Response
  try {
    response = await ctx.fetch(`${url}${url.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`, {
      headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json; api-version=2.0' },
    })
  } catch {
    throw new KeyrackVaultError('the GitHub Actions OIDC token service could not be reached', ['re-run the job; if it persists, check githubstatus.com'])
  }
  const body = (await response.json().catch(() => null)) as { value?: unknown } | null
  if (!response.ok || typeof body?.value !== 'string' || body.value.split('.').length !== 3)
    throw new KeyrackVaultError(`the GitHub Actions OIDC token service refused the request (HTTP ${response.status})`, [
      `check the job's \`${ID_TOKEN_PERMISSIONS}\`; a pull request from a fork gets no OIDC token`,
    ])
  return body.value
}
