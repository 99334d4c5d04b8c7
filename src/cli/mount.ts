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
import { VERSION as version } from '../domain/version.ts'
import { commands } from './commands/index.ts'

/** keyrack's version and build (domain/version.ts), for host CLIs that show them */
export { COMMIT as commit, TARGET as target, VERSION as version, versionLine } from '../domain/version.ts'

export const keyrackCommand = defineCommand({
  meta: {
    name: 'keyrack',
    version,
    description: 'a credential firewall: each repo gets exactly the keys it allowlists',
  },
  subCommands: commands,
})
