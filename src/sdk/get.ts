/**
 * get: the allowlisted keys for a repo env, or one key — all or nothing (SPEC §11).
 *
 * The allowlist is checked before anything is looked up; then each key is resolved through the
 * chain of sources (./sources.ts: daemon → index-free vaults → the owner's records → the
 * environment), and every grant, wherever it came from, passes one check (domain/enforce.ts:
 * the repo's mech/grade requirement and the firewall). Nothing here prompts by itself; with
 * `unlock`, what is locked is unlocked into the daemon (one passphrase) and looked up again.
 * Heavy modules stay off this path: vaults load lazily, and only when the daemon did not answer.
 */
import { isGithubActions } from '../ci/github-actions.ts'
import type { Context } from '../context.ts'
import { checkRequirement, enforce } from '../domain/enforce.ts'
import { hints } from '../domain/hints.ts'
import { ENV_ALL } from '../domain/names.ts'
import type { Grant } from '../domain/grant.ts'
import type { KeyReport } from '../domain/report.ts'
import { allowlistFor, declarationOf, type AllowlistedKey } from '../manifests/repo.ts'
import { KeyrackKeysUnavailableError } from './errors.ts'
import { hasRhachetKeyrack } from '../import/rhachet-paths.ts'
import { resolveTargets, type Target } from './targets.ts'
import { daemonSource, resolveChain, type Resolved, type Source } from './sources.ts'

export type { KeyReport, KeyState } from '../domain/report.ts'

export interface GetInput {
  /** 'repo': every key the repo manifest allowlists for env */
  for?: 'repo'
  /** one key by name */
  key?: string
  env?: string
  /** org for an explicit --key outside a repo (or `@all` for machine-wide keys) */
  org?: string
  /** CI mode: keys come only from the environment (SPEC §11) */
  ci?: boolean
  /** emit the granted keys even when others are missing (`keyrack source --lenient`); default all or nothing */
  lenient?: boolean
  /** exec --strict-env: keys allowlisted for other envs are removed from the command's environment */
  strictEnv?: boolean
  /**
   * get-or-unlock, for humans: look as a robot would (no passphrase), unlock what is locked or
   * expired into the daemon (ctx.passphrase: one prompt), then answer from the daemon. Without
   * it, a passphrase source in ctx reads the owner's vaults directly for this one call.
   */
  unlock?: boolean
  /** with `unlock`: how long the unlocked keys live (default 9h; 30m for env sudo) */
  duration?: string
  /**
   * also hand out the credentials a key's mech mints beside it (an AWS SSO profile's role
   * credentials), for every key — the repo manifest can ask for it per key (`with-credentials: true`)
   */
  withCredentials?: boolean
}

export interface GetResult {
  env: string
  /** the granted keys, in allowlist order */
  grants: Grant[]
  report: KeyReport[]
  /** allowlisted-key warnings, and (CI) keys present in the environment but not allowlisted */
  warnings: string[]
}

export async function get(ctx: Context, input: GetInput): Promise<GetResult> {
  // CI mode reads only the environment and touches no file: nothing to log
  if (input.ci) return getOnce(ctx, input)
  // every get is in the audit log: the slugs handed out, or why not. What the daemon hands out it
  // logs itself (with the caller it sees); this process adds a line only for the rest
  const tag = { command: ctx.audit?.command ?? 'get', ...(ctx.audit?.details ? { details: ctx.audit.details } : {}), daemonLogged: new Set<string>() }
  const tagged: Context = { ...ctx, audit: tag }
  const base = { env: input.env ?? null, slugs: input.key ? [input.key] : [] }
  // the audit module is loaded only when this process has a line to write: a get the daemon served
  // and logged whole (the hot path) does not pay for it
  const audit = () => import('./audit.ts')
  let result: GetResult
  try {
    result = await getOnce(tagged, input)
  } catch (error) {
    return (await audit()).recordFailure(tagged, 'get', base, error)
  }
  const slugs = result.grants.map((g) => g.slug)
  if (slugs.length > 0 && slugs.length === result.report.length && slugs.every((s) => tag.daemonLogged.has(s))) return result
  await (
    await audit()
  ).record(tagged, {
    command: tag.command,
    env: result.env,
    slugs,
    outcome: slugs.length > 0 ? 'granted' : 'ok',
    ...(slugs.length < result.report.length ? { details: { ...tag.details, withheld: result.report.length - slugs.length } } : {}),
  })
  return result
}

