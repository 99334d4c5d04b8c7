/**
 * unlock: authenticate to each source vault once, turn sources into grants via their mechs, and
 * hand them to the owner's daemon over its socket (SPEC §10). Only allowlisted slugs are unlocked,
 * exactly as `get` would allow them.
 *
 * "Once" is per vault, not per key: the owner's identity is opened at most once (one passphrase
 * for every os.secure key), every lockable vault is unlocked once (one keychain unlock, one
 * sign-in), in turn, since each may talk to the human; then every key is read concurrently
 * (a vault that reads in batches gets all its keys in one call). The host manifest is opened
 * only when some key needs it (no inventory yet, or an exid only it holds): a repo whose keys
 * all live in vaults with their own lock unlocks without the owner's passphrase.
 */
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { parseDuration } from '../domain/duration.ts'
import { enforce } from '../domain/enforce.ts'
import { KeyrackError, KeyrackKeyAbsentError, KeyrackKeyBlockedError, KeyrackNotAllowlistedError } from '../domain/errors.ts'
import { canHold, type Grade } from '../domain/grade.ts'
import { grantExpiry, type Grant } from '../domain/grant.ts'
import { hints } from '../domain/hints.ts'
import { ENV_SUDO, parseSlug } from '../domain/names.ts'
import { hostManifestMissing, readHostManifest, type HostManifest } from '../manifests/host.ts'
import { ensureInventory, readInventory } from '../manifests/inventory.ts'
import type { AllowlistedKey } from '../manifests/repo.ts'
import { isRenewable, type Mech } from '../mechs/mech.ts'
import { assertUnlockSize, slugProblem } from '../domain/limits.ts'
import { accessOf, isBatch, isLockable, type Vault, type VaultKeyRef } from '../vaults/vault.ts'
import type { GrantInput } from '../daemon/protocol.ts'
import { putGrants } from '../daemon/owner.ts'
import type { GetInput } from './get.ts'
import { resolveTargets, type Target } from './targets.ts'
import { gradeOf, mint } from './grant.ts'
import { OwnerSession } from './session.ts'
import { audited } from './audit.ts'

/** the daemon holds keys in memory only, per user and owner, for a TTL: encrypted-equivalent, ephemeral */
export const DAEMON_GRADE: Grade = { protection: 'encrypted', duration: 'ephemeral' }
export const DEFAULT_DURATION = '9h'
export const SUDO_DURATION = '30m'

export interface UnlockInput extends Omit<GetInput, 'ci' | 'unlock'> {
  /** how long the grants live: `9h` (default; `30m` for env sudo), `30m`, `session` */
  duration?: string
  /** optional sliding idle timeout (reset on each use), capped by duration */
  idle?: string
}

export interface UnlockedKey {
  key: string
  slug: string
  grade: Grade
  mech: string
  vault: string
  /** when the grant ends: the unlock's end, or the credential's expiry when that comes first and cannot be renewed */
  expiresAt: number
  /** a renewed key (a GitHub App token): the daemon mints it again before it expires, until this moment */
  renewedUntil?: number
  /** a renewed key: when the key minted now expires */
  keyExpiresAt?: number
}

export interface UnlockResult {
  owner: string
  socketPath: string
  pid: number
  /** true when this unlock started the daemon */
  started: boolean
  unlocked: UnlockedKey[]
  /** allowlisted keys not unlocked, and why (e.g. os.direct needs no unlock); `blocked` when the firewall or the repo refused it */
  skipped: { key: string; reason: string; blocked?: true }[]
}

/** an allowlisted key that is set: where it lives */
interface Planned {
  k: AllowlistedKey
  slug: string
  vault: Vault
  mech: Mech
  exid: string | null
}

export async function unlock(ctx: Context, input: UnlockInput): Promise<UnlockResult> {
  return unlockTarget(ctx, resolveTargets(ctx, input), input)
}

