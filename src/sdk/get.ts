/**
 * get: the allowlisted keys for a repo env, or one key — all or nothing (SPEC §11).
 *
 * Order for each key: the daemon if unlocked; else a source vault that needs no unlock
 * (os.direct, or os.secure when the owner's identity opens without asking); else the caller's
 * environment; else report why not. The allowlist is checked before anything is looked up.
 * Heavy modules stay off this path: nothing here prompts, and vaults load lazily.
 */
import type { Context } from '../context.ts'
import { KeyrackError, KeyrackKeyLockedError, KeyrackOwnerUninitializedError, KeyrackNotAllowlistedError, KeyrackUsageError } from '../domain/errors.ts'
import { blockedAdvice, inspectSecret, withArticle } from '../domain/firewall/check.ts'
import { isGithubActions } from '../ci/github-actions.ts'
import { formatGrade, meetsGrade, type Grade } from '../domain/grade.ts'
import type { Grant } from '../domain/grant.ts'
import { assertEnv, assertKey, assertOrg, DEFAULT_OWNER, ENV_ALL, ENV_SUDO, ORG_ALL, toSlug } from '../domain/names.ts'
import { allowlistFor, declaredEnvs, readRepoManifest, type AllowlistedKey, type RepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { printable } from '../domain/printable.ts'
import { readDirectFile } from '../vaults/os.direct.ts'
import { existsSync } from 'node:fs'
import { KeyrackKeysUnavailableError } from './errors.ts'
import { closestAllowlisted } from './allowlist-advice.ts'
import { hints } from './hints.ts'
import { hasRhachetKeyrack } from '../import/rhachet-paths.ts'
import { OwnerSession } from './session.ts'
import { lookupDaemon } from './daemon-lookup.ts'

export type KeyState = 'granted' | 'absent' | 'locked' | 'expired' | 'blocked'

export interface KeyReport {
  key: string
  env: string
  /** the slug that answered (or the first one looked up) */
  slug: string
  state: KeyState
  /** present only when granted */
  grant?: Grant
  /** not required because another key is present (`is-optional-if-has`) */
  optional?: boolean
  /** why a key is not granted, in words */
  reason?: string
  /** the exact next commands */
  hint: string[]
  /** e.g. a reviewed long-lived exception */
  warning?: string
}

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
}

export interface GetResult {
  env: string
  /** the granted keys, in allowlist order */
  grants: Grant[]
  report: KeyReport[]
  /** allowlisted-key warnings, and (CI) keys present in the environment but not allowlisted */
  warnings: string[]
}

const ENV_GRADE: Grade = { protection: 'plaintext', duration: 'permanent' }

interface Target {
  env: string
  keys: AllowlistedKey[]
  manifest: RepoManifest | null
}

/** resolves what may be looked up, before anything is looked up */
export function resolveTargets(ctx: Context, input: GetInput): Target {
  if (input.for !== undefined && input.for !== 'repo')
    throw new KeyrackUsageError(`\`--for\` only takes \`repo\``, ['use `--for repo`, or `--key KEY --env ENV` for one key'])
  if (input.for && input.key) throw new KeyrackUsageError('use either `--for repo` or `--key`, not both', ['drop `--key` to get every key of the repo'])
  if (!input.for && !input.key) throw new KeyrackUsageError('say which keys: `--for repo` or `--key KEY`', ['keyrack get --for repo --env test'])
  const worksite = findWorksite(ctx.cwd, ctx.env)
  const manifestFile = worksite ? repoManifestPath(worksite) : null
  const manifest = worksite && manifestFile && existsSync(manifestFile) ? readRepoManifest(worksite, ctx.env) : null

  if (input.for === 'repo') {
    if (!worksite)
      throw new KeyrackUsageError(`\`--for repo\` needs a git repo, and ${printable(ctx.cwd)} is not inside one`, [
        'cd into your repo and run it there',
        'outside a repo only sudo and machine-wide keys can be got, by name: `keyrack get --key KEY --env sudo --org ORG` or `keyrack get --key KEY --env ENV --org @all`',
      ])
    if (!manifest)
      throw new KeyrackUsageError(`this repo has no keyrack manifest (${printable(manifestFile!)})`, ['create one: `keyrack init --repo`'])
    const env = resolveEnv(manifest, input.env)
    return { env, keys: allowlistFor(manifest, env), manifest }
  }

  const key = assertKey(input.key!)
  if (!input.env) throw new KeyrackUsageError('`--key` needs `--env`', [`keyrack get --key ${key} --env test`])
  const env = assertEnv(input.env)
  const org = input.org ? assertOrg(input.org) : manifest?.org
  const explicitException = env === ENV_SUDO || org === ORG_ALL
  if (manifest && !explicitException) {
    const listed = allowlistFor(manifest, env).find((k) => k.key === key)
    if (!listed || (input.org && input.org !== manifest.org))
      throw new KeyrackNotAllowlistedError(`${key} is not allowlisted for env ${env} by ${printable(manifest.file)}`, [
        ...didYouMean(manifest, key, env, input.org),
        `if this repo needs it, add it under \`env.${env}:\` in .agent/keyrack.yml and commit that change`,
      ])
    return { env, keys: [listed], manifest }
  }
  if (!explicitException)
    throw new KeyrackNotAllowlistedError(
      manifest ? `${key} is not allowlisted` : `outside a repo with .agent/keyrack.yml only sudo and @all keys can be got (${printable(ctx.cwd)})`,
      ['cd into the repo that lists the key, or use `--env sudo --org ORG` / `--org @all` for a machine-wide key'],
    )
  if (!org) throw new KeyrackUsageError('outside a repo, `--key` needs `--org`', [`keyrack get --key ${key} --env ${env} --org @all`])
  const slugs = [toSlug({ org, env, key })]
  return { env, keys: [{ key, env, slugs, spec: { key } }], manifest }
}

