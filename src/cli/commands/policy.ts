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
      "the owner's rules for AI agents, and what keyrack may read: show them, or change them (needs the owner's passphrase)\n\n" +
      'redact: when `keyrack exec` redacts the command output (always | agents | never)\n' +
      'agent-values: whether `keyrack guard` lets an agent run `keyrack get`/`source` (allow | deny)\n' +
      'scope: the parts of a vault keyrack may read, e.g. 1Password vaults (`--scope 1password=` lifts it)\n\n' +
      'examples:\n  keyrack policy\n  keyrack policy --redact always\n  keyrack policy --agent-values deny\n  keyrack policy --scope 1password=Dev,Shared\n  keyrack policy --json',
  },
  args: {
    redact: { type: 'string', description: 'always | agents (default: when under an AI agent) | never', valueHint: 'rule' },
    'agent-values': { type: 'string', description: 'allow (default) | deny: agents use `keyrack exec` or the MCP tools', valueHint: 'rule' },
    scope: { type: 'string', description: 'narrow a vault to some of its parts: <vault>=<name>,… (<vault>= lifts it)', valueHint: 'vault=names' },
    json: { type: 'boolean', description: 'print JSON' },
    ...ownerArgs,
    ...passphraseArgs,
  },
  run: action(async (args) => {
    const changes: StoredPolicy = {}
    if (args.redact !== undefined) changes.redact = oneOf('--redact', args.redact, REDACT_RULES)
    if (args['agent-values'] !== undefined) changes['agent-values'] = oneOf('--agent-values', args['agent-values'], AGENT_VALUES_RULES)
    if (args.scope !== undefined) changes.scope = scopeOf(args.scope)
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

/** `1password=Dev,Shared` → { 1password: [Dev, Shared] }; `1password=` → { 1password: [] } (lifts it) */
function scopeOf(given: string): Record<string, string[]> {
  const at = given.indexOf('=')
  if (at <= 0) throw new KeyrackUsageError('--scope takes <vault>=<name>,<name>…', ['keyrack policy --scope 1password=Private,Dev', 'lift it again: `keyrack policy --scope 1password=`'])
  const parts = given.slice(at + 1).split(',').map((p) => p.trim())
  return { [given.slice(0, at)]: parts.length === 1 && parts[0] === '' ? [] : parts }
}

function render(result: PolicyResult): string {
  const line = (rule: keyof PolicyResult['policy']) => `${rule.padEnd(13)} ${result.policy[rule].padEnd(7)} ${rule in result.stored ? '' : '(default)'}`.trimEnd()
  const scopes = Object.entries(result.stored.scope ?? {}).map(([id, parts]) => `scope         ${id}: ${parts.join(', ')}\n`)
  return `${line('redact')}\n${line('agent-values')}\n${scopes.join('')}`
}
