/**
 * The only writer to stdout: `exports` (shell-quoted, for eval/source), `json`, `value`, and a
 * masked table for humans at a terminal. Secrets reach stdout only in the first three, which
 * the user asked for; the table never shows one.
 */
import { KeyrackUsageError } from '../domain/errors.ts'
import type { GetResult } from '../sdk/get.ts'

export type OutputFormat = 'exports' | 'json' | 'value' | 'table'
const FORMATS: OutputFormat[] = ['exports', 'json', 'value', 'table']

export function chooseOutput(requested: string | undefined, json?: boolean): OutputFormat {
  if (json) return 'json'
  if (requested === undefined) return process.stdout.isTTY ? 'table' : 'exports'
  if ((FORMATS as string[]).includes(requested)) return requested as OutputFormat
  throw new KeyrackUsageError(`unknown output format '${requested.slice(0, 20)}'`, [`use one of: ${FORMATS.map((f) => `--output ${f}`).join(', ')}`])
}

/** POSIX single-quoting: safe for any byte sequence except NUL */
export const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

const keyOf = (slug: string): string => slug.slice(slug.lastIndexOf('.') + 1)

export function renderGet(result: GetResult, format: OutputFormat): string {
  switch (format) {
    case 'exports':
      return result.grants.map((g) => `export ${keyOf(g.slug)}=${shellQuote(g.key.secret)}\n`).join('')
    case 'json':
      return `${JSON.stringify(
        {
          env: result.env,
          keys: result.report.map((r) => ({
            key: r.key, slug: r.slug, state: r.state,
            ...(r.grant ? { secret: r.grant.key.secret, grade: r.grant.key.grade, mech: r.grant.mech, vault: r.grant.vault, expiresAt: r.grant.expiresAt ? new Date(r.grant.expiresAt).toISOString() : null } : {}),
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

export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n') + '\n'
}
