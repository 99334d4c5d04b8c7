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
declare const KEYRACK_COMMIT: string | undefined
declare const KEYRACK_TARGET: string | undefined
/** build.ts defines these in the compiled binary; from source (bun run, the SDK) they are absent */
export const version: string = typeof KEYRACK_VERSION === 'string' ? KEYRACK_VERSION : '0.0.0-dev'
export const commit: string = typeof KEYRACK_COMMIT === 'string' ? KEYRACK_COMMIT : 'source'
export const target: string = typeof KEYRACK_TARGET === 'string' ? KEYRACK_TARGET : `${process.platform}-${process.arch}`
/** `keyrack --version`: the version first (what scripts compare), then where it came from */
export const versionLine = (): string => `${version} (commit ${commit}, ${target})`

export const keyrackCommand = defineCommand({
  meta: {
    name: 'keyrack',
    version,
    description: 'a credential firewall: each repo gets exactly the keys it allowlists',
  },
  subCommands: commands,
})