/** unlocks keys already resolved against the repo manifest (`get --unlock` resolves them once) */
export async function unlockTarget(ctx: Context, target: Target, input: { duration?: string; idle?: string }): Promise<UnlockResult> {
  return audited(ctx, 'unlock', { env: target.env, slugs: target.keys.map((k) => k.slugs[0]!) }, () => unlockTargetOnce(ctx, target, input), (result) => ({
    env: target.env,
    slugs: result.unlocked.map((u) => u.slug),
    outcome: 'ok',
    details: { skipped: result.skipped.length, daemonPid: result.pid },
  }))
}

async function unlockTargetOnce(ctx: Context, target: Target, input: { duration?: string; idle?: string }): Promise<UnlockResult> {
  if (target.keys.length === 0 && target.manifest) throw nothingAllowlisted(target.manifest.file, target.env)
  assertUnlockSize(target.env, target.keys.length)
  const durationMs = parseDuration(input.duration ?? (target.env === ENV_SUDO ? SUDO_DURATION : DEFAULT_DURATION))
  const idleTimeoutMs = input.idle ? parseDuration(input.idle, '--idle') : undefined
  const session = new OwnerSession(ctx)
  const skipped: UnlockResult['skipped'] = []
  const skip = (k: AllowlistedKey, reason: string, blocked = false) => void skipped.push({ key: k.key, reason, ...(blocked ? { blocked: true as const } : {}) })

  // 1. where each key lives: the inventory, or the host manifest when only it can say
  const entries = await recordsFor(ctx, session, target.keys)
  const planned: Planned[] = []
  for (const k of target.keys) {
    const found = entries.get(k.key)
    if (!found) {
      skip(k, `not set: ${hints.set(ctx, { key: k.key, env: k.env, mech: k.spec.mech })}`)
      continue
    }
    const [vault, mech] = await Promise.all([ctx.vaults.load(found.vault), ctx.mechs.load(found.mech)])
    const grade = gradeOf(vault, mech)
    // the daemon's limits (a secret over them is blocked by enforce below): one key never breaks the rest
    const tooLong = slugProblem(found.slug)
    if (tooLong) skip(k, tooLong)
    else if (accessOf(vault) === 'remote') skip(k, `${vault.id} holds it where only CI reads it: nothing to unlock here`)
    // readable by get with no unlock — unless its pointer lives only in the (encrypted) host manifest
    else if (accessOf(vault) === 'open' && found.exid === null) skip(k, `${vault.id} needs no unlock: \`keyrack get\` reads it directly`)
    else if (!canHold(DAEMON_GRADE, grade)) skip(k, `a ${grade.duration} key is never cached`)
    else planned.push({ k, slug: found.slug, vault, mech, exid: found.exid })
  }

  // 2. open each vault once, in turn (each may ask the human): the identity, then every lockable vault
  const vaults = [...new Set(planned.map((p) => p.vault))]
  if (vaults.some((v) => accessOf(v) === 'identity')) await session.identity()
  const failed = new Map<Vault, KeyrackError>()
  for (const vault of vaults.filter(isLockable)) {
    try {
      // the keys it is opened for: a vault that signs in per item (AWS SSO) opens only those
      await vault.unlock(session, planned.filter((p) => p.vault === vault).map((p) => ({ slug: p.slug, exid: p.exid })))
    } catch (error) {
      if (!(error instanceof KeyrackError)) throw error
      failed.set(vault, error)
    }
  }

  // 3. read every key concurrently (a batch vault in one call), mint, check
  const now = ctx.now()
  const unlockUntil = now + durationMs
  // what a vault opened for this unlock (a sign-in session) ends once its keys are read
  const sources = await readSources(session, planned.filter((p) => !failed.has(p.vault))).finally(() => relockAll(session, vaults))
  // keys typed at each unlock (session keys) that the vault no longer holds: ask, one at a time
  const untyped = new Set<Planned>()
  for (const p of planned) {
    if (failed.has(p.vault) || sources.get(p) != null || !p.mech.typedAtUnlock) continue
    if (ctx.prompt) sources.set(p, await ctx.prompt.secret(`${p.k.key} for env ${p.k.env} (kept in memory only, until this unlock ends)`))
    else untyped.add(p)
  }
  const grants: GrantInput[] = []
  const unlocked: UnlockedKey[] = []
  type Outcome = { p: Planned; error: KeyrackError } | { p: Planned; missing: true } | { p: Planned; grant: Grant; renewal?: string }
  const minted = await Promise.all(
    planned.map(async (p): Promise<Outcome> => {
      const error = failed.get(p.vault)
      if (error) return { p, error }
      const source = sources.get(p)
      if (source == null) return { p, missing: true }
      try {
        return { p, ...(await mint(ctx, { slug: p.slug, vault: p.vault, mech: p.mech, source, declared: p.k.spec })) }
      } catch (error) {
        // one key whose source no longer works (an ended sign-in) does not stop the others
        if (!(error instanceof KeyrackError)) throw error
        return { p, error }
      }
    }),
  )
  for (const outcome of minted) {
    const { k, slug, vault, mech } = outcome.p
    if ('error' in outcome) skip(k, `${vault.id}: ${outcome.error.message}${outcome.error.hint[0] ? `; ${outcome.error.hint[0]}` : ''}`)
    else if ('missing' in outcome && untyped.has(outcome.p))
      skip(k, `${mech.id} is typed at unlock, and there is no terminal here: run the unlock on a terminal, or pipe it in: \`printf %s "$SECRET" | ${hints.set(ctx, { key: k.key, env: slugEnv(slug), vault: vault.id, mech: mech.id })} --secret-stdin\``)
    else if ('missing' in outcome) skip(k, `${vault.id} holds nothing for ${slug}: ${hints.set(ctx, { key: k.key, env: k.env, vault: vault.id, mech: mech.id })}`)
    else {
      const grant = outcome.grant
      const verdict = enforce(k.spec, { mech: grant.mech, grade: grant.key.grade, secret: grant.key.secret }, { env: k.env, owner: ctx.owner })
      if (!verdict.ok) {
        skip(k, `blocked: ${verdict.reason}; ${verdict.hint.join('; ')}`, true)
        continue
      }
      const expiresAt = grantExpiry(unlockUntil, grant.expiresAt)!
      // companions (role credentials) end with the grant at the latest
      const companions = grant.companions ? { secrets: grant.companions.secrets, expiresAt: Math.min(grant.companions.expiresAt ?? expiresAt, expiresAt) } : undefined
      // a key that expires before the unlock ends is renewed by the daemon until then (RenewableMech)
      const renewal = isRenewable(mech) && outcome.renewal !== undefined && expiresAt < unlockUntil ? { secret: outcome.renewal, until: unlockUntil, beforeMs: mech.renewBeforeMs } : undefined
      grants.push({ ...grant, expiresAt, ...(companions ? { companions } : {}), ...(idleTimeoutMs ? { idleTimeoutMs: Math.min(idleTimeoutMs, durationMs) } : {}), ...(renewal ? { renewal } : {}) })
      unlocked.push({ key: k.key, slug, grade: grant.key.grade, mech: grant.mech, vault: grant.vault, expiresAt: renewal ? unlockUntil : expiresAt, ...(renewal ? { renewedUntil: unlockUntil, keyExpiresAt: expiresAt } : {}) })
    }
  }
  if (grants.length === 0) {
    // a vault that could not be opened is the whole story: its own error, with its hint
    if (failed.size > 0 && planned.every((p) => failed.has(p.vault))) throw [...failed.values()][0]!
    const ErrorClass = skipped.some((s) => s.blocked) ? KeyrackKeyBlockedError : KeyrackKeyAbsentError
    throw new ErrorClass(`nothing to unlock for env ${target.env}`, skipped.map((s) => `${s.key}: ${s.reason}`))
  }
  // keep allowlist order in what is reported
  const order = new Map(target.keys.map((k, i) => [k.key, i]))
  skipped.sort((a, b) => order.get(a.key)! - order.get(b.key)!)
  unlocked.sort((a, b) => order.get(a.key)! - order.get(b.key)!)

  const { socketPath, pid, started } = await putGrants(ctx, grants)
  return { owner: ctx.owner, socketPath, pid, started, unlocked, skipped }
}

