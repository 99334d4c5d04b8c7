/**
 * GitHub Actions helpers for CI mode (SPEC §11): mask secrets in the job log and hand keys to
 * later steps through the `$GITHUB_ENV` file. Kept free of process globals: the caller passes
 * the env and the file path, so tests need no runner.
 */
import { KeyrackUsageError } from '../domain/errors.ts'

/** GitHub sets GITHUB_ACTIONS=true on every hosted and self-hosted runner */
export function isGithubActions(env: Readonly<Record<string, string | undefined>>): boolean {
  return env.GITHUB_ACTIONS === 'true'
}

/** workflow-command data escaping, as @actions/core does it (`%` first, or it would re-escape) */
export function escapeCommandData(value: string): string {
  return value.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A')
}

/**
 * `::add-mask::` lines for the given secrets, one per distinct non-blank line of each secret.
 * The runner masks per log line, so a multi-line secret (a PEM key, a JSON blob) masked whole
 * would leak line by line; masking each line separately closes that. A line with surrounding
 * whitespace is masked both as is and trimmed, since tools often print it trimmed.
 * Blank lines are skipped: masking whitespace would blank out the whole log and hides nothing.
 */
export function maskLines(secrets: readonly string[]): string {
  const seen = new Set<string>()
  const out: string[] = []
  for (const secret of secrets) {
    for (const line of secret.split(/\r\n|\r|\n/)) {
      for (const candidate of [line, line.trim()]) {
        if (candidate.trim() === '' || seen.has(candidate)) continue
        seen.add(candidate)
        out.push(`::add-mask::${escapeCommandData(candidate)}`)
      }
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}

export interface GithubEnvEntry {
  readonly key: string
  readonly secret: string
}

export interface GithubEnvAssignment {
  readonly key: string
  readonly value: string
}

/**
 * Parse a `$GITHUB_ENV` file the way the runner does: blank lines are skipped; a line is
 * `KEY=VALUE` when `=` comes before any `<<`, else `KEY<<DELIM` opens a heredoc whose value is
 * every following line up to one equal to DELIM, joined with `\n`. Returns every assignment in
 * file order (the last one for a key is the one GitHub applies).
 * Errors name the line number only, never the content: the file holds secrets.
 */
export function parseGithubEnvFile(content: string, file = '$GITHUB_ENV'): GithubEnvAssignment[] {
  // the runner reads with .NET ReadLine, which ends a line at \r\n, \n or a lone \r
  const lines = content.split(/\r\n|\r|\n/)
  const assignments: GithubEnvAssignment[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    if (line === '') continue
    const eq = line.indexOf('=')
    const heredoc = line.indexOf('<<')
    if (eq >= 0 && (heredoc < 0 || eq < heredoc)) {
      const key = line.slice(0, eq)
      if (key === '') throw invalidEnvFile(file, i + 1, 'an assignment with no name')
      assignments.push({ key, value: line.slice(eq + 1) })
      continue
    }
    if (heredoc < 0) throw invalidEnvFile(file, i + 1, 'a line that is neither NAME=value nor NAME<<DELIMITER')
    const key = line.slice(0, heredoc)
    const delimiter = line.slice(heredoc + 2)
    if (key === '' || delimiter === '') throw invalidEnvFile(file, i + 1, 'a heredoc with no name or no delimiter')
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end] !== delimiter) end++
    if (end >= lines.length) throw invalidEnvFile(file, i + 1, 'a heredoc that is never closed')
    assignments.push({ key, value: lines.slice(start, end).join('\n') })
    i = end
  }
  return assignments
}

function invalidEnvFile(file: string, line: number, what: string): KeyrackUsageError {
  return new KeyrackUsageError(`${file} line ${line}: ${what}`, [
    'the file is written by workflow steps; fix the step that wrote it, or start from a fresh job',
  ])
}

/** env var names GitHub accepts and the shell can export; also keeps `=`/`<<`/newlines out */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** a delimiter that occurs nowhere in the key or value, so the value cannot close its heredoc early */
export function pickDelimiter(key: string, value: string, makeId: () => string = () => crypto.randomUUID()): string {
  for (let attempt = 0; attempt < 8; attempt++) {
    const delimiter = `ghadelimiter_${makeId()}`
    if (!key.includes(delimiter) && !value.includes(delimiter)) return delimiter
  }
  // eight uuid collisions means makeId is not random; refuse rather than write an ambiguous file
  throw new KeyrackUsageError(`could not pick a heredoc delimiter for ${key}`)
}

/** one multiline-safe assignment: `KEY<<DELIM\nvalue\nDELIM\n` */
export function githubEnvBlock(key: string, value: string, delimiter = pickDelimiter(key, value)): string {
  return `${key}<<${delimiter}\n${value}\n${delimiter}\n`
}

export interface AppendGithubEnvResult {
  /** keys written by this call */
  readonly appended: string[]
  /** keys whose final assignment in the file already held this exact value */
  readonly unchanged: string[]
}

/**
 * Append keys to the `$GITHUB_ENV` file, idempotently: a key whose last assignment already holds
 * the same value is not written again, so running CI mode twice leaves the file as it was.
 * Appends (never rewrites: earlier steps own what is already there) and fsyncs before returning,
 * because the runner reads the file only after the step exits.
 *
 * Values are normalized from \r\n or lone \r to \n first: the runner's reader splits lines on any
 * of them, so that is the value later steps would see anyway, and comparing the normalized form
 * keeps the idempotency check honest.
 */
export async function appendGithubEnv(
  path: string,
  entries: readonly GithubEnvEntry[],
): Promise<AppendGithubEnvResult> {
  for (const { key } of entries) {
    if (!ENV_NAME.test(key)) {
      throw new KeyrackUsageError(`${JSON.stringify(key)} is not a valid environment variable name`, [
        'use letters, digits and underscores, not starting with a digit',
      ])
    }
  }

  const existing = await readIfExists(path)
  const current = new Map<string, string>()
  for (const { key, value } of parseGithubEnvFile(existing, path)) current.set(key, value)

  const appended: string[] = []
  const unchanged: string[] = []
  let chunk = ''
  for (const { key, secret } of entries) {
    const value = secret.replace(/\r\n?/g, '\n')
    if (current.get(key) === value) {
      if (!appended.includes(key)) unchanged.push(key)
      continue
    }
    chunk += githubEnvBlock(key, value)
    current.set(key, value)
    appended.push(key)
  }
  if (chunk === '') return { appended, unchanged }

  // a last line without its newline would swallow our first line into its value
  if (existing !== '' && !existing.endsWith('\n')) chunk = `\n${chunk}`
  // loaded here, not at import: every command loads this module, few append to $GITHUB_ENV
  const { open } = await import('node:fs/promises')
  const handle = await open(path, 'a', 0o600)
  try {
    await handle.appendFile(chunk, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  return { appended, unchanged }
}

async function readIfExists(path: string): Promise<string> {
  try {
    const { readFile } = await import('node:fs/promises')
    return await readFile(path, 'utf8')
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return ''
    throw error
  }
}
