/**
 * What `get` says about each allowlisted key (SPEC §11): its state, and for every state but
 * `granted` the reason and the exact next commands. Never a secret outside `grant`.
 */
import type { Grant } from './grant.ts'

/** `remote`: provisioned where keyrack cannot read it (a GitHub Actions secret): it exists only in CI */
export type KeyState = 'granted' | 'absent' | 'locked' | 'expired' | 'blocked' | 'remote'

export interface KeyReport {
  key: string
  env: string
  /** the slug that answered (or the first one looked up) */
  slug: string
  state: KeyState
  /** present only when granted */
  grant?: Grant
  /** not required because another key is present (`is-optional-if-has`) */
  optional?: boolean
  /** why a key is not granted, in words */
  reason?: string
  /** the exact next commands */
  hint: string[]
  /** e.g. a reviewed long-lived exception */
  warning?: string
  /**
   * `locked`, or never set: keyrack cannot tell which without the owner's passphrase (keys set by
   * an older keyrack, before the inventory; the next `unlock` or `list` writes it)
   */
  maybeAbsent?: true
}
