/**
 * A vault is where a key's source material is stored (SPEC §7). One adapter per file, one
 * registry line each (index.ts). Adapters get what they need through a VaultSession, which
 * opens the owner's identity lazily (and only once) when an adapter asks for it.
 */
import type { Context } from '../context.ts'
import type { Protection } from '../domain/grade.ts'
import type { AgeIdentity } from '../identity/age-file.ts'

export interface VaultSession {
  ctx: Context
  /** who the owner's encrypted files are encrypted to */
  recipients(): Promise<readonly string[]>
  /** the owner's identity; throws KeyrackKeyLockedError when it needs a passphrase nobody can give */
  identity(): Promise<AgeIdentity>
  /** decrypts a file to the owner's identity (opened once per session) */
  decrypt(ciphertext: Uint8Array, file: string): Promise<string>
}

export interface Vault {
  readonly id: string
  /** the protection of secrets at rest in this vault (SPEC §9) */
  readonly protection: Protection
  /**
   * whether reading needs the owner's identity or another credential (so `get` without a
   * daemon treats it as `locked` unless the identity opens without asking)
   */
  readonly needsIdentity: boolean
  /**
   * Stores the secret for a slug and returns the exid to record in the host manifest.
   * @throws KeyrackVaultError when the store fails; nothing is left half-written
   */
  set(session: VaultSession, input: { slug: string; secret: string; mech: string }): Promise<{ exid: string | null }>
  /**
   * @returns the stored secret, or null when the vault holds nothing for the slug
   * @throws KeyrackVaultError when the item exists but cannot be read; KeyrackKeyLockedError when locked
   */
  get(session: VaultSession, input: { slug: string; exid: string | null }): Promise<string | null>
  /** removes the stored secret; a missing item is not an error */
  del(session: VaultSession, input: { slug: string; exid: string | null }): Promise<void>
}
