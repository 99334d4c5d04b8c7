/**
 * The guided `set` of EPHEMERAL_VIA_AWS_SSO (SPEC §8): from nothing to a working SSO profile.
 *
 *   1. which sign-in: an `[sso-session]` already in ~/.aws/config, or a new start URL and region;
 *   2. sign in once — `aws sso login --profile <temporary profile>` (the portal flow), the
 *      temporary profile living in a private config file of its own so ~/.aws/config never holds
 *      a half-made profile; the CLI caches the sign-in under the session's name, where the real
 *      profile will find it. The one-time OAuth client registration happens here, at setup;
 *   3. list the accounts and roles the sign-in reaches (ListAccounts, ListAccountRoles, with the
 *      token the CLI cached — it never appears in argv or output), and let the human pick;
 *   4. write `[profile NAME]` (+ a new `[sso-session NAME]`) into ~/.aws/config in one atomic edit
 *      that leaves every other byte alone.
 *
 * `set` then stores the profile name and proves the round trip (role credentials fetched fresh).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Context } from '../context.ts'
import { KeyrackNoTerminalError, KeyrackUsageError, KeyrackVaultError } from '../domain/errors.ts'
import type { Prompt } from '../ports.ts'
import { editSections, findProfile, readAwsConfig, writeAwsConfig, type AwsConfig, type SectionEdit } from './config-file.ts'
import { isProfileName, type SsoProfile } from './sso-profile.ts'
import { liveToken, signIn } from './sso-session.ts'

const NEW = '__new__'
const SCOPES = 'sso:account:access'
const SESSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

interface SignInChoice {
  session: string
  startUrl: string
  region: string
  /** a section keyrack must add to ~/.aws/config */
  isNew: boolean
}

/** what the set command is for, so the no-terminal hint is the exact command */
export interface GuidedInput {
  key: string
  env: string
  /** `--org`, when the command named one */
  org?: string
  /** ` --owner NAME` or '' */
  ownerFlag?: string
}

export async function askSsoProfile(ctx: Context, input: GuidedInput): Promise<{ exid: string }> {
  const prompt = ctx.prompt
  const setCommand = `keyrack set --key ${input.key} --env ${input.env}${input.org ? ` --org ${input.org}` : ''} --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO${input.ownerFlag ?? ''}`
  if (!prompt)
    throw new KeyrackNoTerminalError('setting up an AWS SSO profile asks which account and role to use, and there is no terminal to ask on', [
      `run it on a terminal: ${setCommand}`,
      `or name an SSO profile you already have: ${setCommand} --exid <profile>`,
    ])
  const config = readAwsConfig(ctx)
  const choice = await chooseSignIn(ctx, prompt, config)
  const temporary: SsoProfile = { profile: `keyrack-setup-${process.pid}`, session: choice.session, startUrl: choice.startUrl, ssoRegion: choice.region, accountId: '', roleName: '' }
  const token = (await liveToken(ctx, temporary)) ?? (await signInThroughTemporaryProfile(ctx, temporary))

  const { listAccounts, listAccountRoles, awsError } = await import('./clients.ts')
  const accounts = await listAccounts(ctx, { region: choice.region, accessToken: token.accessToken }).catch((error: unknown) => {
    throw awsError('listing your AWS accounts failed', error, ['check the start URL and region, then run the same command again'])
  })
  if (accounts.length === 0) throw new KeyrackVaultError(`your sign-in at ${choice.startUrl} reaches no AWS account`, ['ask your AWS administrator to assign you a permission set, then run the same command again'])
  const accountId =
    accounts.length === 1
      ? accounts[0]!.accountId
      : await prompt.select('which AWS account?', accounts.map((a) => ({ value: a.accountId, label: `${a.accountName ?? a.accountId} (${a.accountId})`, ...(a.emailAddress ? { hint: a.emailAddress } : {}) })))
  const roles = await listAccountRoles(ctx, { region: choice.region, accessToken: token.accessToken, accountId }).catch((error: unknown) => {
    throw awsError(`listing your roles in account ${accountId} failed`, error)
  })
  if (roles.length === 0) throw new KeyrackVaultError(`you have no role in AWS account ${accountId}`, ['ask your AWS administrator for a permission set in it, or pick another account'])
  const roleName = roles.length === 1 ? roles[0]! : await prompt.select(`which role in ${accountId}?`, roles.map((r) => ({ value: r, label: r })))

  const wanted: Record<string, string> = { sso_session: choice.session, sso_account_id: accountId, sso_role_name: roleName, region: ctx.env.AWS_REGION || choice.region }
  const profile = await chooseProfileName(prompt, config, `${choice.session}.${input.env}.${shortRole(roleName)}`, wanted)
  const edits: SectionEdit[] = []
  if (choice.isNew) edits.push({ header: `sso-session ${choice.session}`, values: { sso_start_url: choice.startUrl, sso_region: choice.region, sso_registration_scopes: SCOPES }, comment: 'IAM Identity Center sign-in, added by keyrack' })
  if (!sameValues(findProfile(config, profile)?.values, wanted)) edits.push({ header: `profile ${profile}`, values: wanted, comment: `${input.key} (env ${input.env}), added by keyrack` })
  if (edits.length > 0) writeAwsConfig(config, editSections(config.text, edits))
  return { exid: profile }
}

