/**
 * The one check every command's argv goes through before the command runs (citty itself
 * accepts any flag and any argument silently: `get --outptu json` printed the keys as `export`
 * lines). Each command's citty `args` definition is the single source of truth: its flags, their
 * aliases, `--no-` for booleans, `--flag=value`, and how many positional arguments it takes.
 * Anything else is a usage error (exit 2) with "did you mean", and nothing after `--` is looked
 * at except by commands that run one (`exec`).
 *
 * What the user typed is never echoed unless it looks like a plain word: a secret pasted as an
 * argument must not reach stderr.
 */
import type { ArgDef, ArgsDef } from 'citty'
import { KeyrackUsageError } from '../domain/errors.ts'
import { inspectSecret } from '../domain/firewall/check.ts'
import { closest } from '../domain/suggest.ts'

export interface ArgvRules {
  /** the command runs what follows `--` (exec); elsewhere `--` is refused */
  dashdash?: string
  /** more positional arguments than declared are fine (`recipients add KEY…`) */
  variadic?: boolean
  /** flags that may be given more than once (`init --recipient`) */
  repeatable?: string[]
  /** extra guidance for a flag people reach for that does not exist, e.g. `relock --all` */
  unknown?: Record<string, string>
}

/** each command's rules, keyed by its run function (set by `action()`), for its help to read */
const RULES = new WeakMap<object, ArgvRules>()
export const setArgvRules = (run: object, rules: ArgvRules): void => void RULES.set(run, rules)
export const argvRulesOf = (cmd: { run?: unknown }): ArgvRules | undefined => (typeof cmd.run === 'function' ? RULES.get(cmd.run) : undefined)

interface Flag {
  name: string
  type: 'string' | 'boolean'
}

/**
 * A word that is safe to show back: short, plain, few digits, and no known credential shape (a
 * flag name, `all`, `test`, `npm`, `XAI_API_KEY`). Anything else could be a pasted secret.
 */
const isShowable = (token: string): boolean =>
  /^-{0,2}[A-Za-z._/@][A-Za-z0-9._/@-]{0,23}$/.test(token) && (token.match(/[0-9]/g)?.length ?? 0) <= 2 && inspectSecret(token).verdict === 'unknown'
export const showToken = (token: string): string =>
  isShowable(token) ? `\`${token}\`` : `(${token.length} characters, not shown: it could be a secret)`

const list = (names: string[]): string => names.map((n) => `\`${n}\``).join(', ')

/** a flag's other names (`o` for `--output`) */
export function aliasesOf(def: ArgDef): string[] {
  const alias = (def as { alias?: string | string[] }).alias
  return alias === undefined ? [] : Array.isArray(alias) ? alias : [alias]
}

/** every spelling of every flag the command defines: --name, its aliases, -x, --no-name */
function flagTable(args: ArgsDef): { spellings: Map<string, Flag>; names: string[]; positionals: number } {
  const spellings = new Map<string, Flag>()
  const names: string[] = []
  let positionals = 0
  for (const [name, def] of Object.entries(args) as [string, ArgDef][]) {
    if (def.type === 'positional') {
      positionals++
      continue
    }
    const flag: Flag = { name, type: def.type === 'boolean' ? 'boolean' : 'string' }
    spellings.set(`--${name}`, flag)
    names.push(`--${name}`)
    for (const alias of aliasesOf(def)) spellings.set(alias.length === 1 ? `-${alias}` : `--${alias}`, flag)
  }
  return { spellings, names, positionals }
}

/** what argv says, read by the same table it is checked against: flag name → value, positionals in `_` */
export type ParsedArgv = { [flag: string]: string | boolean | string[] | undefined; _: string[] }

/**
 * Throws KeyrackUsageError for the first thing in argv the command does not define. `command`
 * is how the user calls it (`keyrack get`), for the messages.
 */
export function checkArgv(argv: readonly string[], args: ArgsDef, command: string, rules: ArgvRules = {}): void {
  parseArgv(argv, args, command, rules)
}

/**
 * checkArgv, and what the checked argv says — as citty would parse it (its flag names; `true`,
 * or `false` for `--no-x` / `--x=false`; `_` holds the positionals and, for a `dashdash` command,
 * everything after `--`). main.ts runs the commands on the lean path with this instead of citty:
 * tests/unit/argv-parse.test.ts checks that both read every accepted argv alike.
 */
