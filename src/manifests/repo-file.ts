/**
 * One repo manifest file's text → its org, `extends` entries and `env.<name>` sections, or an
 * error naming file:line:column (SPEC §5). `extends` resolution and the allowlist are in repo.ts.
 *
 * Two parsers, one verdict. The fast path (Bun's native YAML) takes only files in a plain subset
 * of YAML whose every mapping key it can count from the text, and only when the parsed data holds
 * exactly that many keys — so a duplicate key, which Bun resolves silently (last wins), can never
 * pass it. Anything else (quoted or escaped keys, flow maps, `? key` entries, anchors, merge keys,
 * unknown fields, any doubt) goes to the full path: the `yaml` package's tree with positions, which
 * alone decides and reports. Messages describe what is wrong and show a corrected example, but
 * never echo a line's content (a pasted secret could be in it).
 */
import { createRequire } from 'node:module'
import type * as Valibot from 'valibot'
import type { LineCounter, Node, Pair } from 'yaml'
import type * as YamlModule from 'yaml'
import { KeyrackManifestInvalidError } from '../domain/errors.ts'
import { DURATIONS, PROTECTIONS, type Duration, type Protection } from '../domain/grade.ts'
import { ENV_PATTERN, ENV_SUDO, KEY_PATTERN, ORG_PATTERN } from '../domain/names.ts'
import { MECH_IDS } from '../domain/ids.ts'

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
  /**
   * `with-credentials: true`: hand out the credentials the key's mech mints beside it (an AWS SSO
   * profile's role credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
   */
  withCredentials?: boolean
  /** `role-arn`: the IAM role EPHEMERAL_VIA_GITHUB_OIDC assumes in CI */
  roleArn?: string
  /**
   * GitHub App keys: narrow each minted token to these repositories (names under the
   * installation's owner), like actions/create-github-app-token's `repositories` input
   */
  repositories?: string[]
  /** GitHub App keys: narrow each minted token to these permissions (`permission-<name>: read|write|admin`) */
  permissions?: Record<string, GithubPermissionLevel>
}

export type GithubPermissionLevel = 'read' | 'write' | 'admin'

export interface Position {
  line: number
  column: number
}

export interface ParsedFile {
  org?: string
  extends: ({ path: string } & Position)[]
  /** env name → its keys, in file order (`all` included as its own entry) */
  envs: Map<string, RepoKeySpec[]>
  /** where each env section starts, for errors found after parsing */
  envPos: Map<string, Position>
  /** what was ignored, as `file:line:column: …` (never a line's content) */
  warnings: string[]
}

export const EXAMPLE = [
  'org: ehmpathy',
  'env.all:',
  '  - XAI_API_KEY',
  'env.test:',
  '  - AWS_PROFILE: ephemeral',
  '  - key: GITHUB_TOKEN',
  '    mech: EPHEMERAL_VIA_GITHUB_APP',
].join('\n')

export const exampleHint = (example: string): string => `for example:\n${example.replace(/^/gm, '    ')}`

const ENTRY_FIELDS = ['key', 'mech', 'grade', 'is-optional-if-has', 'allow', 'reason', 'with-credentials', 'role-arn', 'repositories', 'permission-<name>'] as const

/** a repository name as GitHub allows it (the owner is the installation's) */
const REPOSITORY_NAME = /^[A-Za-z0-9_.-]{1,100}$/
/**
 * `permission-<name>` fields (actions/create-github-app-token's spelling): the name in kebab case,
 * sent to GitHub in snake case (`permission-pull-requests` → `pull_requests`)
 */
const PERMISSION_FIELD = /^permission-([a-z][a-z0-9]*(?:-[a-z0-9]+)*)$/
const PERMISSION_LEVELS: readonly GithubPermissionLevel[] = ['read', 'write', 'admin']
const isEntryField = (name: unknown): boolean => typeof name === 'string' && ((ENTRY_FIELDS as readonly string[]).includes(name) || PERMISSION_FIELD.test(name))

/**
 * Splits an entry's `permission-<name>` fields from the rest (which the schema checks); null
 * when a level is not read, write or admin, with the field that is wrong
 */
