/**
 * A vault is where a key's source material is stored (SPEC §7): one adapter per file, one line
 * in the registry (./index.ts), one contract-suite fixture (tests/contract/fixtures.ts). Nothing
 * outside the adapter and the registry spells its id.
 *
 * The base interface is what every vault has. What only some vaults really have is a
 * capability interface, found with its type guard (the way age finds RecipientWithLabels) —
 * callers never switch on a vault's id:
 *
 *   LockableVault      its own lock or sign-in (keychain, 1password, the daemon's memory):
 *                      `unlock` opens it once per operation; `get` never reads it directly,
 *                      only what an unlock put into the daemon
 *   IndexFreeVault     readable with no host manifest and no inventory (os.direct): `get` asks it
 *                      first, even on a machine whose identity is locked
 *   ReencryptableVault encrypted to the owner's recipients (os.secure): reading needs the owner's
 *                      identity, and `recipients add/remove` re-encrypts its files
 *   PassthroughVault   the secret lives in the caller's environment (os.envvar): `set` records the
 *                      intent only, nothing is stored or cached
 *   BatchVault         reads many keys in one round (one `op` call): `unlock` uses it when present
 *   RemoteVault        provisions the secret somewhere keyrack cannot read it back (GitHub Actions
 *                      secrets): `set` needs the destination as `--exid` and checks the item arrived;
 *                      `get` reports the key `remote` (it exists only where it was provisioned)
 *
 * A vault that stores only a pointer (an `op://` reference, an AWS profile name) says so with
 * `stores: ['exid']`; its `get` resolves the pointer.
 */
import type { Context } from '../context.ts'
import type { MechId } from '../domain/ids.ts'
import { PROTECTIONS, type Protection } from '../domain/grade.ts'
import type { AgeIdentity } from '../identity/age-file.ts'
import type { ToolInfo } from '../ports.ts'
import type { Mech } from '../mechs/mech.ts'

/** what an adapter works with: the context (ports included) and the owner's identity, opened lazily and once */
export interface VaultSession {
  ctx: Context
  /** who the owner's encrypted files are encrypted to */
  recipients(): Promise<readonly string[]>
  /** the owner's identity; throws KeyrackKeyLockedError when it needs a passphrase nobody can give */
  identity(): Promise<AgeIdentity>
  /** decrypts a file to the owner's identity (opened once per session) */
  decrypt(ciphertext: Uint8Array, file: string): Promise<string>
  /**
   * the parts of this vault the owner lets keyrack read (host manifest `policy.scope.<vault id>`,
   * set with `keyrack policy --scope`), or null when the owner set none
   */
  scope(vaultId: string): Promise<readonly string[] | null>
}

/** where one key's source is, as the host manifest records it */
export interface VaultKeyRef {
  slug: string
  /** the vault's own id for the item (an `op://` reference, a profile name); null when derived from the slug */
  exid: string | null
}

export interface VaultSetInput {
  slug: string
  mech: string
  /** the secret itself, when the mech's source is `secret` (never logged, never in argv) */
  secret?: string
  /** a pointer to an existing item, when the mech's source is `exid` */
  exid?: string
  /** for a vault that holds keys for a time only (the daemon's memory): when to let go, epoch ms */
  until?: number
}

/** `doctor` and `set` ask this before relying on a vault */
export type Availability = { available: true; detail?: string } | { available: false; reason: string; hint: string[] }

export interface Vault {
  readonly id: string
  /** the protection of what it stores, at rest (SPEC §9) */
  readonly protection: Protection
  /** one line for `--help`, `doctor` and the "where should it be stored?" choice */
  readonly description: string
  /** what it can hold for a key: the secret itself, a pointer (`exid`) it resolves, or both */
  readonly stores: readonly ('secret' | 'exid')[]
  /** the only mechs it serves (the daemon's memory: EPHEMERAL_VIA_SESSION); absent = any mech whose source it stores */
  readonly mechs?: readonly MechId[]
  /** the external tool it runs, if any: named with its install command when missing */
  readonly tool?: ToolInfo
  /** the largest secret it can hold, in UTF-8 bytes (an SSM parameter: 4 KiB); absent = no limit keyrack knows of */
  readonly maxSecretBytes?: number
  /**
   * a vault that holds far more than keyrack's keys (a 1Password account) may be narrowed by the
   * owner to some of its parts (`keyrack policy --scope <id>=<part>,…`): what a part is, e.g.
   * `1Password vault`. The adapter enforces the scope on every read and store.
   */
  readonly scopedBy?: string
  /** where it keeps what it stores, for messages: a path, `your login keychain` */
  where(ctx: Context): string
  /** can it work here, now? Cheap, never prompts; a missing tool or service says how to get it */
  isAvailable(ctx: Context): Promise<Availability>
  /**
   * Stores a key's source and returns the exid to record in the host manifest.
   * @throws KeyrackVaultUnavailableError when its tool or service is missing
   * @throws KeyrackVaultError when the store fails; nothing is left half-written
   */
  set(session: VaultSession, input: VaultSetInput): Promise<{ exid: string | null }>
  /**
   * @returns the stored source (the secret, or what the pointer resolves to), or null when the
   *   vault holds nothing for the key
   * @throws KeyrackVaultError when the item exists but cannot be read; KeyrackKeyLockedError when locked
   */
  get(session: VaultSession, input: VaultKeyRef): Promise<string | null>
  /**
   * removes the stored source; a missing item is not an error. A vault that only pointed at
   * something the user owns leaves it, and says so: `{ kept }` names what was left as it was.
   */
  del(session: VaultSession, input: VaultKeyRef): Promise<void | { kept: string }>
}

