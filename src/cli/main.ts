/**
 * The keyrack binary's entry point. citty parses and dispatches; we handle --help/--version
 * ourselves so that flags after `--` (the command `exec` runs) are never mistaken for ours.
 */
import { renderUsage, runCommand, type CommandDef } from 'citty'
import { commands } from './commands/index.ts'
import { keyrackCommand, version } from './mount.ts'
import { reportError } from './report.ts'

async function main(argv: string[]): Promise<void> {
  const dashdash = argv.indexOf('--')
  const own = dashdash < 0 ? argv : argv.slice(0, dashdash)
  if (own[0] === '__daemon') {
    const { runDaemonCommand } = await import('./daemon-entry.ts')
    return runDaemonCommand(argv.slice(1))
  }
  if (own.length === 1 && (own[0] === '--version' || own[0] === '-v')) {
    process.stdout.write(`${version}\n`)
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
    process.stdout.write(`${usage}\n`)
    if (own.length === 0) process.exitCode = 2
    return
  }
  if (!name || !commands[name]) {
    const known = Object.keys(commands)
    const guess = name ? known.find((k) => k.startsWith(name.slice(0, 2))) : undefined
    process.exitCode = reportError(
      Object.assign(new (await import('../domain/errors.ts')).KeyrackUsageError(`unknown command '${(name ?? '').slice(0, 20)}'`, [guess ? `did you mean \`keyrack ${guess}\`?` : `commands: ${known.join(', ')}`])),
    )
    return
  }
  await runCommand(keyrackCommand, { rawArgs: argv })
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.exitCode = reportError(error)
})