function splitPermissions(entry: Record<string, unknown>): { rest: Record<string, unknown>; permissions?: Record<string, GithubPermissionLevel> } | { bad: string } {
  const rest: Record<string, unknown> = {}
  let permissions: Record<string, GithubPermissionLevel> | undefined
  for (const [field, value] of Object.entries(entry)) {
    const name = PERMISSION_FIELD.exec(field)?.[1]
    if (name === undefined) rest[field] = value
    else if (typeof value === 'string' && (PERMISSION_LEVELS as readonly string[]).includes(value)) (permissions ??= {})[name.replaceAll('-', '_')] = value as GithubPermissionLevel
    else return { bad: field }
  }
  return permissions ? { rest, permissions } : { rest }
}

/** an IAM role ARN (any partition): what AssumeRoleWithWebIdentity takes */
export const ROLE_ARN_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/
/** the one mech that reads `role-arn` */
const OIDC_MECH = 'EPHEMERAL_VIA_GITHUB_OIDC'

function entrySchemas(v: typeof Valibot) {
  const entryFields = {
    key: v.pipe(v.string(), v.regex(KEY_PATTERN)),
    mech: v.optional(v.picklist(MECH_IDS)),
    grade: v.optional(v.string()),
    'is-optional-if-has': v.optional(v.pipe(v.string(), v.regex(KEY_PATTERN))),
    allow: v.optional(v.literal('long-lived')),
    reason: v.optional(v.pipe(v.string(), v.minLength(1))),
    'with-credentials': v.optional(v.boolean()),
    'role-arn': v.optional(v.pipe(v.string(), v.regex(ROLE_ARN_PATTERN))),
    repositories: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(REPOSITORY_NAME))), v.minLength(1), v.maxLength(500))),
  }
  return {
    /** unknown fields are ignored (rhachet ignores them), with a warning from the full path */
    EntryObjectSchema: v.object(entryFields),
    /** the fast path takes only entries without unknown fields: the warning needs a line number */
    StrictEntryObjectSchema: v.strictObject(entryFields),
  }
}
type EntrySchemas = ReturnType<typeof entrySchemas>

/**
 * valibot and the entry schemas, built on the first object entry (`- key: …`): a manifest of plain
 * key names — the usual one — is read without them, and `get` starts ~1 ms faster. Loaded like
 * the yaml package below.
 */
let schemas: (EntrySchemas & { v: typeof Valibot }) | undefined
function entryValidation(): EntrySchemas & { v: typeof Valibot } {
  if (schemas) return schemas
  const v = (typeof require === 'function' ? require('valibot') : createRequire(import.meta.url)('valibot')) as typeof Valibot
  schemas = { v, ...entrySchemas(v) }
  return schemas
}

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

/** `sudo` keys are got by explicit `--key` only (SPEC §5): a repo manifest never lists them */
const isSudo = (env: string): boolean => env.toLowerCase() === ENV_SUDO

/** a schema-valid object entry as a spec, or what is still wrong with it (both parse paths use this) */
function specOf(entry: Valibot.InferOutput<EntrySchemas['EntryObjectSchema']>, permissions?: Record<string, GithubPermissionLevel>): RepoKeySpec | 'bad-grade' | 'allow-without-reason' | 'oidc-without-role' | 'role-without-oidc' {
  const spec: RepoKeySpec = { key: entry.key }
  if (entry.repositories) spec.repositories = [...entry.repositories]
  if (permissions) spec.permissions = permissions
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
  if (entry.mech === OIDC_MECH && (!entry['role-arn'] || entry.key !== 'AWS_ACCESS_KEY_ID')) return 'oidc-without-role'
  if (entry['role-arn'] && entry.mech !== OIDC_MECH) return 'role-without-oidc'
  if (entry['role-arn']) spec.roleArn = entry['role-arn']
  if (entry['with-credentials']) spec.withCredentials = true
  return spec
}

// ---------------------------------------------------------------------------------------------
// the full path: the yaml package's tree, with positions

