/**
 * The keyrack binary's entry point. citty parses and dispatches; we handle --help/--version
 * ourselves so that flags after `--` (the command `exec` runs) are never mistaken for ours.
 */
import { renderUsage, runCommand, type CommandDef } from 'citty'
import { commands } from './commands/index.ts'
import { keyrackCommand, versionLine } from './mount.ts'
import { reportError } from './report.ts'

/**
 * `keyrack --owner seaturtle list` reads as naturally as `keyrack list --owner seaturtle`:
 * the one global flag may come before the command; it is moved after the command name.
 */
function hoistGlobalFlags(argv: string[]): string[] {
  if (argv[0] === '--owner' && argv.length > 2) return [argv[2]!, argv[0], argv[1]!, ...argv.slice(3)]
  if (argv[0]?.startsWith('--owner=') && argv.length > 1) return [argv[1]!, argv[0], ...argv.slice(2)]
  return argv
}

async function main(rawArgv: string[]): Promise<void> {
  const argv = hoistGlobalFlags(rawArgv)
  const dashdash = argv.indexOf('--')
  const own = dashdash < 0 ? argv : argv.slice(0, dashdash)
  if (own[0] === '__daemon') {
    const { runDaemonCommand } = await import('./daemon-entry.ts')
    return runDaemonCommand(argv.slice(1))
  }
  if (own.length === 1 && (own[0] === '--version' || own[0] === '-v')) {
    process.stdout.write(`${versionLine()}\n`)
    return
  }
  const name = own.find((a) => !a.startsWith('-'))
  if (own.length === 0 || own.includes('--help') || own.includes('-h') || own[0] === 'help') {
    const sub = name && name !== 'help' ? commands[name] : own[0] === 'help' && own[1] ? commands[own[1]] : undefined
    let usage = sub ? await renderUsage(await sub(), keyrackCommand as CommandDef) : await renderUsage(keyrackCommand as CommandDef)
    // a command group (`keyrack recipients add --help`): the help of the subcommand named next
    const group = sub ? await sub() : undefined
    const nested = group?.subCommands && own.filter((a) => !a.startsWith('-'))[own[0] === 'help' ? 2 : 1]
    const child = nested ? (group.subCommands as Record<string, CommandDef>)[nested] : undefined
    if (child) usage = await renderUsage(child, { meta: { name: `keyrack ${own[0] === 'help' ? own[1] : name}` } } as CommandDef)
    // citty colours its usage; plain text when piped or when NO_COLOR is set
    const plain = !process.stdout.isTTY || Boolean(process.env.NO_COLOR)
    process.stdout.write(`${plain ? usage.replace(/\u001b\[[0-9;]*m/g, '') : usage}\n`)
    if (own.length === 0) process.exitCode = 2
    return
  }
  if (!name || !commands[name]) {
    const known = Object.keys(commands)
    const guess = name ? known.find((k) => k.startsWith(name.slice(0, 2))) : undefined
    const { KeyrackUsageError } = await import('../domain/errors.ts')
    process.exitCode = reportError(
      new KeyrackUsageError(`unknown command '${(name ?? '').slice(0, 20)}'`, [guess ? `did you mean \`keyrack ${guess}\`?` : `commands: ${known.join(', ')}`]),
    )
    return
  }
  await runCommand(keyrackCommand, { rawArgs: argv })
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.exitCode = reportError(error)
})
