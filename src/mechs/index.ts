/**
 * The mech registry: the one place that maps a mech id to its adapter, each loaded lazily.
 * Adding a mech: one adapter file and one line below. The full list of mech ids (including the
 * ones this build cannot produce yet, which a repo manifest may still require) is domain's
 * MECH_IDS.
 */
import { KeyrackUsageError } from '../domain/errors.ts'
import { isMechId, type MechId } from '../domain/ids.ts'
import { lazyRegistry, type Registry } from '../registry.ts'
import type { Mech } from './mech.ts'

export { MECH_IDS, isMechId, type MechId } from '../domain/ids.ts'

const BUILTIN: Partial<Record<MechId, () => Promise<Mech>>> = {
  PERMANENT_VIA_REPLICA: () => import('./permanent-via-replica.ts').then((m) => m.default),
  PERMANENT_VIA_REFERENCE: () => import('./permanent-via-reference.ts').then((m) => m.default),
  EPHEMERAL_VIA_SESSION: () => import('./ephemeral-via-session.ts').then((m) => m.default),
  EPHEMERAL_VIA_AWS_SSO: () => import('./ephemeral-via-aws-sso.ts').then((m) => m.default),
  EPHEMERAL_VIA_GITHUB_OIDC: () => import('./ephemeral-via-github-oidc.ts').then((m) => m.default),
  EPHEMERAL_VIA_GITHUB_APP: () => import('./ephemeral-via-github-app.ts').then((m) => m.default),
}

/** load(id) throws KeyrackUsageError naming the available mechs when the id is not one of them */
export type MechRegistry = Registry<Mech, MechId>

export const mechRegistry = (loaders: Partial<Record<MechId, () => Promise<Mech>>>): MechRegistry => lazyRegistry(loaders, unknownMech)

export const builtinMechs: MechRegistry = mechRegistry(BUILTIN)
/** the mechs this build can produce */
export const AVAILABLE_MECH_IDS = builtinMechs.ids

function unknownMech(id: string, ids: readonly string[]): KeyrackUsageError {
  if (isMechId(id)) return new KeyrackUsageError(`mech '${id}' is not available in this version of keyrack`, [`use one of: ${ids.join(', ')}`])
  return new KeyrackUsageError(`unknown mech '${id.length > 40 ? id.slice(0, 40) + '…' : id}'`, [
    `use one of: ${ids.join(', ')} (e.g. \`--mech ${ids[0]}\`)`,
  ])
}
