import { defineCommand } from '../command.ts'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { get } from '../../sdk/get.ts'
import { emitGetResult } from '../emit.ts'
import { chooseOutput, githubEnvFile } from '../render.ts'
import { action } from '../report.ts'
import { ciArgs, cliContext, credentialArgs, forArgs, isCiMode, keyEnvArgs, outputArgs, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'get',
    description: 'get the keys a repo allowlists (all or nothing), or one key\n\n' +
      'examples:\n  eval "$(keyrack get --for repo --env test)"\n  keyrack get --for repo --env test --output json\n' +
      '  keyrack get --key XAI_API_KEY --env test --output value\n' +
      '  eval "$(keyrack get --key AWS_PROFILE --env test --with-credentials)"   # + AWS_ACCESS_KEY_ID…\n' +
      '  keyrack get --for repo --env test --ci --output github-env   # in a GitHub Actions step',
  },
  args: {
    ...forArgs,
    ...keyEnvArgs,
    ...outputArgs,
    ...credentialArgs,
    ...ownerArgs,
    ...ciArgs,
    unlock: { type: 'boolean', description: 'unlock what is locked into your daemon first (asks once on a terminal, or takes --passphrase-fd/-stdin)' },
    ...passphraseArgs,
  },
  run: action(async (args) => {
    const format = chooseOutput(args.output, args.json)
    // a passphrase only when asked for one: with --unlock (a prompt on a terminal, or the flags),
    // or given with --passphrase-fd/--passphrase-stdin for this one call. A plain get never prompts.
    const explicit = args['passphrase-fd'] !== undefined || args['passphrase-stdin'] === true
    // io.ts (terminal input) loads only then: node:tty costs every get start-up time
    const passphrase = args.unlock || explicit ? (await import('../io.ts')).passphraseSource(args) : undefined
    // --unlock may have to ask for keys typed at each unlock (EPHEMERAL_VIA_SESSION)
    const prompt = args.unlock ? (await import('../prompt.ts')).ttyPrompt() : undefined
    const ctx = { ...cliContext(args, passphrase), prompt }
    // checked before any key is looked up: no point granting keys that have nowhere to go
    const envFile = format === 'github-env' ? githubEnvFile(ctx.env) : undefined
    const ci = isCiMode(args, ctx.env)
    if (ci && explicit) throw new KeyrackUsageError('CI mode reads keys from the environment only: a passphrase has nothing to open there', ['drop `--passphrase-fd`/`--passphrase-stdin`'])
    const result = await get(ctx, { for: args.for as 'repo' | undefined, key: args.key, env: args.env, org: args.org, ci, unlock: args.unlock === true, withCredentials: args['with-credentials'] === true })
    // on GitHub Actions the masks come first, before any warning or key can reach the log (emit.ts)
    await emitGetResult(ctx.env, result, format, { envFile, forRepo: args.for === 'repo' })
  }, { shellCode: (args) => chooseOutput(args.output, args.json) === 'exports' }),
})
