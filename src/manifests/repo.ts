/**
 * The repo manifest `.agent/keyrack.yml`: the repo's allowlist of keys per env (SPEC §5).
 * Read unchanged from repos that already use rhachet's keyrack.
 *
 * Validation walks the YAML tree so that every error names file:line:column; messages describe
 * what is wrong and show a corrected example, but never echo a line's content (a pasted secret
 * could be in it).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import * as v from 'valibot'
import type { LineCounter, Node, Pair } from 'yaml'
import type * as YamlModule from 'yaml'
import { KeyrackManifestInvalidError } from '../domain/errors.ts'
import { DURATIONS, PROTECTIONS, type Duration, type Protection } from '../domain/grade.ts'
import { ENV_ALL, ENV_PATTERN, KEY_PATTERN, ORG_PATTERN, toSlug } from '../domain/names.ts'
import { MECH_IDS } from '../mechs/index.ts'

export interface RepoKeySpec {
  key: string
  /** the mech the key must come from */
  mech?: string
  /** the minimum grade a grant must have */
  grade?: { protection?: Protection; duration?: Duration }
  /** not required when this other key is present */
  isOptionalIfHas?: string
  /** `long-lived`: an explicit, reviewed exception to the firewall (needs reason) */
  allow?: 'long-lived'
  reason?: string
}

export interface RepoManifest {
  /** the root manifest's path */
  file: string
  org: string
  /** env name → its keys (env `all` included as its own entry) */
  envs: Map<string, RepoKeySpec[]>
}

export interface AllowlistedKey {
  key: string
  /** the env the key is requested for */
  env: string
  /** slugs to look up, in order: org.<env>.KEY then org.all.KEY */
  slugs: string[]
  spec: RepoKeySpec
}

const EXAMPLE = [
  'org: ehmpathy',
  'env.all:',
  '  - XAI_API_KEY',
  'env.test:',
  '  - AWS_PROFILE: ephemeral',
  '  - key: GITHUB_TOKEN',
  '    mech: EPHEMERAL_VIA_GITHUB_APP',
].join('\n')

const exampleHint = (example: string): string => `for example:\n${example.replace(/^/gm, '    ')}`

class Problems {
  readonly list: { line: number; column: number; message: string; example?: string }[] = []
  constructor(
    readonly file: string,
    readonly lineCounter: LineCounter,
  ) {}
  at(node: Node | Pair | null | undefined, message: string, example?: string): void {
    const offset = node && 'range' in node && node.range ? node.range[0] : (node as Pair | undefined)?.key && ((node as Pair).key as Node).range?.[0]
    const pos = this.lineCounter.linePos(typeof offset === 'number' ? offset : 0)
    this.list.push({ line: pos.line, column: pos.col, message, example })
  }
}

const EntryObjectSchema = v.strictObject({
  key: v.pipe(v.string(), v.regex(KEY_PATTERN)),
  mech: v.optional(v.picklist(MECH_IDS)),
  grade: v.optional(v.string()),
  'is-optional-if-has': v.optional(v.pipe(v.string(), v.regex(KEY_PATTERN))),
  allow: v.optional(v.literal('long-lived')),
  reason: v.optional(v.pipe(v.string(), v.minLength(1))),
})

function parseGrade(text: string): RepoKeySpec['grade'] | null {
  const grade: NonNullable<RepoKeySpec['grade']> = {}
  for (const word of text.split(',').map((w) => w.trim())) {
    if ((PROTECTIONS as readonly string[]).includes(word) && !grade.protection) grade.protection = word as Protection
    else if ((DURATIONS as readonly string[]).includes(word) && !grade.duration) grade.duration = word as Duration
    else return null
  }
  return grade
}

const GRADE_HELP = `a grade is one or two of ${PROTECTIONS.join(' | ')} and ${DURATIONS.join(' | ')}, e.g. "encrypted,ephemeral"`

