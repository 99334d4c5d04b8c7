/**
 * The repo manifest `.agent/keyrack.yml`: the repo's allowlist of keys per env (SPEC §5), with
 * its `extends`. Read unchanged from repos that already use rhachet's keyrack.
 *
 * Repo content is untrusted input, so every file this reads — the manifest and each `extends`
 * target — goes through one guard (`readManifestFile`): it must resolve inside the git root (no
 * symlink out of it), belong to the user (like git's safe.directory), be a regular file (a FIFO,
 * socket, device or directory is refused at once) and stay under 1 MiB. Each file is read and
 * parsed once (memoised by its real path), so a diamond of extends is linear, not exponential;
 * a cycle is an error naming the chain. Names from files are shown escaped in every message.
 *
 * Parsing one file (the fast and the full path, positions, examples) is in repo-file.ts.
 */
import { realpathSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import type { Env } from '../context.ts'
import { KeyrackManifestInvalidError } from '../domain/errors.ts'
import { ENV_ALL, ENV_SUDO, toSlug } from '../domain/names.ts'
import { printable } from '../domain/printable.ts'
import { DEFAULT_MAX_BYTES, readFileGuarded, UnsafeFileError } from '../runtime/read-file.ts'
import { EXAMPLE, exampleHint, parseFile, type ParsedFile, type Position, type RepoKeySpec } from './repo-file.ts'
import { assertOwnFile } from './worksite.ts'

export type { RepoKeySpec }

export interface RepoManifest {
  /** the root manifest's path */
  file: string
  org: string
  /** env name → its keys (env `all` of the root manifest included as its own entry) */
  envs: Map<string, RepoKeySpec[]>
  /** fields that were ignored (rhachet ignores them too), each as `file:line:column: …` */
  warnings: string[]
}

export interface AllowlistedKey {
  key: string
  /** the env the key is requested for */
  env: string
  /** slugs to look up, in order: org.<env>.KEY then org.all.KEY */
  slugs: string[]
  spec: RepoKeySpec
}

/** a repo manifest lists key names: anything near this size is not one */
export const MAX_MANIFEST_BYTES = DEFAULT_MAX_BYTES

/**
 * Reads <worksite>/.agent/keyrack.yml with its `extends`; the including file wins.
 * @param env the environment for git's safe.directory lookup (only when a file is not the user's)
 */
export function readRepoManifest(worksite: string, env: Env = process.env): RepoManifest {
  const fast = new ManifestReader(worksite, true, env)
  try {
    return fast.read()
  } catch (error) {
    // the fast path knows no positions: let the full path find and locate the problem
    if (!(error instanceof KeyrackManifestInvalidError) || !fast.parsedFast) throw error
    return new ManifestReader(worksite, false, env).read()
  }
}

/**
 * What a key's entry declares as its source, for a mech that mints from the manifest itself
 * (EPHEMERAL_VIA_GITHUB_OIDC: the role ARN); undefined for keys kept in a vault
 */
export const declarationOf = (spec: RepoKeySpec): string | undefined => spec.roleArn

/** the envs a repo declares, besides `all` */
export function declaredEnvs(manifest: RepoManifest): string[] {
  return [...manifest.envs.keys()].filter((e) => e !== ENV_ALL)
}

/**
 * The allowlist for one env: its own keys plus the `all` keys. Each key is looked up as
 * org.<env>.KEY first, then org.all.KEY (fallback at lookup time, never by copying).
 * `sudo` keys are never allowlisted by a repo (SPEC §5): only an explicit `--key` gets them.
 */
export function allowlistFor(manifest: RepoManifest, env: string): AllowlistedKey[] {
  if (env === ENV_SUDO) return []
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

/** an `extends` entry, as a place to point errors at */
interface From extends Position {
  label: string
  file: string
}

type Envs = Map<string, RepoKeySpec[]>

class ManifestReader {
  /** the git root with every symlink resolved: every file read must be inside it */
  private readonly root: string
  /** real path of an extended file → its envs, merged with its own extends: each file once */
  private readonly done = new Map<string, Envs>()
  /** the files being resolved, root first: a file met again here is a cycle */
  private readonly chain: { real: string; label: string }[] = []
  private readonly warnings: string[] = []
  /** whether a file went through the fast path (whose errors may lack positions) */
  parsedFast = false

  constructor(
    private readonly worksite: string,
    private readonly fast: boolean,
    private readonly env: Env,
  ) {
    this.root = realpathSync(worksite)
  }

  read(): RepoManifest {
    const file = join(this.worksite, '.agent', 'keyrack.yml')
    const label = this.labelOf(file)
    const real = this.locate(file, label)
    const parsed = this.parse(real, file, label)
    if (!parsed.org) throw new KeyrackManifestInvalidError(`${label}:1:1: \`org\` is required`, [exampleHint(EXAMPLE)], file, 1, 1)
    // the root's own `env.all` applies to every env the repo declares, its extends' included
    const envs: Envs = new Map([...parsed.envs].map(([env, specs]) => [env, [...specs]]))
    this.chain.push({ real, label })
    for (const ext of parsed.extends) mergeInto(envs, this.extended(ext.path, { label, file, line: ext.line, column: ext.column }))
    this.chain.pop()
    if (envs.has(ENV_ALL) && [...envs.keys()].every((e) => e === ENV_ALL)) {
      const at = parsed.envPos.get(ENV_ALL)!
      throw needsEnvSection(label, file, at)
    }
    return { file, org: parsed.org, envs, warnings: this.warnings }
  }

  /** an extended file's envs, with its extends merged in (the including file wins) */
  private extended(path: string, from: From): Envs {
    const file = join(this.worksite, path)
    const label = this.labelOf(file)
    if (relative(this.worksite, file).startsWith('..'))
      throw new KeyrackManifestInvalidError(`${from.label}:${from.line}:${from.column}: \`extends\` must stay inside the git root`, [
        'use a path relative to the git root, e.g. `- .agent/repo=.this/role=test/keyrack.yml`',
      ], from.file, from.line, from.column)
    const real = this.locate(file, label, from)
    const known = this.done.get(real)
    if (known) return known
    if (this.chain.some((c) => c.real === real))
      throw new KeyrackManifestInvalidError(
        `${from.label}:${from.line}:${from.column}: \`extends\` forms a cycle: ${[...this.chain.map((c) => c.label), label].join(' → ')}`,
        ['remove one of the `extends` entries in that chain'],
        from.file, from.line, from.column,
      )
    const parsed = this.parse(real, file, label, from)
    const envs = ownEnvsOfExtended(parsed, label, file)
    this.chain.push({ real, label })
    for (const ext of parsed.extends) mergeInto(envs, this.extended(ext.path, { label, file, line: ext.line, column: ext.column }))
    this.chain.pop()
    this.done.set(real, envs)
    return envs
  }

  /** the file's real path, which must be inside the git root */
  private locate(file: string, label: string, from?: From): string {
    let real: string
    try {
      real = realpathSync(file)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') throw this.unreadable(file, label, from, 'does not exist', from ? [] : ['create one with `keyrack init --repo`'])
      throw this.unreadable(file, label, from, `cannot be read (${code ?? 'error'})`, [`check its permissions: \`ls -l ${label}\``])
    }
    if (real !== this.root && !real.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep))
      throw this.unreadable(file, label, from, 'resolves outside the git root (a symlink leads out of the repo)', [
        'a repo manifest and its `extends` targets must be files inside the repo: put the file itself there, not a symlink out',
      ])
    return real
  }

  /**
   * The one guard every manifest file goes through: the user's own (or a safe.directory
   * worksite's), a regular file, at most 1 MiB, valid UTF-8 — then parsed.
   */
  private parse(real: string, file: string, label: string, from?: From): ParsedFile {
    assertOwnFile(this.worksite, file, statSync(real).uid, this.env)
    let bytes: Buffer | null
    try {
      bytes = readFileGuarded(real, { maxBytes: MAX_MANIFEST_BYTES, noFollow: true })
    } catch (error) {
      if (!(error instanceof UnsafeFileError)) {
        const code = (error as NodeJS.ErrnoException).code
        throw this.unreadable(file, label, from, `cannot be read (${code ?? 'error'})`, [`check its permissions: \`ls -l ${label}\``])
      }
      throw this.unreadable(file, label, from, error.detail, [
        error.reason === 'too-large'
          ? 'a repo manifest lists key names; a file this large is not one: check the path'
          : from
            ? 'point `extends` at a regular .yml file in the repo'
            : 'replace it with a regular file (`keyrack init --repo` writes a starter)',
      ])
    }
    if (bytes === null) throw this.unreadable(file, label, from, 'does not exist', [])
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
    } catch {
      throw this.unreadable(file, label, from, 'is not valid UTF-8', ['save it as UTF-8 text'])
    }
    if (this.fast) this.parsedFast = true
    const parsed = parseFile(text, label, file, this.fast)
    this.warnings.push(...parsed.warnings)
    return parsed
  }

  /** an error naming the file, or — for an `extends` target — the entry that names it */
  private unreadable(file: string, label: string, from: From | undefined, what: string, hint: string[]): KeyrackManifestInvalidError {
    if (!from) return new KeyrackManifestInvalidError(`the repo manifest ${label} ${what}`, hint, file)
    return new KeyrackManifestInvalidError(`${from.label}:${from.line}:${from.column}: \`extends\` names ${label}, which ${what}`, [
      ...hint,
      'fix the path (relative to the git root) or remove the entry',
    ], from.file, from.line, from.column)
  }

  /** a file as messages name it: relative to the git root, never with raw control characters */
  private labelOf(file: string): string {
    return printable(relative(this.worksite, file) || file)
  }
}

