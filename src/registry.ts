/**
 * A lazy registry: id → loader, the shape both the vault and the mech registries share. Each
 * loader is an `import()`, so an adapter is loaded only when something asks for it (and the
 * runtime caches the module: loading twice costs nothing). The table has a null prototype, so no
 * inherited name ('constructor', 'toString') passes as an id.
 */
export interface Registry<T, Id extends string = string> {
  /** every id this registry can load, in the order they are offered */
  readonly ids: readonly Id[]
  /** @throws the registry's "unknown id" error (a KeyrackUsageError naming the known ids) */
  load(id: string): Promise<T>
  loadAll(): Promise<T[]>
}

export function lazyRegistry<T, Id extends string>(
  loaders: Partial<Record<Id, () => Promise<T>>>,
  unknown: (id: string, ids: readonly Id[]) => Error,
  /** other names an id answers to (not offered in `ids`; what is recorded is the id) */
  aliases: Readonly<Record<string, Id>> = {},
): Registry<T, Id> {
  const table: Partial<Record<string, () => Promise<T>>> = Object.assign(Object.create(null), loaders)
  const ids = Object.keys(table) as Id[]
  const load = (id: string): Promise<T> => {
    const loader = table[id] ?? (Object.hasOwn(aliases, id) ? table[aliases[id]!] : undefined)
    return loader ? loader() : Promise.reject(unknown(id, ids))
  }
  return { ids, load, loadAll: () => Promise.all(ids.map(load)) }
}
