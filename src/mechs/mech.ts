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
import type { RepoKeySpec } from '../manifests/repo-file.ts'

export interface MintedKey {
  secret: string
  /** epoch ms when the credential itself stops working (ephemeral mechs); the grant never outlives it */
  expiresAt?: number
  /** env vars minted with the key (role credentials behind an AWS profile); see Mech.companions */
  companions?: Companions
  /**
   * A RenewableMech's: everything it needs to mint this key again with no vault, no repo and no
   * caller environment (the daemon runs with none of them). As sensitive as the source itself:
   * it travels only where a secret may (the daemon's socket) and is never part of a Grant.
   */
  renewal?: string
}

/** what `toKey` is given: the stored source, and what the repo manifest declares with the key */
export interface ToKeyInput {
  slug: string
  source: string
  /** the repo manifest's entry for the key, when a repo asked for it (e.g. a GitHub App token's narrowing) */
  declared?: RepoKeySpec
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
   * Checks the shape of a typed or piped source before anything is stored (`set`), so a malformed
   * one is refused with what is wrong instead of failing later at the round trip's mint.
   * @throws KeyrackSecretInvalidError naming the part that is wrong (never echoing the source)
   */
  checkSource?(source: string): void
  /**
   * Turns the stored source into the key handed out (a token minted, a session checked).
   * @throws KeyrackVaultError (or a more precise KeyrackError) when the source no longer works
   */
  toKey(ctx: Context, input: ToKeyInput): Promise<MintedKey>
}

/** a mech with `source: 'declared'`: what the repo manifest declares for the key is its source */
export const isDeclared = (mech: Mech): boolean => mech.source === 'declared'

/**
 * A mech whose keys expire long before an unlock does (a GitHub App token lasts an hour, an
 * unlock nine). Its `toKey` returns a `renewal`; `unlock` hands it to the daemon with the key,
 * and the daemon calls `renew` before the key expires (domain/grant.ts renewAt: `renewBeforeMs`
 * ahead, or halfway through a key that lives less than twice that), so `get` always serves a live key until the
 * unlock ends. The daemon loads the mech (and whatever it imports) only when a renewal is due.
 */
export interface RenewableMech extends Mech {
  readonly renewBeforeMs: number
  /** mints the key again from a `renewal` this mech returned; runs inside the daemon */
  renew(ctx: Context, input: { slug: string; renewal: string }): Promise<MintedKey>
}
export const isRenewable = (mech: Mech): mech is RenewableMech =>
  typeof (mech as Partial<RenewableMech>).renewBeforeMs === 'number' && typeof (mech as Partial<RenewableMech>).renew === 'function'