/** `--key XAI_APIKEY` → "did you mean `--key XAI_API_KEY`?" (only within the repo's own org) */
function didYouMean(manifest: RepoManifest, key: string, env: string, org: string | undefined): string[] {
  const guess = org && org !== manifest.org ? undefined : closestAllowlisted(manifest, key, env)
  return guess ? [`did you mean \`--key ${guess}\`?`] : []
}

function resolveEnv(manifest: RepoManifest, env: string | undefined): string {
  const envs = declaredEnvs(manifest)
  if (env) {
    assertEnv(env)
    if (env !== ENV_ALL && !manifest.envs.has(env))
      throw new KeyrackNotAllowlistedError(`env ${env} is not declared in ${printable(manifest.file)} (it declares: ${envs.join(', ') || 'none'})`, [
        `add an \`env.${env}:\` section to .agent/keyrack.yml, or use one of: ${envs.map((e) => `--env ${e}`).join(', ')}`,
      ])
    return env
  }
  if (envs.length === 1) return envs[0]!
  throw new KeyrackUsageError(`say which env: this repo declares ${envs.join(', ')}`, envs.map((e) => `keyrack get --for repo --env ${e}`))
}

export async function get(ctx: Context, input: GetInput): Promise<GetResult> {
  const target = resolveTargets(ctx, input)
  const reports = new Map<string, KeyReport>()
  const pending = () => target.keys.filter((k) => !reports.has(k.key))

  if (!input.ci) {
    // 1. the daemon (unlocked grants win over everything)
    const fromDaemon = await lookupDaemon(ctx, target.keys.flatMap((k) => k.slugs))
    for (const k of target.keys) {
      for (const slug of k.slugs) {
        const answer = fromDaemon.get(slug)
        if (answer?.state !== 'granted') continue
        reports.set(k.key, { key: k.key, env: k.env, slug, state: 'granted', grant: answer.grant, hint: [] })
        break
      }
    }
    // an expired grant may still be served by a vault that needs no unlock; only if nothing else
    // answers does the key report `expired`
    const expired = new Set(target.keys.filter((k) => k.slugs.some((s) => fromDaemon.get(s)?.state === 'expired')).map((k) => k.key))

    // 2. os.direct: plaintext by the user's choice, readable without the host manifest
    if (pending().length > 0) {
      const direct = readDirectFile(ctx)
      for (const k of pending()) {
        const slug = k.slugs.find((s) => direct[s])
        if (!slug) continue
        const entry = direct[slug]!
        reports.set(k.key, granted(k, slug, { secret: entry.secret, vault: 'os.direct', mech: entry.mech ?? 'PERMANENT_VIA_REPLICA', protection: 'plaintext', duration: 'permanent' }))
      }
    }

    // 3. vaults that need the identity, when it opens without asking; else remember why not
    let locked: KeyrackError | null = null
    let manifestKeys: Set<string> | null = null
    // an owner without a keyrack has no keys: say to create it, not just to set the key
    let uninitialized = false
    if (pending().length > 0) {
      const session = new OwnerSession(ctx)
      try {
        if (!session.canOpenIdentity()) throw new KeyrackKeyLockedError('locked')
        const manifest = await session.manifest()
        manifestKeys = new Set(Object.keys(manifest.keys))
        const [{ loadVault }, { loadMech }] = await Promise.all([import('../vaults/index.ts'), import('../mechs/index.ts')])
        for (const k of pending()) {
          const slug = k.slugs.find((s) => manifest.keys[s])
          if (!slug) continue
          const entry = manifest.keys[slug]!
          const vault = await loadVault(entry.vault)
          const mech = await loadMech(entry.mech)
          const source = await vault.get(session, { slug, exid: entry.exid })
          if (source === null) continue
          const minted = await mech.toKey({ slug, source, now: ctx.now() })
          reports.set(k.key, granted(k, slug, { secret: minted.secret, vault: vault.id, mech: mech.id, protection: vault.protection, duration: mech.duration, expiresAt: minted.expiresAt }))
        }
      } catch (error) {
        if (error instanceof KeyrackKeyLockedError) locked = error
        // an owner that was never initialized: its keys are absent. (An owner whose host manifest
        // went missing is not: that error, with its restore hint, stops the get.)
        else if (error instanceof KeyrackOwnerUninitializedError) {
          manifestKeys = new Set()
          uninitialized = true
        }
        else throw error
      }
    }

    // 4. the caller's environment (the firewall still applies)
    for (const k of pending()) {
      const secret = ctx.env[k.key]
      if (secret) reports.set(k.key, granted(k, k.slugs[0]!, { secret, vault: 'os.envvar', mech: 'PERMANENT_VIA_REPLICA', protection: ENV_GRADE.protection, duration: ENV_GRADE.duration, fromEnv: true }))
    }

    // 5. what is left: expired, locked or absent
    for (const k of pending()) {
      if (expired.has(k.key)) reports.set(k.key, expiredReport(ctx, k, k.slugs[0]!, target))
      else if (manifestKeys && !k.slugs.some((s) => manifestKeys!.has(s))) reports.set(k.key, absentReport(ctx, k, target, uninitialized))
      else if (locked || manifestKeys === null)
        reports.set(k.key, {
          key: k.key, env: k.env, slug: k.slugs[0]!, state: 'locked',
          reason: 'set, but not unlocked',
          // the host manifest is locked too, so keyrack cannot tell "never set" from "not unlocked"
          hint: [target.manifest ? hints.unlockRepo(ctx, k.env) : hints.unlockKey(ctx, k.key, k.env), `a key that was never set needs: ${hints.set(ctx, { key: 'KEY', env: k.env })}`],
        })
      else reports.set(k.key, { key: k.key, env: k.env, slug: k.slugs[0]!, state: 'locked', reason: 'in the host manifest, but its vault returned nothing', hint: [hints.set(ctx, { key: k.key, env: k.env, mech: k.spec.mech })] })
    }
  } else {
    for (const k of target.keys) {
      const secret = ctx.env[k.key]
      if (secret) reports.set(k.key, granted(k, k.slugs[0]!, { secret, vault: 'os.envvar', mech: 'PERMANENT_VIA_REPLICA', protection: 'plaintext', duration: 'permanent', fromEnv: true }))
      else
        reports.set(k.key, {
          key: k.key, env: k.env, slug: k.slugs[0]!, state: 'absent', reason: 'not in the environment',
          hint: [ciAbsentHint(ctx, k.key)],
        })
    }
  }

  const ordered = target.keys.map((k) => reports.get(k.key)!)
  // requirements and the firewall apply to every grant, wherever it came from
  for (const report of ordered) if (report.state === 'granted') enforce(ctx, report, target.keys.find((k) => k.key === report.key)!, input.ci === true)
  // is-optional-if-has: a missing key is fine when its alternative is granted
  for (const report of ordered) {
    const spec = target.keys.find((k) => k.key === report.key)!.spec
    if (report.state !== 'granted' && report.state !== 'blocked' && spec.isOptionalIfHas) {
      const other = ordered.find((r) => r.key === spec.isOptionalIfHas)
      if (other?.state === 'granted' || ctx.env[spec.isOptionalIfHas]) report.optional = true
    }
  }

  // what the repo manifest ignored (rhachet-compatible), then the keys' own warnings
  const warnings = [...(target.manifest?.warnings ?? []), ...ordered.flatMap((r) => (r.warning ? [`${r.key}: ${r.warning}`] : []))]
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
    throw new KeyrackKeysUnavailableError(ordered.map(({ grant: _grant, ...rest }) => rest))
  return { env: target.env, grants: ordered.flatMap((r) => (r.grant ? [r.grant] : [])), report: ordered, warnings }
}