/**
 * The record of each allowlisted key that is set (first slug found: env, then all). The
 * inventory answers without the identity; the host manifest is opened only when there is no
 * inventory yet (then it is written) or a key's exid is held only there.
 */
async function recordsFor(
  ctx: Context,
  session: OwnerSession,
  keys: readonly AllowlistedKey[],
): Promise<Map<string, { slug: string; vault: string; mech: string; exid: string | null }>> {
  const inventory = readInventory(ctx)
  const slugs = keys.flatMap((k) => k.slugs)
  let manifest: HostManifest | null = null
  if (!inventory || slugs.some((s) => inventory.entry(s)?.exid)) {
    manifest = await session.manifest()
    // keys set by an older keyrack: write the inventory, so later `get`s can tell absent from locked
    if (!inventory) await ensureInventory(ctx, () => readHostManifest(ctx, (ciphertext, file) => session.decrypt(ciphertext, file)))
  } else {
    session.config() // an owner that was never initialized is told to run `keyrack init`
    if (!existsSync(paths.hostManifest(ctx))) throw hostManifestMissing(ctx)
  }
  const found = new Map<string, { slug: string; vault: string; mech: string; exid: string | null }>()
  for (const k of keys)
    for (const slug of k.slugs) {
      const entry = manifest ? manifest.keys[slug] : inventory!.entry(slug)
      if (!entry) continue
      found.set(k.key, { slug, vault: entry.vault, mech: entry.mech, exid: manifest ? (manifest.keys[slug]!.exid ?? null) : null })
      break
    }
  return found
}

