/**
 * An in-memory vault with its own lock, for tests of the adapter layer (never exported from src/):
 * it counts how often it is unlocked and read, so "each vault is opened once" and "a batch vault is
 * read in one call" can be asserted. Register it next to the built-ins with
 * `vaultRegistry({ ...BUILTIN, 'test.memory': async () => vault })` and pass that as `vaults`.
 */
import { KeyrackKeyLockedError, KeyrackVaultError } from '../../src/domain/errors.ts'
import type { BatchVault, LockableVault, Vault } from '../../src/vaults/vault.ts'

export interface MemoryVault extends LockableVault, BatchVault {
  readonly items: Map<string, string>
  readonly counts: { unlock: number; get: number; getMany: number }
}

export function memoryVault(id = 'test.memory'): MemoryVault {
  const items = new Map<string, string>()
  const counts = { unlock: 0, get: 0, getMany: 0 }
  let open = false
  const mustBeOpen = () => {
    if (!open) throw new KeyrackKeyLockedError(`${id} is locked`, [])
  }
  return {
    id,
    protection: 'encrypted',
    description: 'an in-memory test vault with its own lock',
    stores: ['secret'],
    items,
    counts,
    where: () => 'memory',
    async isAvailable() {
      return { available: true }
    },
    async unlock() {
      counts.unlock++
      open = true
    },
    /** a new process would find it locked again */
    async relock() {
      open = false
    },
    async set(_session, { slug, secret }) {
      mustBeOpen()
      items.set(slug, secret!)
      return { exid: null }
    },
    async get(_session, { slug }) {
      mustBeOpen()
      counts.get++
      return items.get(slug) ?? null
    },
    async getMany(_session, refs) {
      mustBeOpen()
      counts.getMany++
      return new Map(refs.map((r) => [r.slug, items.get(r.slug) ?? null]))
    },
    async del(_session, { slug }) {
      items.delete(slug)
    },
  }
}

export interface ReferenceVault extends Vault {
  /** the backend's items: reference → secret (what `op read` would answer) */
  readonly items: Map<string, string>
}

/** a vault that stores only pointers (`stores: ['exid']`), resolved at get like `op read <ref>` */
export function referenceVault(id = 'test.ref'): ReferenceVault {
  const items = new Map<string, string>()
  return {
    id,
    protection: 'encrypted',
    description: 'an in-memory test vault that holds references only',
    stores: ['exid'],
    items,
    where: () => 'the test backend',
    async isAvailable() {
      return { available: true }
    },
    async set(_session, { exid }) {
      if (!exid) throw new KeyrackVaultError(`${id} stores references only`, [])
      return { exid }
    },
    async get(_session, { exid }) {
      return exid === null ? null : (items.get(exid) ?? null)
    },
    async del() {
      // the item belongs to the backend; keyrack only forgets the pointer
    },
  }
}
