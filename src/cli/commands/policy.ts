import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { AGENT_VALUES_RULES, REDACT_RULES, type StoredPolicy } from '../../domain/policy.ts'
import { readPolicy, setPolicy, type PolicyResult } from '../../sdk/policy.ts'
import { passphraseSource } from '../io.ts'
import { action, say, writeStdout } from '../report.ts'
import { cliContext, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'policy',
    description:
      "the owner's rules for AI agents: show them, or change them (needs the owner's passphrase)\n\n" +
      'redact: when `keyrack exec` redacts the command output (always | agents | never)\n' +
      'agent-values: whether `keyrack guard` lets an agent run `keyrack get`/`source` (allow | deny)\n\n' +
      'examples:\n  keyrack policy\n  keyrack policy --redact always\n  keyrack policy --agent-values deny\n  keyrack policy --json',
  },
  args: {
    redact: { type: 'string', description: 'always | agents (default: when under an AI agent) | never', valueHint: 'rule' },
    'agent-values': { type: 'string', description: 'allow (default) | deny: agents use `keyrack exec` or the MCP tools', valueHint: 'rule' },
    json: { type: 'boolean', description: 'print JSON' },
    ...ownerArgs,
    ...passphraseArgs,
  },
  run: action(async (args) => {
    const changes: StoredPolicy = {}
    if (args.redact !== undefined) changes.redact = oneOf('--redact', args.redact, REDACT_RULES)
    if (args['agent-values'] !== undefined) changes['agent-values'] = oneOf('--agent-values', args['agent-values'], AGENT_VALUES_RULES)
    const changing = Object.keys(changes).length > 0
    const result = changing ? await setPolicy(cliContext(args, passphraseSource(args)), changes) : readPolicy(cliContext(args))
    if (args.json) return writeStdout(`${JSON.stringify(result, null, 2)}\n`)
    if (changing) say(`policy of owner '${result.owner}' updated`)
    await writeStdout(render(result))
  }),
})

function oneOf<T extends string>(flag: string, given: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(given)) return given as T
  throw new KeyrackUsageError(`${flag} must be one of: ${allowed.join(', ')}`, [`keyrack policy ${flag} ${allowed[0]}`])
}

function render(result: PolicyResult): string {
  const line = (rule: keyof PolicyResult['policy']) => `${rule.padEnd(13)} ${result.policy[rule].padEnd(7)} ${rule in result.stored ? '' : '(default)'}`.trimEnd()
  return `${line('redact')}\n${line('agent-values')}\n`
}
