/**
 * policy: the owner's rules for AI agents (domain/policy.ts). The host manifest holds them (so
 * changing them needs the owner's identity, which an agent never has); the inventory mirrors them
 * so that `exec`, `guard` and `mcp` can read them without it.
 */
import { paths, type Context } from '../context.ts'
import { effectivePolicy, type AgentPolicy, type StoredPolicy } from '../domain/policy.ts'
import { writeHostManifest } from '../manifests/host.ts'
import { readInventory } from '../manifests/inventory.ts'
import { withLock } from '../runtime/lock.ts'
import { OwnerSession } from './session.ts'

export interface PolicyResult {
  owner: string
  /** every rule, defaults filled in */
  policy: AgentPolicy
  /** the rules the owner set (the others are defaults) */
  stored: StoredPolicy
}

/** the rules in force, from the inventory (no identity needed); an owner without one has the defaults */
export function readPolicy(ctx: Context): PolicyResult {
  const stored = readInventory(ctx)?.policy ?? {}
  return { owner: ctx.owner, policy: effectivePolicy(stored), stored }
}

/** changes rules in the host manifest (opens the identity; the inventory follows) */
export async function setPolicy(ctx: Context, changes: StoredPolicy): Promise<PolicyResult> {
  const session = new OwnerSession(ctx)
  await session.identity()
  return withLock(paths.lock(ctx), async () => {
    const manifest = await session.manifest()
    const stored: StoredPolicy = { ...manifest.policy, ...changes }
    await writeHostManifest(ctx, { ...manifest, policy: stored })
    return { owner: ctx.owner, policy: effectivePolicy(stored), stored }
  })
}
