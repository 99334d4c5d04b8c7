/**
 * relock: forget grants in the owner's daemon (all, or those matching --key/--env); the daemon exits
 * when empty. `--env E` matches the keys a get of env E is served: E's own and env `all`'s.
 *
 * A vault with a sign-in of its own per key (aws.config: an AWS SSO session) is told which of its
 * keys were let go and which are still held, and ends the sessions only the released keys used —
 * relock is a logout scoped to what it forgot, never every session the tool knows.
 */
import type { Context } from '../context.ts'
import { KeyrackError } from '../domain/errors.ts'
import { assertEnv, assertKey, ENV_ALL, parseSlug } from '../domain/names.ts'
import { daemonSocketPath } from '../daemon/owner.ts'
import { isLockable, type HeldKey, type LockableVault } from '../vaults/vault.ts'
import { OwnerSession } from './session.ts'
import { audited } from './audit.ts'

export interface RelockInput {
  key?: string
  env?: string
}

export interface RelockResult {
  owner: string
  /** false when no daemon was running (nothing was unlocked) */
  running: boolean
  removed: number
  remaining: number
  /** sessions that could not be ended (the keys are relocked all the same) */
  warnings: string[]
}

export async function relock(ctx: Context, input: RelockInput = {}): Promise<RelockResult> {
  return audited(ctx, 'relock', { env: input.env ?? null, slugs: input.key ? [input.key] : [] }, () => relockOnce(ctx, input), (result) =>
    result.running ? { env: input.env ?? null, slugs: input.key ? [input.key] : [], outcome: 'ok', details: { removed: result.removed, remaining: result.remaining } } : null,
  )
}

async function relockOnce(ctx: Context, input: RelockInput = {}): Promise<RelockResult> {
  const key = input.key ? assertKey(input.key) : undefined
  const env = input.env ? assertEnv(input.env) : undefined
  const { connectDaemon } = await import('../daemon/client.ts')
  const connection = await connectDaemon({ socketPath: daemonSocketPath(ctx) })
  if (!connection.ok) return { owner: ctx.owner, running: false, removed: 0, remaining: 0, warnings: [] }
  const { client } = connection
  const warnings: string[] = []
  try {
    const { grants } = await client.list()
    // env.all keys serve every env (lookup falls back to them), so `--env test` forgets them too
    const chosen = (slug: string) => {
      const parts = parseSlug(slug)
      return (!key || parts.key === key) && (!env || parts.env === env || parts.env === ENV_ALL)
    }
    const slugs = key || env ? grants.map((g) => g.slug).filter(chosen) : undefined
    // the keys of vaults that end a session of their own, with what each served (read before they go)
    const sessionVaults = new Map<string, LockableVault>()
    for (const id of new Set(grants.map((g) => g.vault))) {
      const vault = await ctx.vaults.load(id).catch(() => null)
      if (vault && isLockable(vault) && vault.relock) sessionVaults.set(id, vault)
    }
    const held = new Map<string, HeldKey[]>()
    const tracked = grants.filter((g) => sessionVaults.has(g.vault))
    if (tracked.length > 0) {
      // the daemon logs what it hands out: say these keys are read by relock, to end their sign-ins
      const { results } = await client.get(tracked.map((g) => g.slug), { audit: { command: 'relock', worksite: null, env: input.env ?? null, details: { purpose: 'end-sign-in' } } })
      for (const r of results) if (r.state === 'granted') held.set(r.grant.vault, [...(held.get(r.grant.vault) ?? []), { slug: r.slug, secret: r.grant.key.secret }])
    }
    const { removed, remaining } = await client.relock(slugs)
    if (remaining === 0) await client.stop().catch(() => undefined)
    const session = new OwnerSession(ctx)
    for (const [id, keys] of held) {
      const released = keys.filter((k) => !slugs || slugs.includes(k.slug))
      if (released.length === 0) continue
      try {
        await sessionVaults.get(id)!.relock!(session, released, keys.filter((k) => !released.includes(k)))
      } catch (error) {
        if (!(error instanceof KeyrackError)) throw error
        warnings.push(`${id}: the keys are relocked, but a sign-in could not be ended: ${error.message}`)
      }
    }
    return { owner: ctx.owner, running: true, removed, remaining, warnings }
  } finally {
    client.close()
  }
}
