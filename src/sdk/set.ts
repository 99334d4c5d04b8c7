/**
 * set: stores a key in a vault, records it in the host manifest, and proves the round trip
 * (store → get → compare) before it reports success (SPEC §7). Nothing is left half-written:
 * a failure after the store puts the vault back as it was.
 */
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { KeyrackKeyBlockedError, KeyrackUsageError, KeyrackVaultError } from '../domain/errors.ts'
import { blockedAdvice, inspectSecret, withArticle } from '../domain/firewall/check.ts'
import { canHold, formatGrade, meetsGrade, type Grade } from '../domain/grade.ts'
import { assertEnv, assertKey, assertOrg, DEFAULT_OWNER, ENV_ALL, ENV_SUDO, toSlug } from '../domain/names.ts'
import { readOwnerConfig } from '../identity/owner-identity.ts'
import { writeHostManifest, type HostEntry } from '../manifests/host.ts'
import { readRepoManifest, type RepoKeySpec, type RepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { AVAILABLE_MECH_IDS, loadMech } from '../mechs/index.ts'
import { withLock } from '../runtime/lock.ts'
import { loadVault } from '../vaults/index.ts'
import type { Vault } from '../vaults/vault.ts'
import type { Mech } from '../mechs/mech.ts'
import { notAllowlistedWarning } from './allowlist-advice.ts'
import { hints } from './hints.ts'
import { OwnerSession } from './session.ts'

export interface SetInput {
  key: string
  env: string
  vault: string
  /** required unless the repo manifest requires one for this key: there is no default mech */
  mech?: string
  /** the org; defaults to the repo manifest's org (required outside a repo) */
  org?: string
  /** the secret to store; never logged, never in argv */
  secret: string
}

export interface SetResult {
  slug: string
  vault: string
  mech: string
  grade: Grade
  createdAt: string
  updatedAt: string
  /** e.g. the plaintext warning for os.direct, a labelled long-lived credential */
  warnings: string[]
}

export interface SetPlan {
  key: string
  env: string
  slug: string
  spec?: RepoKeySpec
  vault: Vault
  mech: Mech
  grade: Grade
  /** the key is stored, but this repo's `get` would not serve it: what to add to the manifest */
  notAllowlisted?: string
}

/**
 * Everything `set` checks before it needs the secret (names, org, mech choice, vault, grade
 * requirement), so the CLI can refuse before anyone types a secret.
 */
export async function resolveSetPlan(ctx: Context, input: Omit<SetInput, 'secret'>): Promise<SetPlan> {
  const key = assertKey(input.key)
  const env = assertEnv(input.env)
  // an unknown owner hears `keyrack init --owner …` before anyone types a secret
  readOwnerConfig(ctx)
  const spec = repoSpec(ctx, key, env)
  const org = input.org ? assertOrg(input.org) : spec.org
  if (!org)
    throw new KeyrackUsageError('outside a repo with .agent/keyrack.yml, `set` needs `--org`', [
      `keyrack set --key ${key} --env ${env} --org <your-org> --vault ${input.vault} --mech ${input.mech ?? '<mech>'}`,
      'or `--org @all` for a machine-wide key',
    ])
  const mechId = input.mech ?? spec.spec?.mech
  if (!mechId)
    throw new KeyrackUsageError(
      'no mech chosen: keyrack has no default mech, so nobody stores a long-lived key without choosing to',
      [
        `if ${key} has no short-lived alternative (most LLM API keys), store it as a permanent replica: ${hints.set(ctx, { key, env, vault: input.vault, mech: 'PERMANENT_VIA_REPLICA' })}`,
        `available mechs: ${AVAILABLE_MECH_IDS.join(', ')}`,
      ],
    )
  if (spec.spec?.mech && spec.spec.mech !== mechId)
    throw new KeyrackKeyBlockedError(`the repo manifest requires mech ${spec.spec.mech} for ${key}`, [hints.set(ctx, { key, env, vault: input.vault, mech: spec.spec.mech })])
  const vault = await loadVault(input.vault)
  const mech = await loadMech(mechId)
  if (!mech.vaults.includes(vault.id))
    throw new KeyrackUsageError(`mech ${mech.id} cannot take its source from vault ${vault.id}`, [`use one of: ${mech.vaults.map((v) => `--vault ${v}`).join(', ')}`])
  const grade: Grade = { protection: vault.protection, duration: mech.duration }
  if (spec.spec?.grade && !meetsGrade(grade, spec.spec.grade))
    throw new KeyrackKeyBlockedError(`the repo manifest requires grade ${[spec.spec.grade.protection, spec.spec.grade.duration].filter(Boolean).join(',')} for ${key}, and ${vault.id} + ${mech.id} gives ${formatGrade(grade)}`, [
      hints.set(ctx, { key, env, vault: 'os.secure', mech: spec.spec.mech ?? mech.id }),
    ])
  const notAllowlisted = spec.manifest ? notAllowlistedWarning(spec.manifest, { key, env, org }) : undefined
  return { key, env, slug: toSlug({ org, env, key }), spec: spec.spec, vault, mech, grade, ...(notAllowlisted ? { notAllowlisted } : {}) }
}

export async function set(ctx: Context, input: SetInput): Promise<SetResult> {
  const { key, env, slug, spec, vault, mech, grade, notAllowlisted } = await resolveSetPlan(ctx, input)
  if (!input.secret) throw new KeyrackUsageError('the secret is empty', ['pass it on stdin with `--secret-stdin`, or type it at the prompt'])
  const warnings: string[] = []
  const verdict = inspectSecret(input.secret)
  if (verdict.verdict === 'blocked' || verdict.verdict === 'labelled') {
    const what = `${verdict.embedded ? 'a value containing ' : ''}${withArticle(verdict.rule.description)}`
    if (verdict.verdict === 'labelled')
      warnings.push(`${key} is ${what}; keyrack stores it because ${verdict.rule.provider} offers no short-lived alternative: rotate it now and then`)
    else if (spec?.allow === 'long-lived')
      warnings.push(`storing ${what} as ${key} because the repo manifest allows it (allow: long-lived), reason: ${JSON.stringify(spec.reason ?? '')}`)
    else
      throw new KeyrackKeyBlockedError(`refusing to store ${what} as ${key}`, [
        ...blockedAdvice(verdict.rule, { key, env, owner: ctx.owner === DEFAULT_OWNER ? undefined : ctx.owner }),
        `if this is a reviewed exception, mark it in .agent/keyrack.yml: \`- key: ${key}\` with \`allow: long-lived\` and a \`reason:\``,
      ])
  }
  if (notAllowlisted) warnings.push(notAllowlisted)
  if (vault.id === 'os.direct') warnings.push(`os.direct stores ${key} in plaintext in ${paths.direct(ctx)}: any process running as you can read it`)

  const session = new OwnerSession(ctx)
  // open the identity before taking the lock, so a human typing a passphrase does not hold it
  await session.identity()
  return withLock(paths.lock(ctx), async () => {
    const manifest = await session.manifest()
    const previous = manifest.keys[slug]
    if (previous) {
      const previousVault = await loadVault(previous.vault)
      const previousMech = await loadMech(previous.mech).catch(() => null)
      const previousGrade: Grade = { protection: previousVault.protection, duration: previousMech?.duration ?? 'permanent' }
      // never degrade: a key kept encrypted is never re-vaulted in plaintext (SPEC §9)
      if (!canHold(grade, previousGrade))
        throw new KeyrackKeyBlockedError(
          `refusing to move ${slug} from ${formatGrade(previousGrade)} (${previous.vault}) to ${formatGrade(grade)} (${vault.id}): keyrack never lowers a key's protection`,
          [`keep it protected: ${hints.set(ctx, { key, env, vault: previous.vault, mech: mech.id })}`, `to store a new plaintext key on purpose, first remove the old one: ${hints.del(ctx, key, env)}`],
        )
    }
    const restore = previous && previous.vault === vault.id ? await vault.get(session, { slug, exid: previous.exid }) : null
    let step = 'store'
    try {
      const { exid } = await vault.set(session, { slug, secret: input.secret, mech: mech.id })
      step = 'get'
      const stored = await vault.get(session, { slug, exid })
      step = 'compare'
      if (stored === null) throw new Error('the vault returned nothing')
      const minted = await mech.toKey({ slug, source: stored, now: ctx.now() })
      if (mech.id === 'PERMANENT_VIA_REPLICA' && minted.secret !== input.secret) throw new Error('the vault returned a different secret')
      step = 'record'
      const now = new Date(ctx.now()).toISOString()
      const entry: HostEntry = { vault: vault.id, mech: mech.id, exid, createdAt: previous?.createdAt ?? now, updatedAt: now }
      const next = { ...manifest, keys: { ...manifest.keys, [slug]: entry } }
      await writeHostManifest(ctx, next)
      session.setManifest(next)
      // moving a key to another vault leaves no copy behind in the old one
      if (previous && previous.vault !== vault.id) await (await loadVault(previous.vault)).del(session, { slug, exid: previous.exid })
      return { slug, vault: vault.id, mech: mech.id, grade, createdAt: entry.createdAt, updatedAt: entry.updatedAt, warnings }
    } catch (error) {
      if (restore !== null) await vault.set(session, { slug, secret: restore, mech: previous!.mech }).catch(() => undefined)
      else if (!previous || previous.vault !== vault.id) await vault.del(session, { slug, exid: null }).catch(() => undefined)
      if (error instanceof KeyrackVaultError || step === 'store') throw error
      const reason = error instanceof Error ? error.message : 'unknown error'
      throw new KeyrackVaultError(`the round trip through ${vault.id} failed at step '${step}': ${reason}; nothing was changed`, [
        'run `keyrack doctor` to check the vault, then try again',
      ])
    }
  })
}

function repoSpec(ctx: Context, key: string, env: string): { org?: string; spec?: RepoKeySpec; manifest?: RepoManifest } {
  const worksite = findWorksite(ctx.cwd, ctx.env)
  if (!worksite || !existsSync(repoManifestPath(worksite))) return {}
  const manifest = readRepoManifest(worksite, ctx.env)
  if (env === ENV_SUDO) return { org: manifest.org, manifest }
  const spec = manifest.envs.get(env)?.find((s) => s.key === key) ?? manifest.envs.get(ENV_ALL)?.find((s) => s.key === key)
  return { org: manifest.org, spec, manifest }
}

