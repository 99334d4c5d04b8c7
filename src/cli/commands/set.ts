import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { REPLICA_MECH, SUGGESTED_VAULT } from '../../domain/ids.ts'
import { builtinMechs } from '../../mechs/index.ts'
import { resolveSetPlan, set, type SetInput } from '../../sdk/set.ts'
import { builtinVaults } from '../../vaults/index.ts'
import { passphraseSource, readSecret } from '../io.ts'
import { ttyPrompt } from '../prompt.ts'
import { action, say, warn } from '../report.ts'
import { cliContext, keyEnvArgs, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  // the vaults and mechs are listed from their registries, with each adapter's own description
  meta: async () => {
    const [vaults, mechs] = await Promise.all([builtinVaults.loadAll(), builtinMechs.loadAll()])
    return {
      name: 'set',
      description: 'store a key in a vault and prove the round trip\n\n' +
        `vaults:\n${vaults.map((v) => `  ${v.id} (${v.protection}): ${v.description}`).join('\n')}\n\n` +
        `mechs (no default: you choose):\n${mechs.map((m) => `  ${m.id} (${m.duration}): ${m.description}`).join('\n')}\n\n` +
        `examples:\n  keyrack set --key XAI_API_KEY --env test --vault ${SUGGESTED_VAULT} --mech ${REPLICA_MECH}\n` +
        `  printf %s "$KEY" | keyrack set --key XAI_API_KEY --env test --vault ${SUGGESTED_VAULT} --mech ${REPLICA_MECH} --secret-stdin`,
    }
  },
  args: {
    ...keyEnvArgs,
    vault: { type: 'string', description: 'where to store it (listed above)', valueHint: 'vault' },
    mech: { type: 'string', description: 'how it becomes a usable key (no default: you choose)', valueHint: 'MECH' },
    'secret-stdin': { type: 'boolean', description: 'read the secret from stdin instead of a hidden prompt (one trailing newline is dropped)' },
    exid: { type: 'string', description: "for a mech that stores a reference: the vault's id of an existing item", valueHint: 'ref' },
    duration: { type: 'string', description: 'for a vault that holds keys for a time only (os.daemon): how long, e.g. 9h', valueHint: 'ttl' },
    ...ownerArgs,
    ...passphraseArgs,
  },
  run: action(async (args) => {
    const example = (vault = SUGGESTED_VAULT) => `keyrack set --key ${args.key ?? 'XAI_API_KEY'} --env ${args.env ?? 'test'} --vault ${vault} --mech ${args.mech ?? REPLICA_MECH}`
    if (!args.key) throw new KeyrackUsageError('`set` needs `--key`', [example()])
    if (!args.env) throw new KeyrackUsageError('`set` needs `--env`', [example()])
    if (!args.vault) throw new KeyrackUsageError('`set` needs `--vault`', [`${example()}   # \`keyrack set --help\` lists the vaults`])
    const ctx = { ...cliContext(args, passphraseSource(args, { stdinTaken: args['secret-stdin'] })), prompt: ttyPrompt() }
    const input: SetInput = { key: args.key, env: args.env, vault: args.vault, mech: args.mech, org: args.org, exid: args.exid, duration: args.duration }
    // validate everything that needs no secret first, so nobody types a secret into a doomed command
    const plan = await resolveSetPlan(ctx, input)
    if (plan.mech.ask && !args.exid && !args['secret-stdin']) Object.assign(input, await plan.mech.ask(ctx, { key: plan.key, env: plan.env, ...(args.org ? { org: args.org } : {}) }))
    else if (plan.needs === 'secret') {
      const command = ['keyrack set', `--key ${args.key}`, `--env ${args.env}`, `--vault ${args.vault}`, args.mech && `--mech ${args.mech}`, args.org && `--org ${args.org}`, args.owner && `--owner ${args.owner}`]
      input.secret = await readSecret(args, args.key, command.filter(Boolean).join(' '))
    }
    const result = await set(ctx, input)
    for (const line of result.warnings) warn(line)
    say(`set ${result.slug} in ${result.vault} via ${result.mech} (grade ${result.grade.protection},${result.grade.duration}); round trip verified`)
  }),
})