/**
 * The yaml package (the full CST with positions) is loaded only on the full path: it is the
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

class Problems {
  readonly list: ({ message: string; example?: string } & Position)[] = []
  readonly warnings: string[] = []
  constructor(
    /** the file as messages name it (relative to the git root, control characters escaped) */
    readonly label: string,
    readonly lineCounter: LineCounter,
  ) {}
  private pos(node: Node | Pair | null | undefined): Position {
    const offset = node && 'range' in node && node.range ? node.range[0] : (node as Pair | undefined)?.key && ((node as Pair).key as Node).range?.[0]
    const pos = this.lineCounter.linePos(typeof offset === 'number' ? offset : 0)
    return { line: pos.line, column: pos.col }
  }
  at(node: Node | Pair | null | undefined, message: string, example?: string): void {
    this.list.push({ ...this.pos(node), message, example })
  }
  warn(node: Node | Pair | null | undefined, message: string): void {
    const { line, column } = this.pos(node)
    this.warnings.push(`${this.label}:${line}:${column}: ${message}`)
  }
}

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
  // object form; a field keyrack does not know is ignored, as rhachet ignores it
  const EXAMPLE_ENTRY = `env.${env}:\n  - key: AWS_PROFILE\n    mech: EPHEMERAL_VIA_AWS_SSO\n    grade: ephemeral`
  if (!hasKeyField) {
    problems.at(node, `env.${env}: an entry with several fields needs \`key:\` (fields are ${ENTRY_FIELDS.join(', ')})`, EXAMPLE_ENTRY)
    return null
  }
  for (const pair of node.items)
    if (!isEntryField((pair.key as { value?: unknown }).value))
      problems.warn(pair.key as Node, `env.${env}: unknown field in a key entry, ignored (fields are ${ENTRY_FIELDS.join(', ')})`)
  const split = splitPermissions(node.toJSON() as Record<string, unknown>)
  if ('bad' in split) {
    const field = node.items.find((p) => isScalar(p.key) && p.key.value === split.bad)
    problems.at((field?.value ?? field?.key ?? node) as Node, `env.${env}: \`${split.bad}\` must be one of ${PERMISSION_LEVELS.join(', ')}`, `  - key: GITHUB_TOKEN\n    mech: EPHEMERAL_VIA_GITHUB_APP\n    permission-contents: read`)
    return null
  }
  const { v, EntryObjectSchema } = entryValidation()
  const result = v.safeParse(EntryObjectSchema, split.rest)
  if (!result.success) {
    const issue = result.issues[0]!
    const field = issue.path?.[0]?.key
    const keyNode = typeof field === 'string' ? node.items.find((p) => isScalar(p.key) && p.key.value === field)?.key : undefined
    let message: string
    if (field === 'mech') message = `env.${env}: unknown mech (mechs are ${MECH_IDS.join(', ')})`
    else if (field === 'key') message = `env.${env}: \`key\` must be a key name matching ${KEY_PATTERN.source}`
    else if (field === 'is-optional-if-has') message = `env.${env}: \`is-optional-if-has\` must be a key name`
    else if (field === 'allow') message = `env.${env}: \`allow\` may only be "long-lived"`
    else if (field === 'with-credentials') message = `env.${env}: \`with-credentials\` is true or false`
    else if (field === 'role-arn') message = `env.${env}: \`role-arn\` must be an IAM role ARN, e.g. arn:aws:iam::123456789012:role/ci`
    else if (field === 'repositories') message = `env.${env}: \`repositories\` must be a list of repository names (matching ${REPOSITORY_NAME.source}), without the owner`
    else message = `env.${env}: invalid \`${String(field)}\` in a key entry`
    problems.at((keyNode as Node | undefined) ?? node, message, EXAMPLE_ENTRY)
    return null
  }
  const entry = result.output
  const spec = specOf(entry, split.permissions)
  if (spec === 'bad-grade')
    problems.at(node.get('grade', true) as Node, `env.${env}: the grade of ${entry.key} is invalid: ${GRADE_HELP}`, `  - key: ${entry.key}\n    grade: encrypted,ephemeral`)
  else if (spec === 'allow-without-reason')
    problems.at(node.get('allow', true) as Node, `env.${env}: \`allow: long-lived\` on ${entry.key} needs a \`reason:\` a reviewer can read`, `  - key: ${entry.key}\n    allow: long-lived\n    reason: vendor offers no short-lived tokens`)
  else if (spec === 'oidc-without-role')
    problems.at(node.get('mech', true) as Node, `env.${env}: ${OIDC_MECH} grants AWS_ACCESS_KEY_ID (with AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN) and needs the \`role-arn:\` of the IAM role to assume`, `  - key: AWS_ACCESS_KEY_ID\n    mech: ${OIDC_MECH}\n    role-arn: arn:aws:iam::123456789012:role/ci`)
  else if (spec === 'role-without-oidc')
    problems.at(node.get('role-arn', true) as Node, `env.${env}: \`role-arn\` on ${entry.key} is read only by \`mech: ${OIDC_MECH}\``, `  - key: ${entry.key}\n    mech: ${OIDC_MECH}\n    role-arn: arn:aws:iam::123456789012:role/ci`)
  else return spec
  return null
}