function parseEntry(item: unknown, problems: Problems, env: string): RepoKeySpec | null {
  const node = item as Node
  // bare name: `- XAI_API_KEY`
  if (isScalar(node)) {
    if (typeof node.value === 'string' && KEY_PATTERN.test(node.value)) return { key: node.value }
    problems.at(node, `env.${env}: an entry is not a valid key name (keys match ${KEY_PATTERN.source})`, `env.${env}:\n  - XAI_API_KEY`)
    return null
  }
  if (!isMap(node)) {
    problems.at(node, `env.${env}: an entry must be a key name, \`KEY: grade\` or an object with \`key:\``, `env.${env}:\n  - XAI_API_KEY`)
    return null
  }
  const hasKeyField = node.items.some((pair) => isScalar(pair.key) && pair.key.value === 'key')
  // grade shorthand: `- AWS_PROFILE: ephemeral`
  if (!hasKeyField && node.items.length === 1) {
    const pair = node.items[0]!
    const name = isScalar(pair.key) ? pair.key.value : null
    if (typeof name !== 'string' || !KEY_PATTERN.test(name)) {
      problems.at(pair.key as Node, `env.${env}: an entry's name is not a valid key name (keys match ${KEY_PATTERN.source})`, `env.${env}:\n  - AWS_PROFILE: ephemeral`)
      return null
    }
    if (pair.value === null || (isScalar(pair.value) && pair.value.value === null)) return { key: name }
    const gradeText = isScalar(pair.value) ? pair.value.value : null
    const grade = typeof gradeText === 'string' ? parseGrade(gradeText) : null
    if (!grade) {
      problems.at(pair.value as Node, `env.${env}: the grade of ${name} is invalid: ${GRADE_HELP}`, `env.${env}:\n  - ${name}: encrypted,ephemeral`)
      return null
    }
    return { key: name, grade }
  }
  // object form
  const data = node.toJSON() as unknown
  const result = v.safeParse(EntryObjectSchema, data)
  if (!result.success) {
    const issue = result.issues[0]!
    const field = issue.path?.[0]?.key
    const fieldNode = typeof field === 'string' ? (node.get(field, true) as Node | undefined) ?? node : node
    const keyNode = typeof field === 'string' ? node.items.find((p) => isScalar(p.key) && p.key.value === field)?.key : undefined
    let message: string
    if (issue.type === 'strict_object' || (typeof field === 'string' && !(field in EntryObjectSchema.entries)))
      message = `env.${env}: unknown field in a key entry (fields are key, mech, grade, is-optional-if-has, allow, reason)`
    else if (field === 'mech') message = `env.${env}: unknown mech (mechs are ${MECH_IDS.join(', ')})`
    else if (field === 'key') message = `env.${env}: \`key\` must be a key name matching ${KEY_PATTERN.source}`
    else if (field === 'is-optional-if-has') message = `env.${env}: \`is-optional-if-has\` must be a key name`
    else if (field === 'allow') message = `env.${env}: \`allow\` may only be "long-lived"`
    else message = `env.${env}: invalid \`${String(field)}\` in a key entry`
    problems.at((keyNode as Node | undefined) ?? fieldNode, message, `env.${env}:\n  - key: AWS_PROFILE\n    mech: EPHEMERAL_VIA_AWS_SSO\n    grade: ephemeral`)
    return null
  }
  const entry = result.output
  const spec = specOf(entry)
  if (spec === 'bad-grade')
    problems.at(node.get('grade', true) as Node, `env.${env}: the grade of ${entry.key} is invalid: ${GRADE_HELP}`, `  - key: ${entry.key}\n    grade: encrypted,ephemeral`)
  else if (spec === 'allow-without-reason')
    problems.at(node.get('allow', true) as Node, `env.${env}: \`allow: long-lived\` on ${entry.key} needs a \`reason:\` a reviewer can read`, `  - key: ${entry.key}\n    allow: long-lived\n    reason: vendor offers no short-lived tokens`)
  else return spec
  return null
}

