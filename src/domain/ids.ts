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

/**
 * Where a hint sends a mech's source: `only` — the one vault that can hold it (an AWS SSO profile
 * lives in aws.config, whatever else was chosen); otherwise the vault suggested for it.
 */
const VAULT_FOR_MECH: Partial<Record<MechId, { vault: string; only: boolean }>> = {
  EPHEMERAL_VIA_AWS_SSO: { vault: 'aws.config', only: true },
  // the app's private key must live in an encrypted vault
  EPHEMERAL_VIA_GITHUB_APP: { vault: SUGGESTED_VAULT, only: false },
}

/** the vault a `keyrack set` hint names for a mech: its only vault, else the one chosen, else the suggested one */
export function vaultForHint(mech?: string, chosen?: string): string {
  const known = mech && isMechId(mech) ? VAULT_FOR_MECH[mech] : undefined
  return known?.only ? known.vault : (chosen ?? known?.vault ?? SUGGESTED_VAULT)
}

/** the short-lived mech that usually grants a key of this name: what `fill` offers first */
const MECH_FOR_KEY: Readonly<Record<string, MechId>> = {
  AWS_PROFILE: 'EPHEMERAL_VIA_AWS_SSO',
}
export const usualMechFor = (key: string): MechId | undefined => (Object.hasOwn(MECH_FOR_KEY, key) ? MECH_FOR_KEY[key] : undefined)

/** the mech a hint names for a key with no short-lived alternative (the user must still choose it) */
export const REPLICA_MECH: MechId = 'PERMANENT_VIA_REPLICA'
