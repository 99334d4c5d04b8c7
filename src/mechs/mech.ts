/**
 * A mech turns what a vault stores into a usable key (SPEC §8): one adapter per file, one line in
 * the registry (./index.ts). It knows (a) what `set` needs and how to ask for it, (b) how to turn
 * the stored source into a key, (c) the duration of what it produces. Mechs get the Context, so
 * they reach tools, HTTP, the human and the clock only through its ports (src/ports.ts).
 */
import type { Context } from '../context.ts'
import type { Duration, Protection } from '../domain/grade.ts'
import type { Companions } from '../domain/grant.ts'
import type { MechId } from '../domain/ids.ts'

export interface MintedKey {
  secret: string
  /** epoch ms when the credential itself stops working (ephemeral mechs); the grant never outlives it */
  expiresAt?: number
  /** env vars minted with the key (role credentials behind an AWS profile); see Mech.companions */
  companions?: Companions
}

/** what `set` stores for a key: the secret, or a pointer the vault resolves */
export type SetSource = { secret: string } | { exid: string }

export interface Mech {
  readonly id: MechId
  readonly duration: Duration
  /** one line for `--help` and for the "choose a mech" guidance */
  readonly description: string
  /**
   * What its vault holds: the key itself (`secret`) or a pointer the vault resolves (`exid`) — or
   * nothing at all (`declared`): the repo manifest declares what it needs (a role ARN) and the
   * key is minted where it runs (CI), so there is nothing to `set`.
   */
  readonly source: 'secret' | 'exid' | 'declared'
  /**
   * The env vars it mints beside the key, and when they are handed out: `asked` — only with
   * `--with-credentials` or `with-credentials: true` on the key in the repo manifest (an AWS
   * profile's role credentials); `always` — they are part of the key (OIDC credentials).
   */
  readonly companions?: { readonly keys: readonly string[]; readonly when: 'asked' | 'always' }
  /** the weakest protection its source may be stored with (a GitHub App's private key: `encrypted`) */
  readonly minProtection?: Protection
  /** only vaults that name this mech in their `mechs` may hold its source (a session key: the daemon's memory only) */
  readonly dedicated?: boolean
  /**
   * its source is asked for again at each unlock when the vault no longer holds it (a session
   * key): `unlock` asks through ctx.prompt, one key after another, and skips it with the command
   * that pipes it in when nobody can be asked
   */
  readonly typedAtUnlock?: boolean
  /**
   * Guided `set`: asks the human (ctx.prompt) for the source, with guidance, and may prepare
   * things outside keyrack (an AWS profile). Absent: the source is the secret at a hidden
   * prompt, or `--exid`. With no ctx.prompt it throws KeyrackNoTerminalError naming the flags.
   */
  ask?(ctx: Context, input: { key: string; env: string; /** `--org`, when the command named one */ org?: string }): Promise<SetSource>
  /**
   * Turns the stored source into the key handed out (a token minted, a session checked).
   * @throws KeyrackVaultError (or a more precise KeyrackError) when the source no longer works
   */
  toKey(ctx: Context, input: { slug: string; source: string }): Promise<MintedKey>
}

/** a mech with `source: 'declared'`: what the repo manifest declares for the key is its source */
export const isDeclared = (mech: Mech): boolean => mech.source === 'declared'

/**
 * Extension point for mechs whose keys expire long before an unlock does (GitHub App tokens
 * last an hour, an unlock nine): the daemon would keep such a key's source in memory and call
 * `toKey` again `renewBeforeMs` before `expiresAt`, so `get` always serves a live key. Not built
 * yet — today such a grant expires at the credential's expiry and `get` says to unlock again.
 */
export interface RenewableMech extends Mech {
  readonly renewBeforeMs: number
}
export const isRenewable = (mech: Mech): mech is RenewableMech => typeof (mech as Partial<RenewableMech>).renewBeforeMs === 'number'