/** a schema-valid object entry as a spec, or what is still wrong with it (both parse paths use this) */
function specOf(entry: v.InferOutput<typeof EntryObjectSchema>): RepoKeySpec | 'bad-grade' | 'allow-without-reason' {
  const spec: RepoKeySpec = { key: entry.key }
  if (entry.mech) spec.mech = entry.mech
  if (entry['is-optional-if-has']) spec.isOptionalIfHas = entry['is-optional-if-has']
  if (entry.grade !== undefined) {
    const grade = parseGrade(entry.grade)
    if (!grade) return 'bad-grade'
    spec.grade = grade
  }
  if (entry.allow && !entry.reason) return 'allow-without-reason'
  if (entry.allow) spec.allow = entry.allow
  if (entry.reason) spec.reason = entry.reason
  return spec
}

interface ParsedFile {
  org?: string
  extends: { path: string; node: Node; line: number; column: number }[]
  envs: Map<string, RepoKeySpec[]>
  /** where each env section starts, for errors found after parsing */
  envPos: Map<string, { line: number; column: number }>
}

/**
 * The yaml package (the full CST with positions) is loaded only on the slow path: it is the
 * largest module `get` would otherwise load on every run.
 */
let yamlModule: typeof YamlModule | undefined
function yaml(): typeof YamlModule {
  // Bun has require in ESM, and only a literal require('yaml') is bundled into the binary;
  // Node (an SDK user) gets a require from createRequire
  yamlModule ??= (typeof require === 'function' ? require('yaml') : createRequire(import.meta.url)('yaml')) as typeof YamlModule
  return yamlModule
}
const isMap = ((n: unknown) => yaml().isMap(n)) as typeof YamlModule.isMap
const isScalar = ((n: unknown) => yaml().isScalar(n)) as typeof YamlModule.isScalar
const isSeq = ((n: unknown) => yaml().isSeq(n)) as typeof YamlModule.isSeq

function parseFile(file: string, text: string, label: string): ParsedFile {
  const { LineCounter, parseDocument } = yaml()
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
  const problems = new Problems(label, lineCounter)
  for (const error of doc.errors) {
    // without prettyErrors, yaml leaves linePos unset: compute it from the error's offset
    const pos = error.linePos?.[0] ?? lineCounter.linePos(error.pos?.[0] ?? 0)
    // yaml's own message can quote the source line; keep only its code
    problems.list.push({ line: pos.line, column: pos.col, message: `YAML syntax error (${error.code.toLowerCase().replaceAll('_', ' ')})`, example: EXAMPLE })
  }
  const parsed: ParsedFile = { extends: [], envs: new Map(), envPos: new Map() }
  const posOf = (node: Node): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(node.range?.[0] ?? 0)
    return { line, column: col }
  }
  if (problems.list.length === 0) {
    const root = doc.contents
    if (!isMap(root)) problems.at(root, 'the repo manifest must be a mapping with `org:` and `env.<name>:` sections', EXAMPLE)
    else {
      for (const pair of root.items) {
        const name = isScalar(pair.key) ? pair.key.value : null
        const keyNode = pair.key as Node
        if (name === 'org') {
          const org = isScalar(pair.value) ? pair.value.value : null
          if (typeof org !== 'string' || !ORG_PATTERN.test(org)) problems.at(pair.value as Node, `\`org\` must be your org's name (matching ${ORG_PATTERN.source})`, 'org: ehmpathy')
          else parsed.org = org
        } else if (name === 'extends') {
          if (!isSeq(pair.value)) problems.at(keyNode, '`extends` must be a list of paths relative to the git root', 'extends:\n  - .agent/repo=.this/role=test/keyrack.yml')
          else
            for (const item of pair.value.items) {
              if (isScalar(item) && typeof item.value === 'string' && item.value.endsWith('.yml')) parsed.extends.push({ path: item.value, node: item, ...posOf(item) })
              else problems.at(item as Node, '`extends` entries must be paths to .yml files, relative to the git root', 'extends:\n  - .agent/repo=.this/role=test/keyrack.yml')
            }
        } else if (name === 'keys') {
          problems.at(keyNode, 'a flat `keys:` map is not supported: list keys under `env.<name>:` sections', EXAMPLE)
        } else if (typeof name === 'string' && name.startsWith('env.')) {
          const env = name.slice(4)
          if (!ENV_PATTERN.test(env)) {
            problems.at(keyNode, `section \`env.<name>\` has an invalid env name (env names match ${ENV_PATTERN.source})`, 'env.prep-admin:\n  - AWS_PROFILE')
            continue
          }
          parsed.envPos.set(env, posOf(keyNode))
          const specs: RepoKeySpec[] = []
          const value = pair.value
          if (value === null || (isScalar(value) && value.value === null)) {
            parsed.envs.set(env, specs)
            continue
          }
          if (!isSeq(value)) {
            problems.at(keyNode, `\`env.${env}\` must be a list of keys`, `env.${env}:\n  - XAI_API_KEY`)
            continue
          }
          const seen = new Set<string>()
          for (const item of value.items) {
            const spec = parseEntry(item, problems, env)
            if (!spec) continue
            if (seen.has(spec.key)) {
              problems.at(item as Node, `env.${env}: ${spec.key} is listed twice`, `env.${env}:\n  - ${spec.key}`)
              continue
            }
            seen.add(spec.key)
            specs.push(spec)
          }
          parsed.envs.set(env, specs)
        } else {
          problems.at(keyNode, 'unknown top-level field (fields are org, extends and env.<name> sections)', EXAMPLE)
        }
      }
    }
  }
  if (problems.list.length > 0) throw toError(problems, file)
  return parsed
}


