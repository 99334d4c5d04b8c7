import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { set } from '../../sdk/set.ts'
import { passphraseSource, readSecret } from '../io.ts'
import { action, say, warn } from '../report.ts'
import { cliContext, keyEnvArgs, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'set',
    description: 'store a key in a vault and prove the round trip\n\n' +
      'mechs: PERMANENT_VIA_REPLICA (store the key itself; for keys with no short-lived alternative)\n' +
      'vaults: os.secure (age-encrypted) | os.direct (plaintext file, 0600)\n\n' +
      'examples:\n  keyrack set --key XAI_API_KEY --env test --vault os.secure --mech PERMANENT_VIA_REPLICA\n' +
      '  printf %s "$KEY" | keyrack set --key XAI_API_KEY --env test --vault os.secure --mech PERMANENT_VIA_REPLICA --secret-stdin',
  },
  args: {
    ...keyEnvArgs,
    vault: { type: 'string', description: 'where to store it: os.secure | os.direct', valueHint: 'vault' },
    mech: { type: 'string', description: 'how it becomes a usable key (no default: you choose)', valueHint: 'MECH' },
    'secret-stdin': { type: 'boolean', description: 'read the secret from stdin instead of a hidden prompt' },
    ...ownerArgs,
    ...passphraseArgs,
  },
  run: action(async (args) => {
    if (!args.key) throw new KeyrackUsageError('`set` needs `--key`', ['keyrack set --key XAI_API_KEY --env test --vault os.secure --mech PERMANENT_VIA_REPLICA'])
    if (!args.env) throw new KeyrackUsageError('`set` needs `--env`', [`keyrack set --key ${args.key} --env test --vault os.secure --mech ${args.mech ?? 'PERMANENT_VIA_REPLICA'}`])
    if (!args.vault) throw new KeyrackUsageError('`set` needs `--vault`', [`keyrack set --key ${args.key} --env ${args.env} --vault os.secure --mech ${args.mech ?? 'PERMANENT_VIA_REPLICA'}   # or --vault os.direct for plaintext`])
    const ctx = cliContext(args, passphraseSource(args, { stdinTaken: args['secret-stdin'] }))
    // validate everything that needs no secret first, so nobody types a secret into a doomed command
    const { resolveSetPlan } = await import('../../sdk/set.ts')
    await resolveSetPlan(ctx, { key: args.key, env: args.env, vault: args.vault, mech: args.mech, org: args.org })
    const secret = await readSecret(args, args.key)
    const result = await set(ctx, { key: args.key, env: args.env, vault: args.vault, mech: args.mech, org: args.org, secret })
    for (const line of result.warnings) warn(line)
    say(`set ${result.slug} in ${result.vault} via ${result.mech} (grade ${result.grade.protection},${result.grade.duration}); round trip verified`)
  }),
})