async function chooseSignIn(ctx: Context, prompt: Prompt, config: AwsConfig): Promise<SignInChoice> {
  const sessions = config.sections.filter((s) => s.kind === 'sso-session' && s.values.sso_start_url && s.values.sso_region && SESSION_NAME.test(s.name))
  if (sessions.length > 0) {
    const picked = await prompt.select('sign in through which IAM Identity Center (SSO) session?', [
      ...sessions.map((s) => ({ value: s.name, label: `${s.name}: ${s.values.sso_start_url} (${s.values.sso_region})` })),
      { value: NEW, label: 'another start URL' },
    ])
    const known = sessions.find((s) => s.name === picked)
    if (known) return { session: known.name, startUrl: known.values.sso_start_url!, region: known.values.sso_region!, isNew: false }
  }
  let startUrl = ''
  while (!isStartUrl(startUrl)) {
    startUrl = (await prompt.text('your AWS access portal URL (the SSO start URL), e.g. https://d-1234567890.awsapps.com/start')).trim()
    if (!isStartUrl(startUrl)) await prompt.confirm('that is not an https URL; try again?', true).then((again) => { if (!again) throw new KeyrackUsageError('no start URL given; nothing was written') })
  }
  const same = sessions.find((s) => s.values.sso_start_url === startUrl)
  if (same) return { session: same.name, startUrl, region: same.values.sso_region!, isNew: false }
  let region = ''
  while (!/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/.test(region)) region = (await prompt.text('its IAM Identity Center region', ctx.env.AWS_REGION || 'us-east-1')).trim()
  let session = ''
  const suggested = suggestSessionName(startUrl, config)
  while (!SESSION_NAME.test(session) || config.sections.some((s) => s.kind === 'sso-session' && s.name === session))
    session = (await prompt.text('a name for this sign-in (its [sso-session] section in ~/.aws/config)', suggested)).trim()
  return { session, startUrl, region, isNew: true }
}

/** signs in once through a temporary profile kept in a private config file of its own */
async function signInThroughTemporaryProfile(ctx: Context, temporary: SsoProfile) {
  const dir = mkdtempSync(join(ctx.env.TMPDIR || '/tmp', 'keyrack-aws-'))
  const file = join(dir, 'config')
  try {
    writeFileSync(
      file,
      `[profile ${temporary.profile}]\nsso_session = ${temporary.session}\n\n[sso-session ${temporary.session}]\nsso_start_url = ${temporary.startUrl}\nsso_region = ${temporary.ssoRegion}\nsso_registration_scopes = ${SCOPES}\n`,
      { mode: 0o600 },
    )
    return await signIn(ctx, temporary, { file, isTemporary: true })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function chooseProfileName(prompt: Prompt, config: AwsConfig, suggested: string, wanted: Record<string, string>): Promise<string> {
  for (;;) {
    const name = (await prompt.text('a name for the AWS profile (what AWS_PROFILE will be)', suggested)).trim()
    if (!isProfileName(name)) continue
    const existing = findProfile(config, name)
    if (!existing || sameValues(existing.values, wanted)) return name
    if (await prompt.confirm(`profile ${name} already exists in ${config.file} with other settings: replace it?`, false)) return name
  }
}

const sameValues = (have: Record<string, string> | undefined, want: Record<string, string>): boolean =>
  have !== undefined && Object.keys(have).length === Object.keys(want).length && Object.entries(want).every(([k, v]) => have[k] === v)

const isStartUrl = (url: string): boolean => {
  try {
    const u = new URL(url)
    return u.protocol === 'https:' && u.hostname.includes('.') && !/\s/.test(url)
  } catch {
    return false
  }
}

/** `d-9067c1a2b3` from https://d-9067c1a2b3.awsapps.com/start, `acme` from https://acme.awsapps.com/start */
function suggestSessionName(startUrl: string, config: AwsConfig): string {
  const label = new URL(startUrl).hostname.split('.')[0]!.replace(/[^A-Za-z0-9._-]/g, '') || 'sso'
  let name = label
  for (let i = 2; config.sections.some((s) => s.kind === 'sso-session' && s.name === name); i++) name = `${label}-${i}`
  return name
}

/** AdministratorAccess → admin, ReadOnlyAccess → readonly, PowerUserAccess → poweruser */
function shortRole(role: string): string {
  const base = role.replace(/Access$/, '').toLowerCase()
  return (base === 'administrator' ? 'admin' : base).replace(/[^a-z0-9._-]/g, '') || 'role'
}
