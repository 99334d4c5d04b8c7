/**
 * The inventory: a value-free index of an owner's keys, readable without the identity
 * (`inventory.<owner>.json`, 0600). For each key it holds sha256(slug) — the same name its
 * os.secure file already has — the vault and the mech, and whether the host manifest records an
 * exid for it. Never a secret, an exid or a slug in clear.
 *
 * Why: the host manifest is encrypted, so with a passphrase-protected identity `get` could not
 * tell a key that was never set (`absent`, with the `set` command) from one that is set but not
 * unlocked (`locked`), and could not serve keys from vaults that need no identity at all
 * (os.envvar) or say that a keychain key needs an unlock. The inventory answers those questions;
 * the host manifest stays the record of truth, and the inventory is rewritten from it, under
 * the owner lock, every time the host manifest is written (manifests/host.ts).
 *
 * A missing inventory (keys set by an older keyrack) is rebuilt by the next command that opens
 * the host manifest (`unlock`, `list`); until then `get` says what it cannot know. A corrupt
 * one is ignored, never trusted: it is derived data, and the next write replaces it. An unsafe one
 * (a symlink, another user's, writable by others, in an unsafe home) is refused with its fix.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { isStoredPolicy, type StoredPolicy } from '../domain/policy.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'
import { withLock } from '../runtime/lock.ts'
import { KeyrackUnsafePathError } from '../domain/errors.ts'
import { readHomeFile } from '../runtime/home.ts'

export interface InventoryEntry {
  vault: string
  mech: string
  /** the host manifest holds an exid for this key (so reading it needs the host manifest) */
  exid?: true
}

export interface Inventory {
  /** the entry of a slug, or undefined when the owner never set it */
  entry(slug: string): InventoryEntry | undefined
  /** the vaults the owner keeps keys in (doctor: a vault that cannot work here matters when it is used) */
  vaults: ReadonlySet<string>
  /** the host manifest's agent policy, as last written (absent: the defaults) */
  policy?: StoredPolicy
}

interface InventoryFile {
  version: 1
  keys: Record<string, InventoryEntry>
  policy?: StoredPolicy
}

const MAX_BYTES = 4 * 1024 * 1024

/** Bun's native SHA-256, when this runs on Bun (no module to load): cold, noble's JS sha256 cost unlock ~4 ms of CPU for 10 keys */
const NativeHasher = (globalThis as { Bun?: { CryptoHasher: new (algorithm: 'sha256') => { update(data: string): { digest(encoding: 'hex'): string } } } }).Bun?.CryptoHasher

/** sha256(slug), hex: the os.secure file name and the inventory key (Bun's hasher or noble — never node:crypto, which is slow to load) */
export const slugHash = (slug: string): string =>
  NativeHasher ? new NativeHasher('sha256').update(slug).digest('hex') : bytesToHex(sha256(utf8ToBytes(slug)))

/** the owner's inventory, or null when there is none (or it cannot be trusted) */
export function readInventory(ctx: Context): Inventory | null {
  let bytes: Buffer | null
  try {
    // the home and the file are checked like every file of the home (runtime/home.ts)
    bytes = readHomeFile(ctx.home, paths.inventory(ctx), MAX_BYTES)
  } catch (error) {
    // an unsafe home or inventory is refused with its fix, as for every other file there
    if (error instanceof KeyrackUnsafePathError) throw error
    return null
  }
  if (bytes === null) return null
  let data: unknown
  try {
    data = JSON.parse(bytes.toString('utf8'))
  } catch {
    return null
  }
  if (!isInventoryFile(data)) return null
  const keys = data.keys
  return {
    entry: (slug) => {
      const hash = slugHash(slug)
      return Object.hasOwn(keys, hash) ? keys[hash] : undefined
    },
    vaults: new Set(Object.values(keys).map((entry) => entry.vault)),
    ...(data.policy ? { policy: data.policy } : {}),
  }
}

/** rewrites the inventory from the host manifest's keys; the caller holds the owner lock */
export function writeInventory(ctx: Context, keys: Record<string, { vault: string; mech: string; exid: string | null }>, policy?: StoredPolicy): void {
  const file: InventoryFile = { version: 1, keys: {}, ...(policy && Object.keys(policy).length > 0 ? { policy } : {}) }
  for (const [slug, entry] of Object.entries(keys).sort(([a], [b]) => a.localeCompare(b)))
    file.keys[slugHash(slug)] = { vault: entry.vault, mech: entry.mech, ...(entry.exid !== null ? { exid: true as const } : {}) }
  writeFileAtomic(paths.inventory(ctx), `${JSON.stringify(file)}\n`)
}

/**
 * Writes the inventory when the owner has none yet (keys set by an older keyrack). `read`
 * reads the host manifest afresh: it runs under the owner lock, so no concurrent `set` is lost.
 */
export async function ensureInventory(ctx: Context, read: () => Promise<{ keys: Record<string, { vault: string; mech: string; exid: string | null }>; policy?: StoredPolicy }>): Promise<void> {
  if (existsSync(paths.inventory(ctx))) return
  await withLock(paths.lock(ctx), async () => {
    if (existsSync(paths.inventory(ctx))) return
    const manifest = await read()
    writeInventory(ctx, manifest.keys, manifest.policy)
  })
}

function isInventoryFile(data: unknown): data is InventoryFile {
  if (!data || typeof data !== 'object') return false
  const { version, keys } = data as Partial<InventoryFile>
  if (version !== 1 || !keys || typeof keys !== 'object' || Array.isArray(keys)) return false
  const { policy } = data as Partial<InventoryFile>
  if (policy !== undefined && !isStoredPolicy(policy)) return false
  return Object.values(keys).every((e) => e && typeof e === 'object' && typeof e.vault === 'string' && typeof e.mech === 'string')
}