function granted(
  k: AllowlistedKey,
  slug: string,
  g: { secret: string; vault: string; mech: string; protection: Grade['protection']; duration: Grade['duration']; expiresAt?: number; fromEnv?: boolean },
): KeyReport {
  const grant: Grant = { slug, key: { secret: g.secret, grade: { protection: g.protection, duration: g.duration } }, mech: g.mech, vault: g.vault }
  if (g.expiresAt !== undefined) grant.expiresAt = g.expiresAt
  return { key: k.key, env: k.env, slug, state: 'granted', grant, hint: [] }
}

function expiredReport(ctx: Context, k: AllowlistedKey, slug: string, target: Target): KeyReport {
  return {
    key: k.key, env: k.env, slug, state: 'expired', reason: 'the unlock or the credential ran out',
    hint: [target.manifest ? hints.unlockRepo(ctx, k.env) : hints.unlockKey(ctx, k.key, k.env)],
  }
}

function absentReport(ctx: Context, k: AllowlistedKey, target: Target, uninitialized = false): KeyReport {
  const mech = k.spec.mech
  // a key the repo lists under env.all is meant to be set once, for every env
  const fromAll = target.manifest !== null && !target.manifest.envs.get(k.env)?.some((s) => s.key === k.key)
  const set = hints.set(ctx, { key: k.key, env: fromAll ? ENV_ALL : k.env, mech, vault: 'os.secure' }) + (mech ? '' : ' (choose the mech: `keyrack set --help` lists them)')
  // keys kept in rhachet's keyrack come over in one command, with nothing to retype
  const fromRhachet = hasRhachetKeyrack(ctx) ? [`if it is in rhachet's keyrack, bring every key over: ${hints.importRhachet(ctx)}`] : []
  return {
    key: k.key, env: k.env, slug: k.slugs[0]!, state: 'absent',
    reason: uninitialized ? `owner '${ctx.owner}' has no keyrack yet` : 'not in the host manifest',
    hint: [...fromRhachet, ...(uninitialized ? [`create it: \`${hints.init(ctx)}\`, then: ${set}`] : [set])],
  }
}

