/**
 * The only writer to stdout: `exports` (shell-quoted, for eval/source), `json`, `value`, and a
 * masked table for humans at a terminal. Secrets reach stdout only in the first three, which
 * the user asked for; the table never shows one. `github-env` writes nothing to stdout: it
 * appends the keys to the file `$GITHUB_ENV` names, for later steps of a GitHub Actions job.
 */
import { appendGithubEnv, maskLines, type AppendGithubEnvResult } from '../ci/github-actions.ts'
import { accessSync, constants, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { KeyrackEnvironmentError, KeyrackUsageError } from '../domain/errors.ts'
import type { Env } from '../context.ts'
import { grantExports } from '../domain/grant.ts'
import { SHELL_NAME_PATTERN } from '../domain/names.ts'
import { printable } from '../domain/printable.ts'
import { isTerminal } from '../runtime/terminal.ts'
import type { GetResult } from '../sdk/get.ts'

export type OutputFormat = 'exports' | 'json' | 'value' | 'table' | 'github-env'
const FORMATS: OutputFormat[] = ['exports', 'json', 'value', 'table', 'github-env']

export function chooseOutput(requested: string | undefined, json?: boolean): OutputFormat {
  if (json) return 'json'
  if (requested === undefined) return isTerminal(1) ? 'table' : 'exports'
  if ((FORMATS as string[]).includes(requested)) return requested as OutputFormat
  throw new KeyrackUsageError(`unknown output format '${requested.slice(0, 20)}'`, [`use one of: ${FORMATS.map((f) => `--output ${f}`).join(', ')}`])
}

/** POSIX single-quoting: safe for any byte sequence except NUL */
export const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

/** `export K='…'` lines; a key name no shell can export (rhachet allows dotted names) stops the output whole */
function renderExports(result: GetResult): string {
  const unexportable = result.grants.flatMap((g) => grantExports(g).map(([name]) => name)).filter((key) => !SHELL_NAME_PATTERN.test(key))
  if (unexportable.length > 0)
    throw new KeyrackUsageError(`a shell cannot export ${unexportable.join(', ')} (a dotted name is not a shell variable), so nothing was printed`, [
      `run the command with the keys in its environment: \`keyrack exec --for repo --env ${result.env} -- <command>\``,
      'or read them as JSON: `--output json`',
    ])
  return result.grants.flatMap(grantExports).map(([name, secret]) => `export ${name}=${shellQuote(secret)}\n`).join('')
}

export function renderGet(result: GetResult, format: OutputFormat): string {
  switch (format) {
    case 'exports':
      return renderExports(result)
    case 'json':
      return `${JSON.stringify(
        {
          env: result.env,
          keys: result.report.map((r) => ({
            key: r.key, slug: r.slug, state: r.state,
            ...(r.grant ? { secret: r.grant.key.secret, grade: r.grant.key.grade, mech: r.grant.mech, vault: r.grant.vault, expiresAt: r.grant.expiresAt ? new Date(r.grant.expiresAt).toISOString() : null } : {}),
            ...(r.grant?.companions ? { companions: { ...r.grant.companions.secrets }, companionsExpireAt: r.grant.companions.expiresAt ? new Date(r.grant.companions.expiresAt).toISOString() : null } : {}),
            ...(r.optional ? { optional: true } : {}),
            ...(r.warning ? { warning: r.warning } : {}),
          })),
        },
        null,
        2,
      )}\n`
    case 'value': {
      if (result.grants.length !== 1)
        throw new KeyrackUsageError('`--output value` prints exactly one key', ['use `--key KEY`, or `--output exports` / `--output json` for several'])
      return `${result.grants[0]!.key.secret}\n`
    }
    case 'github-env':
      // not for stdout: see writeGithubEnv
      return ''
    case 'table':
      return table(
        ['KEY', 'STATE', 'GRADE', 'VAULT', 'MECH', 'EXPIRES', 'SECRET'],
        result.report.map((r) => [
          r.key, r.optional ? 'optional' : r.state,
          r.grant ? `${r.grant.key.grade.protection},${r.grant.key.grade.duration}` : '',
          r.grant?.vault ?? '', r.grant?.mech ?? '',
          r.grant?.expiresAt ? new Date(r.grant.expiresAt).toISOString() : '',
          r.grant ? '••••••••' : '',
        ]),
      )
  }
}

const ELSEWHERE = 'outside a workflow step use `--output exports` or `keyrack exec --ci -- <cmd>`'

/**
 * The file `--output github-env` appends to, checked before any key is looked up: set, in a
 * directory that exists, and (when it exists) a regular file keyrack may write.
 */
export function githubEnvFile(env: Env): string {
  const file = env.GITHUB_ENV
  if (!file)
    throw new KeyrackUsageError('`--output github-env` needs $GITHUB_ENV, which only a GitHub Actions step sets', [
      `run it in a workflow step; ${ELSEWHERE}`,
    ])
  const dir = dirname(file)
  if (!isDirectory(dir))
    throw new KeyrackUsageError(`$GITHUB_ENV names a file in ${dir}, which is not a directory that exists`, [
      `the runner sets GITHUB_ENV itself: do not override it in the step's \`env:\`; ${ELSEWHERE}`,
    ])
  const stat = statSync(file, { throwIfNoEntry: false })
  if (stat && !stat.isFile()) throw new KeyrackUsageError(`$GITHUB_ENV names ${file}, which is not a regular file`, [`the runner sets GITHUB_ENV itself; ${ELSEWHERE}`])
  try {
    accessSync(stat ? file : dir, constants.W_OK)
  } catch {
    throw new KeyrackUsageError(`$GITHUB_ENV names ${file}, which this user cannot write`, [`the runner sets GITHUB_ENV itself; ${ELSEWHERE}`])
  }
  return file
}

const isDirectory = (path: string): boolean => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true

/** appends every grant to $GITHUB_ENV (multiline-safe, idempotent: a key already there with the same value is skipped) */
export async function writeGithubEnv(result: GetResult, file: string): Promise<AppendGithubEnvResult> {
  try {
    return await appendGithubEnv(file, result.grants.flatMap(grantExports).map(([key, secret]) => ({ key, secret })))
  } catch (error) {
    // the checks above passed, so the file system changed under us or is full: a typed error, never "unexpected"
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT')
      throw new KeyrackEnvironmentError(`no space left to append to $GITHUB_ENV (${file})`, ['free some disk space on the runner, then re-run the step'])
    if (typeof code === 'string') throw new KeyrackEnvironmentError(`cannot append to $GITHUB_ENV (${file}): ${code}`, ['re-run the step; the runner creates that file for every step'])
    throw error
  }
}

/**
 * `::add-mask::` workflow commands for every granted secret, for stdout (where the runner reads
 * workflow commands), to be written before anything else so no later line can show a secret
 */
export const renderMasks = (result: GetResult): string => maskLines(result.grants.flatMap(grantExports).map(([, secret]) => secret))

export function table(head: string[], rows: string[][]): string {
  // cells can hold paths and names from outside (a repo, a directory): never raw terminal control
  rows = rows.map((r) => r.map(printable))
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n') + '\n'
}