async function getOnce(ctx: Context, input: GetInput): Promise<GetResult> {
  const target = resolveTargets(ctx, input)
  if (!input.unlock || input.ci) return getTarget(ctx, target, input)
  // get-or-unlock: every look is a robot's (no passphrase), so nothing is read around the daemon
  const robot: Context = { ...ctx, passphrase: undefined }
  const look = () => getTarget(robot, target, input)
  const needsUnlock = (report: Omit<KeyReport, 'grant'>[]) => report.some((r) => (r.state === 'locked' || r.state === 'expired') && !r.optional)
  let result: GetResult
  try {
    result = await look()
  } catch (error) {
    if (!(error instanceof KeyrackKeysUnavailableError) || !needsUnlock(error.report)) throw error
    result = { env: target.env, grants: [], report: error.report, warnings: [] }
  }
  if (!needsUnlock(result.report)) return result
  const { unlockTarget } = await import('./unlock.ts')
  const unlocked = await unlockTarget(ctx, target, { duration: input.duration })
  // now from the daemon, as every later process will get them; what unlock skipped says why, by name
  return look().catch((error: unknown) => {
    if (error instanceof KeyrackKeysUnavailableError) error.warnings.push(...unlocked.skipped.map((s) => `${s.key}: ${s.reason}`))
    throw error
  })
}

/** the chain and the checks for keys already resolved against the repo manifest */
export async function getTarget(ctx: Context, target: Target, input: Pick<GetInput, 'ci' | 'lenient' | 'strictEnv' | 'withCredentials'>): Promise<GetResult> {
  // a daemon that is unsafe or does not answer is skipped, and said (daemon/owner.ts lookupDaemon)
  const daemonWarnings: string[] = []
  // everything after the daemon loads only when the daemon did not answer for every key
  const local = () => import('./local-sources.ts')
  const sources: (() => Source | Promise<Source>)[] = input.ci
    ? [async () => (await local()).environmentSource(ctx), async () => (await local()).declaredSource(ctx, target.keys)]
    : [
        () => daemonSource(ctx, daemonWarnings),
        async () => (await local()).indexFreeSource(ctx),
        async () => (await local()).recordsSource(ctx, undefined, declaredBy(target)),
        async () => (await local()).environmentSource(ctx),
      ]
  const resolved = await resolveChain(target.keys, sources)
  const ordered = target.keys.map((k) => toReport(ctx, k, resolved.get(k.key), target, input.ci === true))
  await settleCompanions(ctx, target, ordered, input.withCredentials === true)

  // is-optional-if-has: a missing key is fine when its alternative is granted
  for (const report of ordered) {
    const spec = target.keys.find((k) => k.key === report.key)!.spec
    if (report.state !== 'granted' && report.state !== 'blocked' && spec.isOptionalIfHas) {
      const other = ordered.find((r) => r.key === spec.isOptionalIfHas)
      if (other?.state === 'granted' || ctx.env[spec.isOptionalIfHas]) report.optional = true
    }
  }

  // the daemon skipped, what the repo manifest ignored (rhachet-compatible), then the keys' own warnings
  const warnings = [...daemonWarnings, ...(target.manifest?.warnings ?? []), ...ordered.flatMap((r) => (r.warning ? [`${r.key}: ${r.warning}`] : []))]
  // with exec --strict-env those keys never reach the command: nothing to warn about
  if (input.ci && target.manifest && !input.strictEnv) {
    const allowed = new Set(allowlistFor(target.manifest, target.env).map((k) => k.key))
    const all = new Set([...target.manifest.envs.values()].flat().map((s) => s.key))
    for (const name of all) if (!allowed.has(name) && ctx.env[name]) warnings.push(`${name} is set in the environment but not allowlisted for env ${target.env} (\`keyrack exec --strict-env\` removes it from the child)`)
  }
  const failing = ordered.filter((r) => r.state !== 'granted' && !r.optional)
  // lenient: the caller chose to go on without the missing keys (never with a blocked one)
  if (input.lenient) for (const r of failing) warnings.push(`${r.key}: ${r.state}${r.reason ? ` (${r.reason})` : ''}; ${r.hint[0] ?? ''}`.trim())
  else if (failing.length > 0)
    throw new KeyrackKeysUnavailableError(ordered.map(({ grant: _grant, ...rest }) => rest), daemonWarnings)
  return { env: target.env, grants: ordered.flatMap((r) => (r.grant ? [r.grant] : [])), report: ordered, warnings }
}

/** what the repo manifest declares with the key a slug serves (a GitHub App token's narrowing) */
const declaredBy = (target: Target) => (slug: string) => target.keys.find((k) => k.slugs.includes(slug))?.spec