export function parseArgv(argv: readonly string[], args: ArgsDef, command: string, rules: ArgvRules = {}): ParsedArgv {
  const { spellings, names, positionals: declared } = flagTable(args)
  const help = `\`${command} --help\` lists what it takes`
  const seen = new Set<string>()
  const values: ParsedArgv = { _: [] }
  let positionals = 0
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (token === '--') {
      if (rules.dashdash) {
        values._.push(...argv.slice(i + 1))
        return values
      }
      throw new KeyrackUsageError(`\`${command}\` runs no command: nothing goes after \`--\``, [help])
    }
    if (token === '--help' || token === '-h') continue
    if (!token.startsWith('-') || token === '-') {
      positionals++
      if (positionals > declared && !rules.variadic) throw unexpectedArgument(token, command, names, rules, help)
      values._.push(token)
      continue
    }
    const long = token.startsWith('--')
    const eq = long ? token.indexOf('=') : -1
    const spelling = eq > 0 ? token.slice(0, eq) : long ? token : token.slice(0, 2)
    // `-ojson` is `-o json`, as getopt reads it
    const inline = eq > 0 ? token.slice(eq + 1) : !long && token.length > 2 ? token.slice(2) : undefined
    let flag = spellings.get(spelling)
    let negated = false
    if (!flag && spelling.startsWith('--no-')) {
      const positive = spellings.get(`--${spelling.slice(5)}`)
      if (positive?.type === 'boolean') {
        flag = positive
        negated = true
      }
    }
    if (!flag) throw unknownFlag(spelling, command, names, rules)
    if (seen.has(flag.name) && !rules.repeatable?.includes(flag.name))
      throw new KeyrackUsageError(`\`--${flag.name}\` is given more than once`, [`give it once; ${help}`])
    seen.add(flag.name)
    if (flag.type === 'boolean') {
      if (inline !== undefined && (negated || (inline !== 'true' && inline !== 'false')))
        throw new KeyrackUsageError(`\`${spelling}\` is a switch and takes no value`, [`use \`${spelling}\` alone${negated ? '' : ` (or \`--no-${flag.name}\`)`}`])
      values[flag.name] = !negated && inline !== 'false'
      continue
    }
    if (inline !== undefined) {
      if (inline === '') throw missingValue(flag, command)
      values[flag.name] = inline
      continue
    }
    const next = argv[i + 1]
    // a value that looks like a flag means the value was forgotten (`--key --env test`)
    if (next === undefined || next === '--' || (next.startsWith('-') && next !== '-' && !/^-\d/.test(next))) throw missingValue(flag, command)
    values[flag.name] = next
    i++
  }
  return values
}

function missingValue(flag: Flag, command: string): KeyrackUsageError {
  return new KeyrackUsageError(`\`--${flag.name}\` needs a value`, [`e.g. \`--${flag.name} <${flag.name}>\`; \`${command} --help\` describes it`])
}

function unknownFlag(spelling: string, command: string, names: string[], rules: ArgvRules): KeyrackUsageError {
  const guess = closest(spelling.replace(/^--?/, ''), names.map((n) => n.slice(2)))
  const extra = rules.unknown?.[spelling.replace(/^--?/, '')]
  return new KeyrackUsageError(`unknown flag ${showToken(spelling)} for \`${command}\``, [
    ...(extra ? [extra] : []),
    ...(guess ? [`did you mean \`--${guess}\`?`] : []),
    names.length ? `its flags: ${list(names)}` : `\`${command}\` takes no flags`,
  ])
}

function unexpectedArgument(token: string, command: string, names: string[], rules: ArgvRules, help: string): KeyrackUsageError {
  const showable = isShowable(token)
  // `relock all` → the rule's advice; `get XAI_API_KEY` → `--key XAI_API_KEY`; `get output` → `--output`
  const extra = showable ? rules.unknown?.[token] : undefined
  // an UPPER_CASE word looks like a key; a lower-case one (also a valid key name) more likely a flag
  const asKey = showable && /^[A-Z_][A-Z0-9_]*$/.test(token) && names.includes('--key') ? `--key ${token}` : undefined
  const asFlag = showable && !asKey ? closest(token, names.map((n) => n.slice(2))) : undefined
  return new KeyrackUsageError(`unexpected argument ${showToken(token)} for \`${command}\``, [
    ...(rules.dashdash ? [rules.dashdash] : []),
    ...(extra ? [extra] : []),
    ...(asKey || asFlag ? [`did you mean \`${asKey ?? `--${asFlag}`}\`?`] : []),
    help,
  ])
}
