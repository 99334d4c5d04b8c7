import { defineCommand } from '../command.ts'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { get } from '../../sdk/get.ts'
import { emitGetResult } from '../emit.ts'
import { action } from '../report.ts'
import { ciArgs, cliContext, credentialArgs, isCiMode, keyEnvArgs, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'source',
    description: "the repo's keys as `export` lines, named for eval: the same as `get --for repo --output exports`\n\n" +
      'examples:\n  eval "$(keyrack source --env test)"\n  eval "$(keyrack source --env test --lenient)"   # go on without missing keys (never blocked ones)',
  },
  args: {
    ...keyEnvArgs,
    strict: { type: 'boolean', description: 'all or nothing (default): print nothing and exit non-zero if a key is missing' },
    lenient: { type: 'boolean', description: 'print the keys that are granted; warn about the rest' },
    ...credentialArgs,
    ...ownerArgs,
    ...ciArgs,
  },
  run: action(async (args) => {
    if (args.strict && args.lenient) throw new KeyrackUsageError('choose `--strict` or `--lenient`, not both', ['drop one of them'])
    const ctx = { ...cliContext(args), audit: { command: 'source' } }
    const result = await get(ctx, { for: args.key ? undefined : 'repo', key: args.key, env: args.env, org: args.org, ci: isCiMode(args), lenient: args.lenient === true, withCredentials: args['with-credentials'] === true })
    // the same emitter as `get --output exports`: on GitHub Actions, the masks as shell code first
    await emitGetResult(ctx.env, result, 'exports', { forRepo: !args.key })
  }, { shellCode: () => true }),
})