/** one key's report: its grant checked against the repo and the firewall, or why there is none */
function toReport(ctx: Context, k: AllowlistedKey, resolved: Resolved | undefined, target: Target, ci: boolean): KeyReport {
  const base = { key: k.key, env: k.env, slug: resolved?.slug ?? k.slugs[0]! }
  const unlockHint = target.manifest ? hints.unlockRepo(ctx, k.env) : hints.unlockKey(ctx, k.key, k.env)
  const answer = resolved?.answer
  if (!answer) {
    if (ci) return { ...base, state: 'absent', reason: 'not in the environment', hint: [ciAbsentHint(ctx, k.key)] }
    // no inventory and a locked identity: keyrack cannot tell "never set" from "not unlocked"
    return { ...base, state: 'locked', reason: 'set, but not unlocked', maybeAbsent: true, hint: [unlockHint, `a key that was never set needs: ${hints.set(ctx, { key: 'KEY', env: k.env })}`] }
  }
  switch (answer.state) {
    case 'expired':
      return { ...base, state: 'expired', reason: 'the unlock or the credential ran out', hint: [unlockHint] }
    case 'locked': {
      // the records tell its mech and vault: a key that could never be served is blocked, not locked
      const unmet = answer.recorded && checkRequirement(k.spec, answer.recorded, { env: k.env, owner: ctx.owner, ci })
      if (unmet) return { ...base, state: 'blocked', reason: unmet.reason, hint: unmet.hint }
      return { ...base, state: 'locked', reason: answer.reason, hint: answer.hint ?? [unlockHint] }
    }
    case 'absent':
      return absentReport(ctx, k, target, answer, ci)
    case 'remote':
      return { ...base, state: 'remote', reason: answer.reason, hint: answer.hint }
    case 'granted': {
      const verdict = enforce(k.spec, { mech: answer.grant.mech, grade: answer.grant.key.grade, secret: answer.grant.key.secret, implicit: answer.implicit }, { env: k.env, owner: ctx.owner, ci })
      if (!verdict.ok) return { ...base, state: 'blocked', reason: verdict.reason, hint: verdict.hint }
      return { ...base, state: 'granted', grant: answer.grant, hint: [], ...(verdict.warning ? { warning: verdict.warning } : {}) }
    }
  }
}

/**
 * Companions (role credentials) go out only where asked for — `withCredentials`, the key's
 * `with-credentials: true`, or a mech whose key they are part of — and are stripped elsewhere. A
 * key whose companions were asked for but ran out before it did is `expired`: unlocking again
 * fetches fresh ones.
 */
async function settleCompanions(ctx: Context, target: Target, reports: KeyReport[], everywhere: boolean): Promise<void> {
  for (const report of reports) {
    const grant = report.grant
    if (!grant) continue
    const spec = target.keys.find((k) => k.key === report.key)!.spec
    const asked = everywhere || spec.withCredentials === true
    // only mechs that mint companions need a look (the mech module is light; the SDK stays unloaded)
    const mech = asked || grant.companions ? await ctx.mechs.load(grant.mech).catch(() => null) : null
    const wanted = mech?.companions ? mech.companions.when === 'always' || asked : false
    if (!wanted) {
      if (grant.companions) {
        const { companions: _unasked, ...alone } = grant
        report.grant = alone
      }
      continue
    }
    if (grant.companions && Object.keys(grant.companions.secrets).length > 0) continue
    const unlock = target.manifest ? hints.unlockRepo(ctx, report.env) : hints.unlockKey(ctx, report.key, report.env)
    Object.assign(report, { state: 'expired', reason: `its credentials (${mech!.companions!.keys.join(', ')}) ran out before it did`, hint: [unlock] })
    delete report.grant
  }
}

function absentReport(ctx: Context, k: AllowlistedKey, target: Target, answer: { reason: string; uninitialized?: boolean; hint?: string[] }, ci: boolean): KeyReport {
  if (answer.hint) return { key: k.key, env: k.env, slug: k.slugs[0]!, state: 'absent', reason: answer.reason, hint: answer.hint }
  // minted in CI from the manifest: there is nothing to set, here or anywhere
  if (declarationOf(k.spec) && !ci)
    return {
      key: k.key, env: k.env, slug: k.slugs[0]!, state: 'absent', reason: `minted only in CI (${k.spec.mech})`,
      hint: [`${k.key} comes from ${k.spec.mech} in a GitHub Actions job; outside CI, let another key stand in for it: \`is-optional-if-has: AWS_PROFILE\` on its entry in .agent/keyrack.yml`],
    }
  const mech = k.spec.mech
  // a key the repo lists under env.all is meant to be set once, for every env
  const fromAll = target.manifest !== null && !target.manifest.envs.get(k.env)?.some((s) => s.key === k.key)
  const set = hints.set(ctx, { key: k.key, env: fromAll ? ENV_ALL : k.env, mech }) + (mech ? '' : ' (choose the mech: `keyrack set --help` lists them)')
  // keys kept in rhachet's keyrack come over in one command, with nothing to retype
  const fromRhachet = hasRhachetKeyrack(ctx) ? [`if it is in rhachet's keyrack, bring every key over: ${hints.importRhachet(ctx)}`] : []
  return {
    key: k.key, env: k.env, slug: k.slugs[0]!, state: 'absent', reason: answer.reason,
    hint: [...fromRhachet, ...(answer.uninitialized ? [`create it: \`${hints.init(ctx)}\`, then: ${set}`] : [set])],
  }
}

/** where a ci job's keys come from: the ci system's secrets, passed into the step's environment */
function ciAbsentHint(ctx: Context, key: string): string {
  const actions = `add the secret ${key} to the repository's Actions secrets (settings → secrets and variables → actions) and pass it in the step's \`env:\`, e.g. \`${key}: \${{ secrets.${key} }}\``
  return isGithubActions(ctx.env) ? actions : `add ${key} to your ci system's secrets and pass it into this step's environment (on github actions: \`${key}: \${{ secrets.${key} }}\` under the step's \`env:\`)`
}