/** the repo's mech/grade requirements and the firewall; a failing grant becomes `blocked` */
function enforce(ctx: Context, report: KeyReport, k: AllowlistedKey, ci: boolean): void {
  const grant = report.grant!
  const block = (reason: string, hint: string[]) => {
    report.state = 'blocked'
    report.reason = reason
    report.hint = hint
    delete report.grant
  }
  const fromEnv = grant.vault === 'os.envvar'
  if (k.spec.mech && !fromEnv && grant.mech !== k.spec.mech)
    return block(`the repo requires mech ${k.spec.mech}, but the stored key is ${grant.mech}`, [hints.set(ctx, { key: k.key, env: k.env, mech: k.spec.mech })])
  if (k.spec.grade && !fromEnv && !meetsGrade(grant.key.grade, k.spec.grade))
    return block(`the repo requires grade ${[k.spec.grade.protection, k.spec.grade.duration].filter(Boolean).join(',')}, but the grant is ${formatGrade(grant.key.grade)}`, [hints.set(ctx, { key: k.key, env: k.env, mech: k.spec.mech })])
  const verdict = inspectSecret(grant.key.secret)
  if (verdict.verdict === 'blocked') {
    const what = `${verdict.embedded ? 'a value containing ' : ''}${withArticle(verdict.rule.description)}`
    if (k.spec.allow === 'long-lived') {
      report.warning = `serving ${what} because the repo manifest allows it (allow: long-lived), reason: ${JSON.stringify(k.spec.reason ?? '')}`
      return
    }
    const advice = blockedAdvice(verdict.rule, { key: k.key, env: k.env, owner: ctx.owner === DEFAULT_OWNER ? undefined : ctx.owner })
    const inCi = ci && verdict.rule.ciAdvice ? [verdict.rule.ciAdvice] : []
    const exception = `if this is a reviewed exception, mark it in .agent/keyrack.yml: \`- key: ${k.key}\` with \`allow: long-lived\` and a \`reason:\``
    return block(`${what}${fromEnv ? ', from the environment' : ''}`, [...inCi, ...advice, exception])
  }
}

/** where a ci job's keys come from: the ci system's secrets, passed into the step's environment */
function ciAbsentHint(ctx: Context, key: string): string {
  const actions = `add the secret ${key} to the repository's Actions secrets (settings → secrets and variables → actions) and pass it in the step's \`env:\`, e.g. \`${key}: \${{ secrets.${key} }}\``
  return isGithubActions(ctx.env) ? actions : `add ${key} to your ci system's secrets and pass it into this step's environment (on github actions: \`${key}: \${{ secrets.${key} }}\` under the step's \`env:\`)`
}
