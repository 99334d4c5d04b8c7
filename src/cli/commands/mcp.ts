/**
 * `keyrack mcp`: the MCP server on stdio (src/mcp/server.ts). The MCP SDK is loaded here only,
 * never on the path of any other command.
 */
import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { findWorksite } from '../../manifests/worksite.ts'
import { action, say } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'mcp',
    description:
      "an MCP server on stdio for agent harnesses, scoped to this repo: keyrack_status (each key's state and\nthe human's next command) and keyrack_exec (a command with the repo's keys, output redacted); no tool\nreturns a secret or unlocks\n\n" +
      'examples:\n  keyrack mcp',
  },
  args: { ...ownerArgs },
  run: action(async (args) => {
    const ctx = cliContext(args)
    if (!findWorksite(ctx.cwd, ctx.env))
      throw new KeyrackUsageError(`keyrack mcp serves one repo: start it inside a git repository (${ctx.cwd} is not in one)`, ['cd into the repo, then run `keyrack mcp`'])
    if (process.stdin.isTTY) say('keyrack mcp speaks MCP on stdin/stdout: an agent harness starts it (see "keyrack for AI agents" in the README); Ctrl-C ends it')
    const { serveMcp } = await import('../../mcp/server.ts')
    await serveMcp(ctx)
  }),
})
