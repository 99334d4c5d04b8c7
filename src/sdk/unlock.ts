/**
 * unlock: authenticate to each source once (one passphrase for all of the owner's os.secure
 * keys), turn sources into grants via their mechs, and hand them to the owner's daemon over its
 * socket (SPEC §10). Only allowlisted slugs are unlocked, exactly as `get` would allow them.
 */
import type { Context } from '../context.ts'
import { KeyrackKeyAbsentError, KeyrackKeyBlockedError, KeyrackNotAllowlistedError } from '../domain/errors.ts'
import { parseDuration } from '../domain/duration.ts'
import { blockedAdvice, checkCredential } from '../domain/firewall/check.ts'
import { canHold, type Grade } from '../domain/grade.ts'
import { grantExpiry } from '../domain/grant.ts'
import { ENV_SUDO } from '../domain/names.ts'
import { loadMech } from '../mechs/index.ts'
import { selfCommand } from '../runtime/self.ts'
import { loadVault } from '../vaults/index.ts'
import { daemonSocketPath } from './daemon-lookup.ts'
import { resolveTargets, type GetInput } from './get.ts'
import { hints } from './hints.ts'
import { OwnerSession } from './session.ts'
import type { GrantInput } from '../daemon/protocol.ts'

/** the daemon holds keys in memory only, per user and owner, for a TTL: encrypted-equivalent, ephemeral */
export const DAEMON_GRADE: Grade = { protection: 'encrypted', duration: 'ephemeral' }
const DEFAULT_DURATION = '9h'
const SUDO_DURATION = '30m'

export interface UnlockInput extends Omit<GetInput, 'ci'> {
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
  expiresAt: number
}

export interface UnlockResult {
  owner: string
  socketPath: string
  pid: number
  /** true when this unlock started the daemon */
  started: boolean
  unlocked: UnlockedKey[]
  /** allowlisted keys not unlocked, and why (e.g. os.direct needs no unlock) */
  skipped: { key: string; reason: string }[]
}

export async function unlock(ctx: Context, input: UnlockInput): Promise<UnlockResult> {
  const target = resolveTargets(ctx, input)
  if (target.keys.length === 0 && target.manifest) throw nothingAllowlisted(target.manifest.file, target.env)
  const durationMs = parseDuration(input.duration ?? (target.env === ENV_SUDO ? SUDO_DURATION : DEFAULT_DURATION))
  const idleTimeoutMs = input.idle ? parseDuration(input.idle, '--idle') : undefined
  const session = new OwnerSession(ctx)
  const manifest = await session.manifest()
  const now = ctx.now()
  const unlockUntil = now + durationMs
  // each key's source is read and minted concurrently (one identity, opened once); results are
  // collected in allowlist order
  type Outcome = { skipped: string } | { grant: GrantInput; unlocked: UnlockedKey }
  const outcomes = await Promise.all(
    target.keys.map(async (k): Promise<Outcome> => {
      const slug = k.slugs.find((s) => manifest.keys[s])
      if (!slug) return { skipped: `not set: ${hints.set(ctx, { key: k.key, env: k.env, mech: k.spec.mech })}` }
      const entry = manifest.keys[slug]!
      const vault = await loadVault(entry.vault)
      if (!vault.needsIdentity) return { skipped: `${vault.id} needs no unlock` }
      const mech = await loadMech(entry.mech)
      const grade: Grade = { protection: vault.protection, duration: mech.duration }
      if (!canHold(DAEMON_GRADE, grade)) return { skipped: `a ${grade.duration} key is never cached` }
      const source = await vault.get(session, { slug, exid: entry.exid })
      if (source === null) return { skipped: `${vault.id} holds nothing for ${slug}: ${hints.set(ctx, { key: k.key, env: k.env, vault: vault.id, mech: mech.id })}` }
      const minted = await mech.toKey({ slug, source, now })
      const verdict = checkCredential(minted.secret)
      if (verdict.verdict === 'blocked' && k.spec.allow !== 'long-lived')
        return { skipped: `blocked: ${blockedAdvice(verdict.rule, { key: k.key, env: k.env }).join('; ')}` }
      const expiresAt = grantExpiry(unlockUntil, minted.expiresAt)!
      return {
        grant: { slug, key: { secret: minted.secret, grade }, mech: mech.id, vault: vault.id, expiresAt, ...(idleTimeoutMs ? { idleTimeoutMs: Math.min(idleTimeoutMs, durationMs) } : {}) },
        unlocked: { key: k.key, slug, grade, mech: mech.id, vault: vault.id, expiresAt },
      }
    }),
  )
  const grants: GrantInput[] = []
  const unlocked: UnlockedKey[] = []
  const skipped: UnlockResult['skipped'] = []
  outcomes.forEach((outcome, i) => {
    if ('skipped' in outcome) skipped.push({ key: target.keys[i]!.key, reason: outcome.skipped })
    else {
      grants.push(outcome.grant)
      unlocked.push(outcome.unlocked)
    }
  })
  if (grants.length === 0) {
    const blocked = skipped.some((s) => s.reason.startsWith('blocked'))
    const ErrorClass = blocked ? KeyrackKeyBlockedError : KeyrackKeyAbsentError
    throw new ErrorClass(`nothing to unlock for env ${target.env}`, skipped.map((s) => `${s.key}: ${s.reason}`))
  }
  const socketPath = daemonSocketPath(ctx)
  const { ensureDaemon } = await import('../daemon/launch.ts')
  const { connectDaemon } = await import('../daemon/client.ts')
  const { started, pid } = await ensureDaemon({ owner: ctx.owner, socketPath, command: selfCommand(['__daemon', '--owner', ctx.owner]), env: { ...ctx.env, KEYRACK_SOCK: socketPath } })
  const connection = await connectDaemon({ socketPath })
  if (!connection.ok) throw new KeyrackKeyAbsentError(`the daemon of owner '${ctx.owner}' did not answer at ${socketPath}`, ['run `keyrack doctor`'])
  try {
    await connection.client.put(grants)
  } finally {
    connection.client.close()
  }
  return { owner: ctx.owner, socketPath, pid, started, unlocked, skipped }
}


/** an env whose section lists no keys (`env.test: []`): say how to list them, not just "nothing to unlock" */
export function nothingAllowlisted(file: string, env: string): KeyrackNotAllowlistedError {
  return new KeyrackNotAllowlistedError(`env ${env} allowlists no keys in ${file}: nothing to unlock`, [
    `list the keys this repo needs under \`env.${env}:\` (or \`env.all:\`) in .agent/keyrack.yml, e.g. \`  - XAI_API_KEY\`, then run \`keyrack unlock --for repo --env ${env}\` again`,
  ])
}
