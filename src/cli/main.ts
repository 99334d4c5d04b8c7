/**
 * The keyrack binary's entry point. citty parses and dispatches; we route --help/--version and
 * unknown commands ourselves so that flags after `--` (the command `exec` runs) are never
 * mistaken for ours, and so that the help is our own renderer's (help.ts). Each command checks
 * its own flags and arguments (argv.ts, through `action()`), here and when mounted in a host CLI.
 *
 * The lean path: the commands that run on every shell prompt and every test run (LEAN_COMMANDS:
 * `get`, `exec`, `source`, `unlock`) skip citty. Loading citty (and node:util, whose parseArgs it
 * wraps) and its per-flag case conversions cost more CPU than the rest of a daemon-served `get`,
 * so their argv is read by argv.ts's `parseArgv` — the same table and rules that check every command's argv. An argv it
 * refuses takes the citty path, so every usage error is the same one, from the same place.
 * Nothing here imports citty statically (tests/unit/get-path.test.ts).
 */
import type { CommandDef } from 'citty'
import { commands, LEAN_COMMANDS } from './commands/index.ts'
import { VERSION as version, versionLine } from '../domain/version.ts'
import { reportError } from './report.ts'
import { writeFd } from '../runtime/terminal.ts'

/** flags that keyrack itself takes before a command */
const GLOBAL_FLAGS: [string, string][] = [
  ['--owner <name>', 'whose keys (also after the command); also KEYRACK_OWNER'],
  ['-h, --help', 'this help; `keyrack <command> --help` for a command'],
  ['-v, --version', 'print the version'],
]

/**
 * `keyrack --owner seaturtle list` reads as naturally as `keyrack list --owner seaturtle`:
 * the one global flag may come before the command; it is moved after the command name.
 */
function hoistGlobalFlags(argv: string[]): string[] {
  if (argv[0] === '--owner' && argv.length > 2) return [argv[2]!, argv[0], argv[1]!, ...argv.slice(3)]
  if (argv[0]?.startsWith('--owner=') && argv.length > 1) return [argv[1]!, argv[0], ...argv.slice(2)]
  return argv
}

/** the help of `keyrack`, `keyrack CMD` or `keyrack GROUP SUB`, named by the words in `path` */
async function help(path: string[]): Promise<string> {
  const { renderHelp } = await import('./help.ts')
  const load = path[0] ? commands[path[0]] : undefined
  if (!load) return renderHelp((await import('./mount.ts')).keyrackCommand as CommandDef, 'keyrack', undefined, { version, globalFlags: GLOBAL_FLAGS })
  const cmd = await load()
  const subs = (typeof cmd.subCommands === 'function' ? await cmd.subCommands() : await cmd.subCommands) as Record<string, CommandDef> | undefined
  const sub = path[1] && subs ? subs[path[1]] : undefined
  return sub ? renderHelp(sub, `keyrack ${path[0]} ${path[1]}`) : renderHelp(cmd, `keyrack ${path[0]}`)
}

async function main(rawArgv: string[]): Promise<void> {
  const argv = hoistGlobalFlags(rawArgv)
  const dashdash = argv.indexOf('--')
  const own = dashdash < 0 ? argv : argv.slice(0, dashdash)
  const first = own[0]
  if (first === '__daemon') {
    const { runDaemonCommand } = await import('./daemon-entry.ts')
    return runDaemonCommand(argv.slice(1))
  }
  if (own.length === 1 && (first === '--version' || first === '-v')) {
    // writeFd, not process.stdout: building Node's stdout stream alone costs ~9 ms of CPU
    await writeFd(1, `${versionLine()}\n`)
    return
  }
  const words = own.filter((a) => !a.startsWith('-'))
  if (first === undefined || first === 'help' || first === '--help' || first === '-h' || (commands[first] && (own.includes('--help') || own.includes('-h')))) {
    const usage = await help(first === 'help' || first === '--help' || first === '-h' ? words.filter((w) => w !== 'help') : words)
    await writeFd(1, usage)
    // `keyrack` alone is a usage error that shows the help
    if (first === undefined) process.exitCode = 2
    return
  }
  if (!commands[first]) {
    const { KeyrackUsageError } = await import('../domain/errors.ts')
    const { closest } = await import('../domain/suggest.ts')
    const { showToken } = await import('./argv.ts')
    const known = Object.keys(commands)
    if (first.startsWith('-')) {
      process.exitCode = reportError(
        new KeyrackUsageError(`unknown flag ${showToken(first)} before the command`, [
          'flags go after the command, e.g. `keyrack get --for repo --env test`; only `--owner NAME` may come first',
          `commands: ${known.join(', ')}`,
        ]),
      )
      return
    }
    const guess = closest(first, known)
    process.exitCode = reportError(
      new KeyrackUsageError(`unknown command ${showToken(first)}`, [guess ? `did you mean \`keyrack ${guess}\`?` : `commands: ${known.join(', ')} (\`keyrack --help\`)`]),
    )
    return
  }
  if (LEAN_COMMANDS.includes(first) && (await runLean(first, argv.slice(1)))) return
  const [{ runCommand }, { keyrackCommand }] = await Promise.all([import('citty'), import('./mount.ts')])
  await runCommand(keyrackCommand, { rawArgs: argv })
}

/**
 * Runs a lean command with argv.ts's reading of its argv, as citty would run it (no setup,
 * cleanup or plugins: keyrack's commands have none). False when argv is refused: citty's path
 * then reports it, through the command's own `action()`.
 */
async function runLean(name: string, rawArgs: string[]): Promise<boolean> {
  const cmd = (await commands[name]!()) as CommandDef<any>
  const { argvRulesOf, parseArgv } = await import('./argv.ts')
  const defs = (typeof cmd.args === 'function' ? await cmd.args() : await cmd.args) ?? {}
  let args
  try {
    args = parseArgv(rawArgs, defs, `keyrack ${name}`, argvRulesOf(cmd))
  } catch {
    return false
  }
  await cmd.run!({ rawArgs, args, cmd, data: undefined } as never)
  return true
}

// A throw outside the command's promise chain (a socket or timer callback) would otherwise make
// the runtime print the error's message and source line: it goes through the same handler,
// which never prints the message of an error that is not keyrack's own.
const crash = (error: unknown): void => {
  process.exitCode = reportError(error)
  process.exit()
}
process.on('uncaughtException', crash)
process.on('unhandledRejection', crash)

main(process.argv.slice(2)).catch((error: unknown) => {
  process.exitCode = reportError(error)
})
