/**
 * The shape of the code, checked: `src/domain/` imports nothing above it (it is the shared
 * vocabulary every layer may use), and no module imports itself back through others (an import
 * cycle), counting static imports and lazy `import()` alike — except the lazy loaders of the three
 * registries (commands, vaults, mechs), whose whole job is to point at modules that may use them.
 * And no vault id is spelled outside its adapter and the registry: code that needs one asks the
 * registry or a vault's capabilities (the few names hints must spell live in domain/ids.ts).
 */
import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { builtinVaults } from '../../src/vaults/index.ts'

const SRC = resolve(import.meta.dir, '..', '..', 'src')
const REGISTRIES = ['cli/commands/index.ts', 'vaults/index.ts', 'mechs/index.ts']

const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith('.ts'))
  .map((d) => join(d.parentPath, d.name))

interface Edge {
  to: string
  lazy: boolean
  typeOnly: boolean
}

/** every relative import of a file, resolved; bare specifiers (packages, node:) are not edges */
function importsOf(file: string): { edges: Edge[]; bare: string[] } {
  const text = readFileSync(file, 'utf8')
  const edges: Edge[] = []
  const bare: string[] = []
  const add = (spec: string, lazy: boolean, typeOnly: boolean) => {
    if (spec.startsWith('.')) edges.push({ to: resolve(dirname(file), spec), lazy, typeOnly })
    else bare.push(spec)
  }
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?\sfrom\s+'([^']+)'/gm)) add(m[3]!, false, Boolean(m[2]))
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) add(m[1]!, false, false)
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) add(m[1]!, true, false)
  return { edges, bare }
}

const graph = new Map(files.map((f) => [f, importsOf(f)]))
const rel = (f: string) => relative(SRC, f)

test('src/domain imports only src/domain (and no package but node: built-ins)', () => {
  const outside: string[] = []
  for (const [file, { edges, bare }] of graph) {
    if (!rel(file).startsWith('domain/')) continue
    for (const e of edges) if (!rel(e.to).startsWith('domain/')) outside.push(`${rel(file)} → ${rel(e.to)}`)
    for (const b of bare) if (!b.startsWith('node:')) outside.push(`${rel(file)} → ${b}`)
  }
  expect(outside).toEqual([])
})

test('no import cycles (static and lazy imports; type-only imports and registry loaders excepted)', () => {
  const next = (file: string): string[] =>
    (graph.get(file)?.edges ?? []).filter((e) => !e.typeOnly && !(e.lazy && REGISTRIES.includes(rel(file)))).map((e) => e.to)
  const cycles: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: string[] = []
  const visit = (file: string) => {
    state.set(file, 'visiting')
    stack.push(file)
    for (const to of next(file)) {
      if (state.get(to) === 'visiting') cycles.push([...stack.slice(stack.indexOf(to)), to].map(rel).join(' → '))
      else if (!state.has(to) && graph.has(to)) visit(to)
    }
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file)
  expect(cycles).toEqual([])
})

/** SPEC §7's vaults this build may not register yet, and the alias rhachet uses for aws.config */
const SPEC_VAULTS = ['os.keychain', '1password', 'github.secrets', 'aws.iam.sso']
/** the places allowed to spell a vault id, and why */
const MAY_NAME_VAULTS: { file: RegExp; id?: string; why: string }[] = [
  { file: /^vaults\//, why: 'the adapters and the registry' },
  { file: /^domain\/ids\.ts$/, why: 'the names hints must spell (the suggested vault, where a mech keeps its source)' },
  { file: /^import\/rhachet(-paths)?\.ts$/, why: "rhachet's own on-disk layout and host manifest, read as rhachet wrote them" },
  { file: /^testing\/index\.ts$/, why: 'the testing kit offers exactly the two vaults that need no tool or daemon' },
  { file: /^domain\/firewall\/rules\.ts$/, id: '1password', why: "a token's provider, not the vault" },
]

test('no vault id is spelled outside its adapter, the registry and the allowed places', () => {
  const ids = [...new Set([...builtinVaults.ids, ...SPEC_VAULTS])]
  const literal = new RegExp(`(['"\`])(${ids.map((id) => id.replaceAll('.', '\\.')).join('|')})\\1`, 'g')
  const found: string[] = []
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n')
    lines.forEach((line, i) => {
      if (/^\s*(\*|\/\/)/.test(line)) return
      for (const m of line.matchAll(literal)) {
        const id = m[2]!
        if (!MAY_NAME_VAULTS.some((a) => a.file.test(rel(file)) && (a.id === undefined || a.id === id))) found.push(`${rel(file)}:${i + 1}: ${id}`)
      }
    })
  }
  expect(found).toEqual([])
})
