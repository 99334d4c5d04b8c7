/** list: the owner's host manifest entries with vault, mech, grade and timestamps — never a secret */
import type { Context } from '../context.ts'
import type { Grade } from '../domain/grade.ts'
import { parseSlug } from '../domain/names.ts'
import { loadMech } from '../mechs/index.ts'
import { loadVault } from '../vaults/index.ts'
import { OwnerSession } from './session.ts'

export interface ListedKey {
  slug: string
  org: string
  env: string
  key: string
  vault: string
  mech: string
  exid: string | null
  grade: Grade | null
  createdAt: string
  updatedAt: string
}

export async function list(ctx: Context): Promise<{ owner: string; recipients: string[]; keys: ListedKey[] }> {
  const session = new OwnerSession(ctx)
  const manifest = await session.manifest()
  const keys: ListedKey[] = []
  for (const [slug, entry] of Object.entries(manifest.keys)) {
    const vault = await loadVault(entry.vault).catch(() => null)
    const mech = await loadMech(entry.mech).catch(() => null)
    keys.push({
      slug, ...parseSlug(slug), vault: entry.vault, mech: entry.mech, exid: entry.exid,
      grade: vault && mech ? { protection: vault.protection, duration: mech.duration } : null,
      createdAt: entry.createdAt, updatedAt: entry.updatedAt,
    })
  }
  return { owner: ctx.owner, recipients: manifest.owner.recipients, keys }
}
