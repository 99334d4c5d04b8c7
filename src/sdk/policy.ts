/**
 * policy: the owner's rules for AI agents (domain/policy.ts). The host manifest holds them (so
 * changing them needs the owner's identity, which an agent never has); the inventory mirrors them
 * so that `exec`, `guard` and `mcp` can read them without it.
 */
import { paths, type Context } from '../context.ts'
import { KeyrackUsageError } from '../domain/errors.ts'
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

/**
 * Changes rules in the host manifest (opens the identity; the inventory follows). A scope given
 * as `{ <vault id>: [] }` removes that vault's scope.
 */
export async function setPolicy(ctx: Context, changes: StoredPolicy): Promise<PolicyResult> {
  for (const [id, parts] of Object.entries(changes.scope ?? {})) await checkScope(ctx, id, parts)
  const session = new OwnerSession(ctx)
  await session.identity()
  return withLock(paths.lock(ctx), async () => {
    const manifest = await session.manifest()
    const { scope: changedScope, ...rules } = changes
    const stored: StoredPolicy = { ...manifest.policy, ...rules }
    if (changedScope) {
      const scope = { ...manifest.policy?.scope, ...changedScope }
      for (const [id, parts] of Object.entries(scope)) if (parts.length === 0) delete scope[id]
      if (Object.keys(scope).length > 0) stored.scope = scope
      else delete stored.scope
    }
    await writeHostManifest(ctx, { ...manifest, policy: stored })
    return { owner: ctx.owner, policy: effectivePolicy(stored), stored }
  })
}

/** a scope names a vault that can be narrowed, and parts that can be named in its references */
async function checkScope(ctx: Context, id: string, parts: readonly string[]): Promise<void> {
  const vault = await ctx.vaults.load(id)
  const narrowable = (await ctx.vaults.loadAll()).filter((v) => v.scopedBy).map((v) => v.id)
  if (!vault.scopedBy)
    throw new KeyrackUsageError(`vault ${id} holds only keyrack's own keys: there is nothing to narrow`, [
      narrowable.length ? `a scope narrows one of: ${narrowable.join(', ')} (e.g. \`keyrack policy --scope ${narrowable[0]}=<name>,…\`)` : 'no vault in this build takes a scope',
    ])
  const bad = parts.find((p) => p.trim() !== p || p === '' || /[/,\u0000-\u001f\u007f]/.test(p))
  if (bad !== undefined)
    throw new KeyrackUsageError(`a ${vault.scopedBy} name in --scope is empty, has a slash, a comma, a control character or spaces at its ends`, [
      `name each ${vault.scopedBy} as it appears in its references, e.g. \`keyrack policy --scope ${id}=Private,Dev\``,
    ])
}
