/**
 * The terminal rules (after age's tui.go): stdout carries only what the user asked for; all
 * else goes to stderr with a `keyrack:` prefix, lowercase, no trailing period. Errors print
 * `keyrack: error:` then one `keyrack: hint:` line per next command, and set the exit code.
 *
 * This is the one writer of `keyrack: …` lines, and every line it writes is escaped here: a
 * control character, escape sequence or bidi override in a message (from a file name, a path in
 * a repo manifest, a directory name) is shown as `\x1b`, `\n`, `\u202e`, …, so no message can
 * forge a line, retitle the terminal or hide text. Lines a message is made of on purpose are
 * printed as indented continuation lines, never as a new `keyrack: error:` or `hint:` line.
 */
import { escapeCommandData } from '../ci/github-actions.ts'
import type { ArgsDef, CommandDef } from 'citty'
import { describeForeignError, EXIT_CODES, KeyrackError } from '../domain/errors.ts'
import { checkArgv, setArgvRules, type ArgvRules } from './argv.ts'
import { isTerminal, writeFd } from '../runtime/terminal.ts'
import { printable } from '../domain/printable.ts'
import { KeyrackKeysUnavailableError } from '../sdk/errors.ts'

const useColor = (): boolean => isTerminal(2) && !process.env.NO_COLOR
const paint = (code: string, text: string): string => (useColor() ? `\u001b[${code}m${text}\u001b[0m` : text)

/** where bugs are reported (the README's "Exit codes" section says the same) */
export const ISSUES_URL = 'https://github.com/ehmpathy/keyrack/issues'

/** the single place a `keyrack:` line is written: the label is ours, the text is escaped */
const emit = (label: string, text: string): void => void process.stderr.write(`keyrack: ${label}${printable(text)}\n`)

/** `keyrack: <label> first line`, then each further line of text as an indented continuation */
const emitLines = (label: string, text: string): void => {
  const [first, ...rest] = text.split('\n')
  emit(label, first!)
  for (const line of rest) emit('  ', line)
}

export const say = (line: string): void => emit('', line)

/** writes to stdout and waits until it is handed off, so what follows cannot overtake it */
export const writeStdout = (text: string): Promise<void> =>
  writeFd(1, text)
export const warn = (line: string): void => {
  emit(`${paint('33', 'warning:')} `, line)
  // on GitHub Actions also as an annotation, so a reviewed exception or a stray key shows on the run page
  if (process.env.GITHUB_ACTIONS === 'true') process.stderr.write(`::warning title=keyrack::${escapeCommandData(printable(line))}\n`)
}
export const hint = (text: string): void => emitLines(`${paint('36', 'hint:')} `, text)
const sayError = (text: string): void => emitLines(`${paint('31', 'error:')} `, text)

export function reportError(error: unknown): number {
  if (error instanceof KeyrackKeysUnavailableError) {
    for (const line of error.warnings) warn(line)
    sayError(error.message)
    const width = Math.max(...error.report.map((r) => r.key.length))
    for (const r of error.report) say(`  ${r.key.padEnd(width)}  ${r.optional ? 'optional' : r.state}${r.reason ? `  ${r.reason}` : ''}`)
    for (const line of error.hint) hint(line)
    return error.exitCode
  }
  if (error instanceof KeyrackError) {
    sayError(error.message)
    for (const line of error.hint) hint(line)
    return error.exitCode
  }
  // Not ours: a bug (exit 1; every expected condition has its own typed error and exit code). Its
  // message is never printed: errors from spawn, the environment, decoding or a TypeError quote
  // the values they choked on, and that value may be a secret (a NUL in a secret once made `exec`
  // print the whole environment entry). Only the error's class and an errno code are shown.
  sayError(`unexpected internal error (${describeForeignError(error)}); its message is not shown, as it may hold a secret`)
  hint(`this is a bug in keyrack: report it at ${ISSUES_URL} with the command you ran and \`keyrack --version\` (never a secret); \`keyrack doctor\` shows your setup`)
  return EXIT_CODES.internal
}

export interface ActionOptions<A> extends ArgvRules {
  /**
   * stdout is shell code for `source <(keyrack …)` / `eval "$(keyrack …)"` (unlock, source, get
   * exports): on failure it ends in a failing status, so `source` itself fails and `set -e` stops
   */
  shellCode?: (args: A) => boolean
}

/**
 * Wraps a command's run: its argv is checked against its own `args` first (unknown flags and
 * arguments are refused, see argv.ts), and errors become `keyrack: error:` + exit code, so the
 * same output and exit codes hold when mounted in a host CLI.
 */
export function action<A>(
  fn: (args: A, rawArgs: string[]) => Promise<void>,
  options: ActionOptions<A> = {},
): (ctx: { args: A; rawArgs: string[]; cmd: CommandDef<any> }) => Promise<void> {
  const run = async ({ args, rawArgs, cmd }: { args: A; rawArgs: string[]; cmd: CommandDef<any> }) => {
    try {
      const meta = await resolve(cmd.meta)
      checkArgv(rawArgs, ((await resolve(cmd.args)) ?? {}) as ArgsDef, `keyrack ${meta?.name ?? ''}`.trim(), options)
      await fn(args, rawArgs)
    } catch (error) {
      process.exitCode = reportError(error)
      if (options.shellCode && !isTerminal(1) && safely(() => options.shellCode!(args))) await writeStdout(failingShellCode(process.exitCode))
    }
  }
  setArgvRules(run, options)
  return run
}

/**
 * The last line keyrack prints on stdout when a command whose stdout is sourced fails: a
 * subshell exiting with keyrack's code. It sets `$?` for `source <(…)` and `eval "$(…)"` alike,
 * in bash, zsh and sh, so `set -e` stops there — and unlike `exit` it never closes an
 * interactive shell (nor `return`, a function the user sourced it from).
 */
export const failingShellCode = (code: number): string => `(exit ${code})\n`

const safely = (fn: () => boolean): boolean => {
  try {
    return fn()
  } catch {
    return false
  }
}

const resolve = <T>(value: T | (() => T | Promise<T>) | Promise<T>): Promise<T> =>
  Promise.resolve(typeof value === 'function' ? (value as () => T | Promise<T>)() : value)
