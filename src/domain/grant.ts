import type { Grade } from './grade.ts'
import { parseSlug } from './names.ts'

/** the sensitive string and how well it is guarded (SPEC §3) */
export interface KeyrackKey {
  secret: string
  grade: Grade
}

/**
 * Env vars that travel with a key and end with it: the role credentials behind an AWS profile
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), for tools that read no profile.
 * Handed out beside the key only when asked for (or always, for a mech whose key is one of them).
 */
export interface Companions {
  /** env-var name → secret */
  secrets: Record<string, string>
  /** epoch ms when they stop working; never later than the grant they travel with */
  expiresAt?: number
}

/** a KeyrackKey made usable for a slug; expiresAt is epoch milliseconds */
export interface Grant {
  slug: string
  key: KeyrackKey
  mech: string
  vault: string
  expiresAt?: number
  companions?: Companions
}

/** every env var a grant hands out, in order: its own key, then its companions */
export function grantExports(grant: Grant): [name: string, secret: string][] {
  return [[parseSlug(grant.slug).key, grant.key.secret], ...Object.entries(grant.companions?.secrets ?? {})]
}

/** a grant's expiry: the earlier of the unlock TTL and the credential's own expiry */
export function grantExpiry(unlockUntil: number | undefined, credentialExpiresAt: number | undefined): number | undefined {
  if (unlockUntil === undefined) return credentialExpiresAt
  if (credentialExpiresAt === undefined) return unlockUntil
  return Math.min(unlockUntil, credentialExpiresAt)
}

/**
 * When the daemon renews a key minted at `mintedAt` that expires at `expiresAt`: `beforeMs` ahead
 * of its expiry, or halfway through its life when that comes sooner — a key that lives minutes
 * (a GitHub Enterprise policy, a test's fake) is renewed while it still works, never after.
 */
export function renewAt(mintedAt: number, expiresAt: number, beforeMs: number): number {
  return expiresAt - Math.min(beforeMs, Math.max(0, expiresAt - mintedAt) / 2)
}
