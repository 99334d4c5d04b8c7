/**
 * The mech registry: id → lazy loader. MECH_IDS lists every mech of SPEC §8, so a repo
 * manifest may require one that this build cannot produce yet (get reports it clearly).
 */
import { KeyrackUsageError } from '../domain/errors.ts'
import type { Mech } from './mech.ts'

export const MECH_IDS = [
  'PERMANENT_VIA_REPLICA',
  'PERMANENT_VIA_REFERENCE',
  'EPHEMERAL_VIA_AWS_SSO',
  'EPHEMERAL_VIA_GITHUB_APP',
  'EPHEMERAL_VIA_SESSION',
  'EPHEMERAL_VIA_GITHUB_OIDC',
] as const
export type MechId = (typeof MECH_IDS)[number]

const loaders: Record<string, () => Promise<Mech>> = Object.assign(Object.create(null), {
  PERMANENT_VIA_REPLICA: () => import('./permanent-via-replica.ts').then((m) => m.default),
})

export const AVAILABLE_MECH_IDS = Object.keys(loaders)

export function isMechId(id: string): id is MechId {
  return (MECH_IDS as readonly string[]).includes(id)
}

export async function loadMech(id: string): Promise<Mech> {
  const loader = loaders[id]
  if (loader) return loader()
  if (isMechId(id))
    throw new KeyrackUsageError(`mech '${id}' is not available in this version of keyrack`, [
      `use one of: ${AVAILABLE_MECH_IDS.join(', ')}`,
    ])
  throw new KeyrackUsageError(`unknown mech '${id.length > 40 ? id.slice(0, 40) + '…' : id}'`, [
    `use one of: ${AVAILABLE_MECH_IDS.join(', ')} (e.g. \`--mech PERMANENT_VIA_REPLICA\`)`,
  ])
}
