/**
 * An in-memory vault with its own lock, for tests of the adapter layer (never exported from src/):
 * it counts how often it is unlocked and read, so "each vault is opened once" and "a batch vault is
 * read in one call" can be asserted. Register it next to the built-ins with
 * `vaultRegistry({ ...BUILTIN, 'test.memory': async () => vault })` and pass that as `vaults`.
 */
import { KeyrackKeyLockedError } from '../../src/domain/errors.ts'
import type { BatchVault, LockableVault } from '../../src/vaults/vault.ts'

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