/** a key the daemon held (or holds) for a vault, with what it served */
export interface HeldKey {
  slug: string
  secret: string
}

export interface LockableVault extends Vault {
  /**
   * Opens the vault's own lock or sign-in for this operation (one prompt, however many keys
   * follow). May ask through `session.ctx.prompt` or the OS; with nobody to ask it throws
   * KeyrackNoTerminalError with the command to run first. `keys` are the keys the operation is
   * for, when the vault signs in per item (an AWS profile's SSO session): it opens only what
   * those need; without them, only the vault itself.
   */
  unlock(session: VaultSession, keys?: readonly VaultKeyRef[]): Promise<void>
  /**
   * Closes what `unlock` opened, when the vault keeps a session of its own. `keys` are the keys
   * the daemon just let go of, each with what it served (an AWS profile name), and `kept` the
   * keys of this vault it still holds: a vault that signs in per item ends only the sessions of
   * `keys` that no kept key shares (`keyrack relock`). Called with no keys at the end of every
   * `unlock`, `set` and `del`, on the same session: a sign-in opened only for that operation (a
   * 1Password session) ends there; a vault whose sign-in outlives the operation does nothing.
   */
  relock?(session: VaultSession, keys?: readonly HeldKey[], kept?: readonly HeldKey[]): Promise<void>
}

export interface IndexFreeVault extends Vault {
  /** the secrets it holds for any of these slugs, with the mech each was stored for; silent about the rest */
  lookup(ctx: Context, slugs: readonly string[]): Promise<Map<string, { secret: string; mech?: string }>>
}

export interface ReencryptableVault extends Vault {
  /** every file it keeps encrypted to the owner's recipients (re-encrypted, all or nothing, by `recipients`) */
  encryptedFiles(ctx: Context): string[]
}

export interface PassthroughVault extends Vault {
  /** reads the key from the caller's environment at `get`; `set` records only that it should */
  readonly passthrough: true
}

export interface BatchVault extends Vault {
  /** reads several keys in one round trip; one entry per ref (null: holds nothing for it) */
  getMany(session: VaultSession, refs: readonly VaultKeyRef[]): Promise<Map<string, string | null>>
}

export interface RemoteVault extends Vault {
  readonly remote: true
  /** the form of the destination `--exid` names, for messages, e.g. `OWNER/REPO` */
  readonly exidForm: string
  /** the round trip of a vault that cannot be read: is the item there now? */
  exists(session: VaultSession, input: VaultKeyRef): Promise<boolean>
  /** for `get`'s `remote` report: where the key lives and how it is used there (exid null: only the locked host manifest knows) */
  describeRemote(ctx: Context, input: VaultKeyRef): { reason: string; hint: string[] }
}

export const isLockable = (vault: Vault): vault is LockableVault => typeof (vault as Partial<LockableVault>).unlock === 'function'
export const isIndexFree = (vault: Vault): vault is IndexFreeVault => typeof (vault as Partial<IndexFreeVault>).lookup === 'function'
export const isReencryptable = (vault: Vault): vault is ReencryptableVault => typeof (vault as Partial<ReencryptableVault>).encryptedFiles === 'function'
export const isPassthrough = (vault: Vault): vault is PassthroughVault => (vault as Partial<PassthroughVault>).passthrough === true
export const isBatch = (vault: Vault): vault is BatchVault => typeof (vault as Partial<BatchVault>).getMany === 'function'
export const isRemote = (vault: Vault): vault is RemoteVault => (vault as Partial<RemoteVault>).remote === true

/**
 * How a key in this vault can be read:
 *  - `open`: by any process of the user, with no unlock (os.direct, os.envvar); `get` reads it
 *    directly and `unlock` leaves it alone;
 *  - `identity`: with the owner's identity (os.secure); `get` reads it directly only when the
 *    identity opens without asking;
 *  - `unlock`: only after the vault's own unlock; `get` sees it only through the daemon;
 *  - `remote`: never, here (it was provisioned elsewhere: GitHub Actions secrets).
 */
export type Access = 'open' | 'identity' | 'unlock' | 'remote'
export function accessOf(vault: Vault): Access {
  if (isRemote(vault)) return 'remote'
  if (isLockable(vault)) return 'unlock'
  if (isReencryptable(vault)) return 'identity'
  return 'open'
}

/** can this vault hold the source this mech turns into a key? (the one compatibility rule) */
export function canSource(vault: Vault, mech: Mech): boolean {
  const named = vault.mechs?.includes(mech.id) ?? false
  if (vault.mechs && !named) return false
  if (mech.dedicated && !named) return false
  if (!(vault.stores as readonly string[]).includes(mech.source)) return false
  return !mech.minProtection || PROTECTIONS.indexOf(vault.protection) >= PROTECTIONS.indexOf(mech.minProtection)
}
