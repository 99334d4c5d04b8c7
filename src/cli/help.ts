/**
 * `--help` for every command, rendered from the command definitions (citty's renderer glues
 * "(keyrack init v0.1.0)" onto the last example, pads every line to the widest one, and lets long
 * descriptions run into the command column). Here: a summary, the usage line, flags in two
 * columns whose descriptions wrap inside their own column, then the examples one per line and
 * never wrapped, so each can be copied whole. Width: the terminal's, 80 columns when piped.
 *
 * A command's `meta.description` is its summary line, optional paragraphs, and an `examples:`
 * paragraph whose indented lines are the examples (see `describe()`).
 */
import type { ArgDef, ArgsDef, CommandDef } from 'citty'
import { aliasesOf, argvRulesOf } from './argv.ts'

export interface Described {
  summary: string
  body: string[]
  examples: string[]
}

type Resolvable<T> = T | Promise<T> | (() => T | Promise<T>)
const resolve = <T>(value: Resolvable<T>): Promise<T> => Promise.resolve(typeof value === 'function' ? (value as () => T | Promise<T>)() : value)

/** splits a description into its summary, paragraphs and examples */
export function describe(description: string | undefined): Described {
  const [text = '', examples = ''] = (description ?? '').split(/\n\n?examples:\n/)
  const [summary = '', ...rest] = text.split('\n')
  return {
    summary: summary.trim(),
    body: rest.join('\n').split(/\n{2,}/).map((p) => p.replace(/^\n+|\n+$/g, '')).filter(Boolean),
    examples: examples.split('\n').map((l) => l.replace(/^ {2}/, '').trimEnd()).filter(Boolean),
  }
}

/** the terminal's width; 80 columns when stdout is not a terminal (piped, redirected) */
export const helpWidth = (): number => (process.stdout.isTTY && process.stdout.columns ? Math.max(40, process.stdout.columns) : 80)

/** words of text in lines of at most width (a longer word gets a line of its own) */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  for (const paragraphLine of text.split('\n')) {
    const indent = /^\s*/.exec(paragraphLine)![0]
    let line = ''
    for (const word of paragraphLine.trim().split(/\s+/).filter(Boolean)) {
      if (line && indent.length + line.length + 1 + word.length > width) {
        lines.push(indent + line)
        line = word
      } else line = line ? `${line} ${word}` : word
    }
    lines.push(indent + line)
  }
  return lines
}

/** two columns: labels on the left, their text wrapped in the right column only */
function columns(rows: [string, string][], width: number, indent = 2): string[] {
  const gap = 3
  const labelWidth = Math.min(Math.max(...rows.map(([l]) => l.length)), Math.max(12, Math.floor(width * 0.35)))
  const textWidth = Math.max(20, width - indent - labelWidth - gap)
  const out: string[] = []
  for (const [label, text] of rows) {
    const lines = wrap(text, textWidth)
    // a label wider than its column gets the text on the lines below it, never beside another label
    if (label.length > labelWidth) out.push(' '.repeat(indent) + label)
    else out.push(' '.repeat(indent) + label.padEnd(labelWidth + gap) + (lines.shift() ?? ''))
    for (const line of lines) out.push(' '.repeat(indent + labelWidth + gap) + line)
  }
  return out.map((l) => l.trimEnd())
}

function flagRows(args: ArgsDef): [string, string][] {
  const rows: [string, string][] = []
  for (const [name, def] of Object.entries(args) as [string, ArgDef][]) {
    if (def.type === 'positional') continue
    const spellings = [...aliasesOf(def).map((a) => (a.length === 1 ? `-${a}` : `--${a}`)), `--${name}`].join(', ')
    const value = def.type === 'boolean' ? '' : ` <${def.valueHint ?? name}>`
    const negative = def.type === 'boolean' && (def.default === true || def.negativeDescription)
    if (!(def.type === 'boolean' && def.default === true)) rows.push([spellings + value, def.description ?? ''])
    if (negative) rows.push([`--no-${name}`, def.negativeDescription ?? `turn off --${name}`])
  }
  return rows
}

function usageLine(path: string, args: ArgsDef, hasSubcommands: boolean, rules: { dashdash?: string; variadic?: boolean }): string {
  const dashdash = Boolean(rules.dashdash)
  const positionals = (Object.entries(args) as [string, ArgDef][])
    .filter(([, def]) => def.type === 'positional')
    .map(([name, def]) => `${def.required === false ? `[${def.valueHint ?? name}]` : `<${def.valueHint ?? name}>`}${rules.variadic ? '…' : ''}`)
  const flags = Object.values(args).some((def) => (def as ArgDef).type !== 'positional') ? ' [flags]' : ''
  return `usage: ${path}${hasSubcommands ? ' <command>' : ''}${flags}${positionals.length ? ` ${positionals.join(' ')}` : ''}${dashdash ? ' -- <command> [args…]' : ''}`
}

/**
 * The help of one command (or of the whole tool, for the root), as plain text ending in a
 * newline. `path` is how it is called, e.g. `keyrack recipients add`.
 */
export async function renderHelp(cmd: CommandDef<any>, path: string, width = helpWidth(), extra: { version?: string; globalFlags?: [string, string][] } = {}): Promise<string> {
  const meta = (await resolve(cmd.meta as Resolvable<{ description?: string } | undefined>)) ?? {}
  const args = ((await resolve(cmd.args as Resolvable<ArgsDef | undefined>)) ?? {}) as ArgsDef
  const subCommands = (await resolve(cmd.subCommands as Resolvable<Record<string, Resolvable<CommandDef<any>>> | undefined>)) ?? undefined
  const { summary, body, examples } = describe(meta.description)
  const out: string[] = []
  out.push(...wrap(`${path}${extra.version ? ` ${extra.version}` : ''}: ${summary}`, width), '')
  out.push(usageLine(path, args, Boolean(subCommands), argvRulesOf(cmd) ?? {}), '')
  for (const paragraph of body) out.push(...wrap(paragraph, width), '')
  if (subCommands) {
    const rows: [string, string][] = []
    for (const [name, sub] of Object.entries(subCommands)) {
      const subMeta = (await resolve(((await resolve(sub)) as CommandDef<any>).meta as Resolvable<{ description?: string; hidden?: boolean } | undefined>)) ?? {}
      if (!subMeta.hidden) rows.push([name, describe(subMeta.description).summary])
    }
    out.push('commands:', ...columns(rows, width), '')
  }
  const flags = [...flagRows(args), ...(extra.globalFlags ?? [])]
  if (flags.length) out.push('flags:', ...columns(flags, width), '')
  if (examples.length) out.push('examples:', ...examples.map((e) => `  ${e}`), '')
  if (subCommands) out.push(`\`${path} <command> --help\` shows a command's flags and examples`, '')
  // one trailing newline, no blank line at the end, no trailing spaces anywhere
  return `${out.map((l) => l.trimEnd()).join('\n').replace(/\n+$/, '')}\n`
}
