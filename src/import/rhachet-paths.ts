/**
 * Where rhachet's keyrack keeps its files (rhachet's getKeyrackHostManifestPath, asKeyrackOwnerDir):
 * always under $HOME/.rhachet/keyrack, whatever KEYRACK_HOME says, because that is where rhachet
 * writes them. Kept apart from rhachet.ts so `get` can ask "is there a rhachet keyrack?" without
 * loading the importer.
 *
 *   keyrack.host.age | keyrack.host.<owner>.age                 host manifest (armored age, JSON)
 *   vault/os.secure/owner=<owner|default>/<sha256(slug)[:16]>.age one secret (armored age, raw value)
 *   vault/os.direct/owner=<owner|default>/keyrack.direct.json    { slug: { value, expiresAt? } }
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Context } from '../context.ts'
import { DEFAULT_OWNER } from '../domain/names.ts'

/** rhachet's owner for a keyrack owner: keyrack's `human` is rhachet's default owner (null) */
export const rhachetOwnerOf = (owner: string): string | null => (owner === DEFAULT_OWNER ? null : owner)

export const rhachetPaths = (ctx: Context) => {
  const root = join(ctx.env.HOME || homedir(), '.rhachet', 'keyrack')
  const owner = rhachetOwnerOf(ctx.owner)
  const ownerDir = `owner=${owner ?? 'default'}`
  return {
    root,
    owner,
    hostManifest: join(root, owner === null ? 'keyrack.host.age' : `keyrack.host.${owner}.age`),
    secureDir: join(root, 'vault', 'os.secure', ownerDir),
    directFile: join(root, 'vault', 'os.direct', ownerDir, 'keyrack.direct.json'),
  }
}

/** whether rhachet has a keyrack for this owner (then `keyrack import --from rhachet` can bring it over) */
export const hasRhachetKeyrack = (ctx: Context): boolean => existsSync(rhachetPaths(ctx).hostManifest)
