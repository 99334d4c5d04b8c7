/**
 * A mech turns what a vault stores into a usable key (SPEC §8): one adapter per file, one
 * registry line each. It knows the duration it produces and how to turn a source into a key.
 */
import type { Duration } from '../domain/grade.ts'

export interface MintedKey {
  secret: string
  /** epoch ms when the credential itself stops working (ephemeral mechs) */
  expiresAt?: number
}

export interface Mech {
  readonly id: string
  readonly duration: Duration
  /** one line for `--help` and for the "choose a mech" guidance */
  readonly description: string
  /** vaults this mech can take its source from */
  readonly vaults: readonly string[]
  /** turns the stored source into the key handed out */
  toKey(input: { slug: string; source: string; now: number }): Promise<MintedKey>
}
