import { defineCommand, type ArgsDef, type CommandDef } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { action } from '../report.ts'
import { commands } from './index.ts'
import { builtinVaults } from '../../vaults/index.ts'
import { builtinMechs } from '../../mechs/index.ts'

/** every command with its flags, read from the command definitions so completion never drifts */
async function commandFlags(): Promise<Record<string, string[]>> {
  const table: Record<string, string[]> = {}
  for (const [name, load] of Object.entries(commands)) {
    const cmd: CommandDef = await load()
    const args = (typeof cmd.args === 'function' ? await cmd.args() : await cmd.args) as ArgsDef | undefined
    table[name] = Object.entries(args ?? {}).flatMap(([flag, def]) => (def.type === 'positional' ? [] : [`--${flag}`, ...(def.type === 'boolean' && (def as { default?: boolean }).default === true ? [`--no-${flag}`] : [])]))
    const subs = (typeof cmd.subCommands === 'function' ? await cmd.subCommands() : await cmd.subCommands) as Record<string, unknown> | undefined
    if (subs) table[name]!.unshift(...Object.keys(subs))
  }
  return table
}

const VALUES: Record<string, string> = {
  '--vault': builtinVaults.ids.join(' '),
  '--mech': builtinMechs.ids.join(' '),
  '--output': 'exports json value table github-env',
  '--for': 'repo',
  '--env': 'test prep prod sudo all',
  '--via': 'age ssh',
}

function bash(table: Record<string, string[]>): string {
  const cases = Object.entries(table).map(([name, flags]) => `    ${name}) opts="${flags.join(' ')}" ;;`).join('\n')
  const values = Object.entries(VALUES).map(([flag, v]) => `    ${flag}) COMPREPLY=( $(compgen -W "${v}" -- "$cur") ); return ;;`).join('\n')
  return `# keyrack bash completion: eval "$(keyrack completion bash)"
_keyrack() {
  local cur prev cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"; prev="\${COMP_WORDS[COMP_CWORD-1]}"; cmd="\${COMP_WORDS[1]}"
  case "$prev" in
${values}
  esac
  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=( $(compgen -W "${Object.keys(table).join(' ')} --help --version" -- "$cur") ); return; fi
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts --help" -- "$cur") )
}
complete -F _keyrack keyrack
`
}

function zsh(table: Record<string, string[]>): string {
  return `#compdef keyrack
# keyrack zsh completion: eval "$(keyrack completion zsh)"
${bash(table).replace(/^# keyrack bash completion.*\n/, '')}`
    // bashcompinit needs zsh's completion system (compdef): load it when the user's zshrc has not
    // (-i: skip insecure directories silently rather than prompt in the middle of a shell's start)
    .replace('complete -F _keyrack keyrack', '(( $+functions[compdef] )) || { autoload -Uz compinit && compinit -i }\nautoload -U +X bashcompinit && bashcompinit\ncomplete -F _keyrack keyrack')
}

function fish(table: Record<string, string[]>): string {
  const lines = ['# keyrack fish completion: keyrack completion fish | source', 'complete -c keyrack -f']
  for (const name of Object.keys(table)) lines.push(`complete -c keyrack -n '__fish_use_subcommand' -a ${name}`)
  for (const [name, flags] of Object.entries(table))
    for (const flag of flags) {
      if (!flag.startsWith('--')) lines.push(`complete -c keyrack -n '__fish_seen_subcommand_from ${name}' -a ${flag}`)
      else lines.push(`complete -c keyrack -n '__fish_seen_subcommand_from ${name}' -l ${flag.slice(2)}${VALUES[flag] ? ` -x -a '${VALUES[flag]}'` : ''}`)
    }
  return `${lines.join('\n')}\n`
}

export default defineCommand({
  meta: { name: 'completion', description: 'print a shell completion script\n\nexamples:\n  eval "$(keyrack completion bash)"   # in ~/.bashrc\n  eval "$(keyrack completion zsh)"    # in ~/.zshrc\n  keyrack completion fish | source    # in ~/.config/fish/config.fish' },
  args: { shell: { type: 'positional', description: 'bash | zsh | fish', required: false } },
  run: action(async (args) => {
    const shell = args.shell as string | undefined
    const render = shell === 'bash' ? bash : shell === 'zsh' ? zsh : shell === 'fish' ? fish : undefined
    if (!render) throw new KeyrackUsageError('say which shell: bash, zsh or fish', ['eval "$(keyrack completion bash)"'])
    process.stdout.write(render(await commandFlags()))
  }),
})
