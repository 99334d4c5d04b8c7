/**
 * `keyrack/cli`: the citty command tree, for host CLIs to mount as a subcommand
 * (`rhachet keyrack …`, `rhx keyrack …`). Errors are reported by each command itself
 * (`keyrack: error:` + exit code), so the host behaves exactly like `keyrack`.
 *
 * @example
 * ```ts
 * import { keyrackCommand } from 'keyrack/cli'
 * const main = defineCommand({ subCommands: { keyrack: keyrackCommand } })
 * ```
 */
import { defineCommand } from 'citty'
import { commands } from './commands/index.ts'

declare const KEYRACK_VERSION: string | undefined
export const version: string = typeof KEYRACK_VERSION === 'string' ? KEYRACK_VERSION : '0.0.0-dev'

export const keyrackCommand = defineCommand({
  meta: {
    name: 'keyrack',
    version,
    description: 'a credential firewall: each repo gets exactly the keys it allowlists',
  },
  subCommands: commands,
})