/**
 * An extended file's own sections. Its `env.all` applies only to the envs that file declares
 * (rhachet's reading): a role's keyrack that lists `env.all` beside `env.prod` adds those keys to
 * prod, not to every env of the repo that extends it. A key the file lists under the env itself
 * wins over its `env.all` entry.
 */
function ownEnvsOfExtended(parsed: ParsedFile, label: string, file: string): Envs {
  const all = parsed.envs.get(ENV_ALL)
  const envs: Envs = new Map()
  for (const [env, specs] of parsed.envs) {
    if (env === ENV_ALL) continue
    envs.set(env, [...specs, ...(all ?? []).filter((a) => !specs.some((s) => s.key === a.key))])
  }
  if (all && envs.size === 0) throw needsEnvSection(label, file, parsed.envPos.get(ENV_ALL)!)
  return envs
}

function needsEnvSection(label: string, file: string, at: Position): KeyrackManifestInvalidError {
  return new KeyrackManifestInvalidError(`${label}:${at.line}:${at.column}: \`env.all\` needs at least one env-specific section`, [
    exampleHint('env.all:\n  - XAI_API_KEY\nenv.test: []'),
  ], file, at.line, at.column)
}

/** adds what `from` lists and `into` does not (per env, by key name): the including file wins */
function mergeInto(into: Envs, from: Envs): void {
  for (const [env, specs] of from) {
    const merged = into.get(env) ?? []
    into.set(env, [...merged, ...specs.filter((s) => !merged.some((m) => m.key === s.key))])
  }
}
