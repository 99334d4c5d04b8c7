/**
 * keyrack's command registry as tests see it, and a static check of any `keyrack …` command line
 * (a README line, a help example, a hint) against it: the same argv check every command runs
 * (src/cli/argv.ts), so a documented flag that does not exist fails a test before a user pastes it.
 */
import type { ArgsDef, CommandDef } from 'citty'
import { argvRulesOf, checkArgv } from '../../src/cli/argv.ts'
import { commands } from '../../src/cli/commands/index.ts'

export interface CommandEntry {
  /** how a user calls it, e.g. `keyrack recipients add` */
  path: string
  /** the words after `keyrack`, e.g. ['recipients', 'add'] */
  words: string[]
  cmd: CommandDef<any>
  args: ArgsDef
  /** a command group (`recipients`): its own run is one of its subcommands */
  group: boolean
}

const resolve = async <T>(value: T | (() => T | Promise<T>) | Promise<T>): Promise<T> => (typeof value === 'function' ? (value as () => T)() : value)

/** every command and subcommand, from the registry (never a hand-kept list) */
export async function allCommands(): Promise<CommandEntry[]> {
  const out: CommandEntry[] = []
  for (const [name, load] of Object.entries(commands)) {
    const cmd = await load()
    const subs = (await resolve(cmd.subCommands)) as Record<string, CommandDef<any>> | undefined
    out.push({ path: `keyrack ${name}`, words: [name], cmd, args: ((await resolve(cmd.args)) ?? {}) as ArgsDef, group: Boolean(subs) })
    for (const [subName, sub] of Object.entries(subs ?? {}))
      out.push({ path: `keyrack ${name} ${subName}`, words: [name, subName], cmd: sub, args: ((await resolve(sub.args)) ?? {}) as ArgsDef, group: false })
  }
  return out
}

/**
 * The shell words of each `keyrack …` invocation in a line of shell: quotes are honoured,
 * `$(…)` is one word, and an invocation ends at a pipe, `;`, `&&`, `||`, a closing `)` or `"`
 * of a command substitution, or a comment. Redirections (`3<file`, `2>/dev/null`, `< file`) are dropped.
 */
export function keyrackInvocations(text: string): string[][] {
  const found: string[][] = []
  const line = withoutComment(text)
  // each occurrence of the word keyrack (not inside another word or path)
  const re = /(^|[\s("'`$|;&])keyrack(?=\s|$)/g
  let m: RegExpExecArray | null
  while ((m = re.exec(line))) {
    const words: string[] = []
    let i = m.index + m[1]!.length + 'keyrack'.length
    let word = ''
    let inWord = false
    let redirectTarget = false
    const end = () => {
      // `3<file`, `2>/dev/null` are redirections; `<org>` is a placeholder the user fills in;
      // a bare operator (`< app.json`) takes the next word as its file
      if (inWord) {
        if (redirectTarget) redirectTarget = false
        else if (/^\d*(<|>>?)&?$/.test(word)) redirectTarget = true
        else if (!/^\d*[<>]/.test(word) || /^<[\w-]+>$/.test(word)) words.push(word)
      }
      word = ''
      inWord = false
    }
    scan: for (; i < line.length; i++) {
      const c = line[i]!
      if (/\s/.test(c)) {
        end()
        continue
      }
      if (!inWord && c === '#') break
      if (c === '|' || c === ';' || c === '&' || c === ')' || c === '`') break scan
      if (c === "'" || c === '"') {
        const close = line.indexOf(c, i + 1)
        if (close < 0) break
        word += line.slice(i + 1, close)
        inWord = true
        i = close
        continue
      }
      if (c === '$' && line[i + 1] === '(') {
        let depth = 0
        let j = i + 1
        for (; j < line.length; j++) {
          if (line[j] === '(') depth++
          else if (line[j] === ')' && --depth === 0) break
        }
        word += line.slice(i, j + 1)
        inWord = true
        i = j
        continue
      }
      word += c
      inWord = true
    }
    end()
    found.push(words)
  }
  return found
}

/** a shell line up to its comment (a `#` starting a word, outside quotes) */
function withoutComment(line: string): string {
  let quote: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote) {
      if (c === quote) quote = null
    } else if (c === "'" || c === '"') quote = c
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i)
  }
  return line
}

/**
 * Checks one invocation (the words after `keyrack`) statically against the registry
 * (`allCommands()`): the command exists and takes these flags and arguments. Returns the problem
 * in words, or null when it parses.
 */
export function checkInvocation(words: string[], all: CommandEntry[]): string | null {
  let argv = [...words]
  // `keyrack --owner NAME cmd …` is allowed (the one global flag)
  if (argv[0] === '--owner') argv = [...argv.slice(2, 3), ...argv.slice(0, 2), ...argv.slice(3)]
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === '--version' || argv[0] === '-v') return null
  const top = all.find((c) => c.words.length === 1 && c.words[0] === argv[0])
  if (!top) return `no command \`keyrack ${argv[0]}\``
  let entry = top
  let rest = argv.slice(1)
  if (top.group) {
    const sub = all.find((c) => c.words.length === 2 && c.words[0] === argv[0] && c.words[1] === rest[0])
    if (sub) {
      entry = sub
      rest = rest.slice(1)
    } else entry = all.find((c) => c.words.length === 2 && c.words[0] === argv[0] && c.words[1] === 'list') ?? top
  }
  try {
    checkArgv(rest, entry.args, entry.path, argvRulesOf(entry.cmd) ?? {})
    return null
  } catch (error) {
    return `\`keyrack ${words.join(' ')}\`: ${(error as Error).message}`
  }
}

/**
 * Every `keyrack …` command that a transcript (keyrack's stderr) offers as a next step, checked
 * statically: the problems found, e.g. a hint naming a flag that does not exist.
 */
export function hintProblems(transcript: string[], all: CommandEntry[]): string[] {
  const problems: string[] = []
  for (const text of transcript)
    for (const line of text.split('\n').filter((l) => /^keyrack: (hint|next|then)/.test(l)))
      for (const quoted of line.match(/`[^`]*\bkeyrack [^`]*`/g) ?? [])
        for (const words of keyrackInvocations(quoted.slice(1, -1))) {
          const problem = checkInvocation(words, all)
          if (problem) problems.push(`${line}\n    ${problem}`)
        }
  return [...new Set(problems)]
}