/** closes what unlock opened in each lockable vault (errors ignored: the keys are read by now) */
async function relockAll(session: OwnerSession, vaults: readonly Vault[]): Promise<void> {
  await Promise.all(vaults.filter(isLockable).map((vault) => vault.relock?.(session).catch(() => undefined)))
}

/** each planned key's source; a batch vault reads all of its keys in one call */
async function readSources(session: OwnerSession, planned: readonly Planned[]): Promise<Map<Planned, string | null>> {
  const sources = new Map<Planned, string | null>()
  const byVault = new Map<Vault, Planned[]>()
  for (const p of planned) byVault.set(p.vault, [...(byVault.get(p.vault) ?? []), p])
  await Promise.all(
    [...byVault].map(async ([vault, items]) => {
      if (isBatch(vault)) {
        const refs: VaultKeyRef[] = items.map((p) => ({ slug: p.slug, exid: p.exid }))
        const read = await vault.getMany(session, refs)
        for (const p of items) sources.set(p, read.get(p.slug) ?? null)
      } else await Promise.all(items.map(async (p) => sources.set(p, await vault.get(session, { slug: p.slug, exid: p.exid }))))
    }),
  )
  return sources
}

/** an env whose section lists no keys (`env.test: []`): say how to list them, not just "nothing to unlock" */
export function nothingAllowlisted(file: string, env: string): KeyrackNotAllowlistedError {
  return new KeyrackNotAllowlistedError(`env ${env} allowlists no keys in ${file}: nothing to unlock`, [
    `list the keys this repo needs under \`env.${env}:\` (or \`env.all:\`) in .agent/keyrack.yml, e.g. \`  - XAI_API_KEY\`, then run \`keyrack unlock --for repo --env ${env}\` again`,
  ])
}

/** the env a slug is stored under (an env.all key is stored once, under `all`) */
const slugEnv = (slug: string): string => parseSlug(slug).env
