import type { Grade } from './grade.ts'

/** the sensitive string and how well it is guarded (SPEC §3) */
export interface KeyrackKey {
  secret: string
  grade: Grade
}

/** a KeyrackKey made usable for a slug; expiresAt is epoch milliseconds */
export interface Grant {
  slug: string
  key: KeyrackKey
  mech: string
  vault: string
  expiresAt?: number
}

/** a grant's expiry: the earlier of the unlock TTL and the credential's own expiry */
export function grantExpiry(unlockUntil: number | undefined, credentialExpiresAt: number | undefined): number | undefined {
  if (unlockUntil === undefined) return credentialExpiresAt
  if (credentialExpiresAt === undefined) return unlockUntil
  return Math.min(unlockUntil, credentialExpiresAt)
}
