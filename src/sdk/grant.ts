/**
 * The one "source → grant" step: a vault's stored source, turned into a key by its mech, with the
 * grade both give it. `get` (reading a vault directly), `unlock` (before handing keys to the
 * daemon), `set` (proving the round trip) and `list` (grades) all go through here.
 */
import type { Context } from '../context.ts'
import type { Grade } from '../domain/grade.ts'
import type { Grant } from '../domain/grant.ts'
import type { RepoKeySpec } from '../manifests/repo-file.ts'
import type { Mech } from '../mechs/mech.ts'
import type { Vault, VaultSession } from '../vaults/vault.ts'

/** protection from the vault, duration from the mech (SPEC §9) */
export const gradeOf = (vault: Pick<Vault, 'protection'>, mech: Pick<Mech, 'duration'>): Grade => ({ protection: vault.protection, duration: mech.duration })

export interface MintInput {
  slug: string
  vault: Vault
  mech: Mech
  source: string
  /** the repo manifest's entry for the key, when a repo asked (a GitHub App token's narrowing) */
  declared?: RepoKeySpec
}

/**
 * Mints a key from a source already read: the grant, and apart from it (never inside a Grant,
 * which is printed) what a renewable mech needs to mint it again, for the daemon.
 */
export async function mint(ctx: Context, input: MintInput): Promise<{ grant: Grant; renewal?: string }> {
  const { slug, vault, mech } = input
  const minted = await mech.toKey(ctx, { slug, source: input.source, ...(input.declared ? { declared: input.declared } : {}) })
  const grant: Grant = { slug, key: { secret: minted.secret, grade: gradeOf(vault, mech) }, mech: mech.id, vault: vault.id }
  if (minted.expiresAt !== undefined) grant.expiresAt = minted.expiresAt
  if (minted.companions) {
    // companions end with the key at the latest
    const until = Math.min(minted.companions.expiresAt ?? Infinity, minted.expiresAt ?? Infinity)
    grant.companions = { secrets: { ...minted.companions.secrets }, ...(Number.isFinite(until) ? { expiresAt: until } : {}) }
  }
  return minted.renewal === undefined ? { grant } : { grant, renewal: minted.renewal }
}

/** mints a key from a source already read, as a grant */
export async function toGrant(ctx: Context, input: MintInput): Promise<Grant> {
  return (await mint(ctx, input)).grant
}

/** reads a key's source from its vault and mints it; null when the vault holds nothing for it */
export async function grantFromVault(session: VaultSession, input: { slug: string; exid: string | null; vault: Vault; mech: Mech; declared?: RepoKeySpec }): Promise<Grant | null> {
  const source = await input.vault.get(session, { slug: input.slug, exid: input.exid })
  if (source === null) return null
  return toGrant(session.ctx, { ...input, source })
}