/**
 * The fast path: Bun's native YAML parser and plain-data checks, used only when the file is
 * certainly valid (no duplicate keys, every field as the schema wants). Anything doubtful
 * returns null and the full tree walk above, which knows line and column, decides and reports.
 */
function fastParseFile(text: string): ParsedFile | null {
  const parseYaml = (globalThis as { Bun?: { YAML?: { parse(text: string): unknown } } }).Bun?.YAML?.parse
  if (!parseYaml || hasDuplicateKeys(text)) return null
  let data: unknown
  try {
    data = parseYaml(text)
  } catch {
    return null
  }
  if (!isRecord(data)) return null
  const parsed: ParsedFile = { extends: [], envs: new Map(), envPos: new Map() }
  const unknownPos = { line: 1, column: 1 }
  for (const [name, value] of Object.entries(data)) {
    if (name === 'org') {
      if (typeof value !== 'string' || !ORG_PATTERN.test(value)) return null
      parsed.org = value
    } else if (name === 'extends') {
      if (!Array.isArray(value)) return null
      for (const item of value) {
        if (typeof item !== 'string' || !item.endsWith('.yml')) return null
        parsed.extends.push({ path: item, node: null as unknown as Node, ...unknownPos })
      }
    } else if (name.startsWith('env.') && ENV_PATTERN.test(name.slice(4))) {
      const env = name.slice(4)
      parsed.envPos.set(env, unknownPos)
      if (value === null) {
        parsed.envs.set(env, [])
        continue
      }
      if (!Array.isArray(value)) return null
      const specs: RepoKeySpec[] = []
      for (const item of value) {
        const spec = fastEntry(item)
        if (!spec || specs.some((s) => s.key === spec.key)) return null
        specs.push(spec)
      }
      parsed.envs.set(env, specs)
    } else return null
  }
  return parsed
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

function fastEntry(item: unknown): RepoKeySpec | null {
  if (typeof item === 'string') return KEY_PATTERN.test(item) ? { key: item } : null
  if (!isRecord(item)) return null
  const fields = Object.keys(item)
  if (!('key' in item)) {
    if (fields.length !== 1 || !KEY_PATTERN.test(fields[0]!)) return null
    const gradeText = item[fields[0]!]
    if (gradeText === null) return { key: fields[0]! }
    const grade = typeof gradeText === 'string' ? parseGrade(gradeText) : null
    return grade ? { key: fields[0]!, grade } : null
  }
  const result = v.safeParse(EntryObjectSchema, item)
  if (!result.success) return null
  const spec = specOf(result.output)
  return typeof spec === 'string' ? null : spec
}

/**
 * Whether any block mapping repeats a key (which Bun's parser would silently resolve as
 * last-wins). A line scanner over block-style YAML: a false alarm only sends the file down
 * the full path, so it errs towards reporting.
 */
export function hasDuplicateKeys(text: string): boolean {
  const maps: { indent: number; keys: Set<string> }[] = []
  let scalarIndent = -1 // inside a block scalar (| or >): lines indented deeper are content
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '')
    const trimmed = line.trimStart()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    let indent = line.length - trimmed.length
    if (scalarIndent >= 0 && indent > scalarIndent) continue
    scalarIndent = -1
    let rest = trimmed
    while (rest.startsWith('- ')) {
      // a list item starts a new mapping at the column of its first key
      indent += 2
      rest = rest.slice(2).trimStart()
      while (maps.length > 0 && maps[maps.length - 1]!.indent >= indent) maps.pop()
      maps.push({ indent, keys: new Set() })
    }
    const match = /^("[^"]*"|'[^']*'|[^\s:#'"{[][^:#]*?)\s*:(\s|$)/.exec(rest)
    if (!match) continue
    const key = match[1]!.replace(/^["']|["']$/g, '')
    while (maps.length > 0 && maps[maps.length - 1]!.indent > indent) maps.pop()
    let map = maps[maps.length - 1]
    if (!map || map.indent < indent) {
      map = { indent, keys: new Set() }
      maps.push(map)
    }
    if (map.keys.has(key)) return true
    map.keys.add(key)
    if (/:\s*[|>][-+0-9]*\s*(#.*)?$/.test(rest)) scalarIndent = indent
  }
  return false
}

function toError(problems: Problems, file: string): KeyrackManifestInvalidError {
  const [first, ...rest] = problems.list
  const where = (p: { line: number; column: number }) => `${problems.file}:${p.line}:${p.column}`
  const message = [`${where(first!)}: ${first!.message}`, ...rest.slice(0, 9).map((p) => `${where(p)}: ${p.message}`)].join('\n')
  const hint = first!.example ? [exampleHint(first!.example)] : []
  return new KeyrackManifestInvalidError(message, hint, file, first!.line, first!.column)
}

function readText(file: string, label: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new KeyrackManifestInvalidError(`cannot read ${label}: ${code === 'ENOENT' ? 'no such file' : code ?? 'error'}`, [
      code === 'ENOENT' ? 'create one with `keyrack init --repo`' : `check its permissions: \`ls -l ${file}\``,
    ], file)
  }
}

/** reads the repo manifest at <worksite>/.agent/keyrack.yml with its `extends`, root wins */
export function readRepoManifest(worksite: string): RepoManifest {
  try {
    return readRepoManifestWith(worksite, true)
  } catch (error) {
    // the fast path knows no positions: let the full path find and locate the problem
    if (!(error instanceof KeyrackManifestInvalidError)) throw error
    return readRepoManifestWith(worksite, false)
  }
}

function readRepoManifestWith(worksite: string, fast: boolean): RepoManifest {
  const rootFile = join(worksite, '.agent', 'keyrack.yml')
  const envs = new Map<string, RepoKeySpec[]>()
  let org: string | undefined
  let allPos: { label: string; line: number; column: number; file: string } | undefined
  const visit = (file: string, chain: string[], from?: { label: string; file: string; line: number; column: number }): void => {
    const label = relative(worksite, file) || file
    let text: string
    try {
      text = readText(file, label)
    } catch (error) {
      // a missing extended file: point at the `extends` entry that names it
      if (!from || !(error instanceof KeyrackManifestInvalidError)) throw error
      throw new KeyrackManifestInvalidError(`${from.label}:${from.line}:${from.column}: \`extends\` names ${label}, which ${error.message.replace(/^cannot read [^:]*: /, 'cannot be read: ')}`, [
        'fix the path (relative to the git root) or remove the entry',
      ], from.file, from.line, from.column)
    }
    const parsed = (fast ? fastParseFile(text) : null) ?? parseFile(file, text, label)
    const allAt = parsed.envPos.get(ENV_ALL)
    if (allAt && !allPos) allPos = { label, file, ...allAt }
    if (chain.length === 0) {
      if (!parsed.org)
        throw new KeyrackManifestInvalidError(`${label}:1:1: \`org\` is required`, [exampleHint(EXAMPLE)], file, 1, 1)
      org = parsed.org
    }
    // the including file wins: merge its keys first, then add what extended files add
    for (const [env, specs] of parsed.envs) {
      const merged = envs.get(env) ?? []
      for (const spec of specs) if (!merged.some((s) => s.key === spec.key)) merged.push(spec)
      envs.set(env, merged)
    }
    for (const ext of parsed.extends) {
      const target = join(worksite, ext.path)
      const at = `${label}:${ext.line}:${ext.column}`
      if (relative(worksite, target).startsWith('..'))
        throw new KeyrackManifestInvalidError(`${at}: \`extends\` must stay inside the git root`, ['use a path relative to the git root, e.g. `- .agent/repo=.this/role=test/keyrack.yml`'], file, ext.line, ext.column)
      if (chain.includes(target) || target === file)
        throw new KeyrackManifestInvalidError(
          `${at}: \`extends\` forms a cycle: ${[...chain, file, target].map((f) => relative(worksite, f)).join(' → ')}`,
          ['remove one of the `extends` entries in that chain'],
          file, ext.line, ext.column,
        )
      visit(target, [...chain, file], { label, file, line: ext.line, column: ext.column })
    }
  }
  visit(rootFile, [])
  const envNames = [...envs.keys()]
  if (envs.has(ENV_ALL) && envNames.every((e) => e === ENV_ALL)) {
    const at = allPos ?? { label: relative(worksite, rootFile), file: rootFile, line: 1, column: 1 }
    throw new KeyrackManifestInvalidError(`${at.label}:${at.line}:${at.column}: \`env.all\` needs at least one env-specific section`, [
      exampleHint('env.all:\n  - XAI_API_KEY\nenv.test: []'),
    ], at.file, at.line, at.column)
  }
  return { file: rootFile, org: org!, envs }
}

/** the envs a repo declares, besides `all` */
export function declaredEnvs(manifest: RepoManifest): string[] {
  return [...manifest.envs.keys()].filter((e) => e !== ENV_ALL)
}

/**
 * The allowlist for one env: its own keys plus the `all` keys. Each key is looked up as
 * org.<env>.KEY first, then org.all.KEY (fallback at lookup time, never by copying).
 */
export function allowlistFor(manifest: RepoManifest, env: string): AllowlistedKey[] {
  const own = manifest.envs.get(env) ?? []
  const shared = env === ENV_ALL ? [] : (manifest.envs.get(ENV_ALL) ?? [])
  const result: AllowlistedKey[] = []
  for (const spec of [...own, ...shared.filter((s) => !own.some((o) => o.key === s.key))]) {
    const slugs = [toSlug({ org: manifest.org, env, key: spec.key })]
    if (env !== ENV_ALL) slugs.push(toSlug({ org: manifest.org, env: ENV_ALL, key: spec.key }))
    result.push({ key: spec.key, env, slugs, spec })
  }
  return result
}