/**
 * Every mapping key, in every spelling, is a plain name that appears once per mapping: the yaml
 * package already refuses keys that are equal as YAML values (`"env.t\u0065st"` = `env.test`,
 * flow maps, `? key`); this also refuses keys that are equal only once turned into text (`1` and
 * `"1"`), complex keys, and YAML 1.1 merge keys (`<<`), which Bun's parser would expand into
 * keys a reviewer never sees written out.
 */
function checkMappingKeys(doc: YamlModule.Document, problems: Problems): void {
  yaml().visit(doc, {
    Map(_, map) {
      const seen = new Set<string>()
      for (const pair of map.items) {
        const key = pair.key
        if (!isScalar(key)) {
          problems.at(map, 'a mapping key must be a plain name, not a list or a map', EXAMPLE)
          continue
        }
        const name = String(key.value)
        if (name === '<<') problems.at(key, 'YAML merge keys (`<<`) are not supported: write each key out, so a reviewer sees exactly what is allowlisted', EXAMPLE)
        else if (seen.has(name)) problems.at(key, DUPLICATE_MESSAGE, EXAMPLE)
        seen.add(name)
      }
    },
  })
}

const DUPLICATE_MESSAGE = 'a mapping repeats a key (in any spelling: quoted, escaped, in a flow `{…}` or as `? key`); keyrack refuses duplicates instead of picking one'

/** the full path: every problem with its position, and the warnings for what was ignored */
export function parseFileFull(text: string, label: string, file: string): ParsedFile {
  const { LineCounter, parseDocument } = yaml()
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
  const problems = new Problems(label, lineCounter)
  for (const error of doc.errors) {
    // without prettyErrors, yaml leaves linePos unset: compute it from the error's offset
    const pos = error.linePos?.[0] ?? lineCounter.linePos(error.pos?.[0] ?? 0)
    // yaml's own message can quote the source line; keep only its code
    const message = error.code === 'DUPLICATE_KEY' ? DUPLICATE_MESSAGE : `YAML syntax error (${error.code.toLowerCase().replaceAll('_', ' ')})`
    problems.list.push({ line: pos.line, column: pos.col, message, example: EXAMPLE })
  }
  if (problems.list.length === 0) checkMappingKeys(doc, problems)
  const parsed: ParsedFile = { extends: [], envs: new Map(), envPos: new Map(), warnings: problems.warnings }
  const posOf = (node: Node): Position => {
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
              if (isScalar(item) && typeof item.value === 'string' && item.value.endsWith('.yml')) parsed.extends.push({ path: item.value, ...posOf(item) })
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
          if (isSudo(env)) {
            problems.at(keyNode, '`env.sudo` cannot be in a repo manifest: sudo keys are never allowlisted by a repo, only got by an explicit `--key` (`keyrack get --key KEY --env sudo`)', 'env.prep:\n  - AWS_PROFILE')
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
          for (const item of value.items) {
            const spec = parseEntry(item, problems, env)
            if (!spec) continue
            if (specs.some((s) => s.key === spec.key)) {
              problems.at(item as Node, `env.${env}: ${spec.key} is listed twice`, `env.${env}:\n  - ${spec.key}`)
              continue
            }
            specs.push(spec)
          }
          parsed.envs.set(env, specs)
        } else {
          // rhachet ignores fields it does not know; so does keyrack, but says so (never echoing the name)
          problems.warn(keyNode, 'unknown top-level field, ignored (fields are org, extends and env.<name> sections)')
        }
      }
    }
  }
  if (problems.list.length > 0) throw toError(problems, file)
  return parsed
}

function toError(problems: Problems, file: string): KeyrackManifestInvalidError {
  const [first, ...rest] = problems.list
  const where = (p: Position) => `${problems.label}:${p.line}:${p.column}`
  const message = [`${where(first!)}: ${first!.message}`, ...rest.slice(0, 9).map((p) => `${where(p)}: ${p.message}`)].join('\n')
  const hint = first!.example ? [exampleHint(first!.example)] : []
  return new KeyrackManifestInvalidError(message, hint, file, first!.line, first!.column)
}

