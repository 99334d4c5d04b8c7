/** list: the owner's host manifest entries with vault, mech, grade and timestamps — never a secret */
import type { Context } from '../context.ts'
import type { Grade } from '../domain/grade.ts'
import { parseSlug } from '../domain/names.ts'
import { readHostManifest } from '../manifests/host.ts'
import { ensureInventory } from '../manifests/inventory.ts'
import { gradeOf } from './grant.ts'
import { OwnerSession } from './session.ts'

export interface ListedKey {
  slug: string
  org: string
  env: string
  key: string
  vault: string
  mech: string
  exid: string | null
  /** null when this build does not know the vault or the mech */
  grade: Grade | null
  createdAt: string
  updatedAt: string
}

export async function list(ctx: Context): Promise<{ owner: string; recipients: string[]; keys: ListedKey[] }> {
  const session = new OwnerSession(ctx)
  const manifest = await session.manifest()
  // keys set by an older keyrack: write the inventory now that the host manifest is open
  await ensureInventory(ctx, () => readHostManifest(ctx, (ciphertext, file) => session.decrypt(ciphertext, file)))
  const keys = await Promise.all(
    Object.entries(manifest.keys).map(async ([slug, entry]): Promise<ListedKey> => {
      const vault = await ctx.vaults.load(entry.vault).catch(() => null)
      const mech = await ctx.mechs.load(entry.mech).catch(() => null)
      return {
        slug, ...parseSlug(slug), vault: entry.vault, mech: entry.mech, exid: entry.exid,
        grade: vault && mech ? gradeOf(vault, mech) : null,
        createdAt: entry.createdAt, updatedAt: entry.updatedAt,
      }
    }),
  )
  return { owner: ctx.owner, recipients: manifest.owner.recipients, keys }
}
