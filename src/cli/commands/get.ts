import { defineCommand } from 'citty'
import { KeyrackKeysUnavailableError } from '../../sdk/errors.ts'
import { get } from '../../sdk/get.ts'
import { passphraseSource } from '../io.ts'
import { chooseOutput, renderGet } from '../render.ts'
import { action, warn } from '../report.ts'
import { ciArgs, cliContext, forArgs, isCiMode, keyEnvArgs, outputArgs, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'get',
    description: 'get the keys a repo allowlists (all or nothing), or one key\n\n' +
      'examples:\n  eval "$(keyrack get --for repo --env test)"\n  keyrack get --for repo --env test --output json\n' +
      '  keyrack get --key XAI_API_KEY --env test --output value',
  },
  args: {
    ...forArgs,
    ...keyEnvArgs,
    ...outputArgs,
    ...ownerArgs,
    ...ciArgs,
    unlock: { type: 'boolean', description: 'on a terminal: ask for the passphrase of what is locked' },
    ...passphraseArgs,
  },
  run: action(async (args) => {
    const format = chooseOutput(args.output, args.json)
    const ctx = cliContext(args, args.unlock ? passphraseSource(args) : undefined)
    const input = { for: args.for as 'repo' | undefined, key: args.key, env: args.env, org: args.org, ci: isCiMode(args) }
    const result = await get(ctx, input).catch(async (error: unknown) => {
      // get-or-unlock for humans: unlock what is locked or expired (one prompt), then get again
      const relockable = error instanceof KeyrackKeysUnavailableError && error.report.some((r) => r.state === 'locked' || r.state === 'expired')
      if (!args.unlock || input.ci || !relockable) throw error
      const { unlock } = await import('../../sdk/unlock.ts')
      await unlock(ctx, input)
      return get(ctx, input)
    })
    for (const line of result.warnings) warn(line)
    process.stdout.write(renderGet(result, format))
  }),
})
