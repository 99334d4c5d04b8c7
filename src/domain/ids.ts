/**
 * Shared names every layer may use. The vault ids themselves belong to the vault registry
 * (src/vaults/index.ts); only the few names that rules and hints must spell live here.
 */

/** every mech of SPEC §8: a repo manifest may require any of them, even one this build cannot produce yet */
export const MECH_IDS = [
  'PERMANENT_VIA_REPLICA',
  'PERMANENT_VIA_REFERENCE',
  'EPHEMERAL_VIA_AWS_SSO',
  'EPHEMERAL_VIA_GITHUB_APP',
  'EPHEMERAL_VIA_SESSION',
  'EPHEMERAL_VIA_GITHUB_OIDC',
] as const
export type MechId = (typeof MECH_IDS)[number]

export function isMechId(id: string): id is MechId {
  return (MECH_IDS as readonly string[]).includes(id)
}

/** the vault a hint names when the user has not chosen one: encrypted, needs no external tool, works everywhere */
export const SUGGESTED_VAULT = 'os.secure'

/** the mech a hint names for a key with no short-lived alternative (the user must still choose it) */
export const REPLICA_MECH: MechId = 'PERMANENT_VIA_REPLICA'