// ---------------------------------------------------------------------------------------------
// the fast path: Bun's native parser, for plain files only

/**
 * One line of the plain subset: optional `- ` list markers, then either `name:` with an optional
 * value, or a value. Names are unquoted; values are unquoted plain text (no `:`, `#`, brackets or
 * indicators at the start), a quoted string without escapes, or `[]`. Everything else — quoted
 * or escaped keys, flow maps, `? key`, anchors, aliases, tags, merge keys, block scalars,
 * documents, tabs, non-ASCII — is for the full path.
 */
const VALUE = String.raw`(?:\[\]|"[^"\\\x00-\x1f\x7f-\uffff]*"|'(?:[^'\x00-\x1f\x7f-\uffff]|'')*'|[A-Za-z0-9_./=+~(][^\x00-\x1f\x7f-\uffff:#{}\[\]"]*)`
const PLAIN_LINE = new RegExp(String.raw`^ *(?:- +)*(?:([A-Za-z_][A-Za-z0-9_.-]*):(?: +${VALUE})?|${VALUE})$`)

/**
 * How many mapping keys a plain-subset text holds (each `name:` is one), or null when the text
 * is not in the plain subset.
 */
export function plainKeyCount(text: string): number | null {
  if (/[\t\r\ufeff]/.test(text)) return null
  let keys = 0
  for (const raw of text.split('\n')) {
    const trimmed = raw.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    // `---` / `...` start and end documents; `%` is a directive
    if (trimmed.startsWith('---') || trimmed.startsWith('...')) return null
    const line = raw.replace(/\s+#.*$/, '').trimEnd()
    const match = PLAIN_LINE.exec(line)
    if (!match) return null
    if (match[1] !== undefined) keys++
  }
  return keys
}

/** mapping keys in parsed data, counted through every object and list */
function countKeys(data: unknown): number {
  if (Array.isArray(data)) return data.reduce((n: number, item) => n + countKeys(item), 0)
  if (isRecord(data)) return Object.values(data).reduce((n: number, value) => n + 1 + countKeys(value), 0)
  return 0
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/**
 * The fast path: used only when the file is certainly valid and plain. Anything doubtful returns
 * null, and the full path, which knows line and column, decides and reports.
 */
export function parseFileFast(text: string): ParsedFile | null {
  const parseYaml = (globalThis as { Bun?: { YAML?: { parse(text: string): unknown } } }).Bun?.YAML?.parse
  if (!parseYaml) return null
  const keys = plainKeyCount(text)
  if (keys === null) return null
  let data: unknown
  try {
    data = parseYaml(text)
  } catch {
    return null
  }
  // a key the text holds but the data lacks was merged away: a duplicate (or a misread file)
  if (!isRecord(data) || countKeys(data) !== keys) return null
  const parsed: ParsedFile = { extends: [], envs: new Map(), envPos: new Map(), warnings: [] }
  const unknownPos = { line: 1, column: 1 }
  for (const [name, value] of Object.entries(data)) {
    if (name === 'org') {
      if (typeof value !== 'string' || !ORG_PATTERN.test(value)) return null
      parsed.org = value
    } else if (name === 'extends') {
      if (!Array.isArray(value)) return null
      for (const item of value) {
        if (typeof item !== 'string' || !item.endsWith('.yml')) return null
        parsed.extends.push({ path: item, ...unknownPos })
      }
    } else if (name.startsWith('env.') && ENV_PATTERN.test(name.slice(4)) && !isSudo(name.slice(4))) {
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
  const split = splitPermissions(item)
  if ('bad' in split) return null
  const { v, StrictEntryObjectSchema } = entryValidation()
  const result = v.safeParse(StrictEntryObjectSchema, split.rest)
  if (!result.success) return null
  const spec = specOf(result.output, split.permissions)
  return typeof spec === 'string' ? null : spec
}

/** the fast path when it can decide, else the full path */
export function parseFile(text: string, label: string, file: string, fast: boolean): ParsedFile {
  return (fast ? parseFileFast(text) : null) ?? parseFileFull(text, label, file)
}
