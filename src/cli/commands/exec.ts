import { defineCommand } from 'citty'
import { exec } from '../../sdk/exec.ts'
import { writeMasks } from '../emit.ts'
import { action, warn } from '../report.ts'
import { ciArgs, cliContext, forArgs, isCiMode, keyEnvArgs, noteEmptyEnv, ownerArgs } from './_args.ts'
import { KeyrackUsageError } from '../../domain/errors.ts'

export default defineCommand({
  meta: {
    name: 'exec',
    description: "run a command with the repo's keys in its environment only\n\n" +
      'examples:\n  keyrack exec --for repo --env test -- npm test\n  keyrack exec --key XAI_API_KEY --env test -- ./script.sh',
  },
  args: {
    ...forArgs,
    ...keyEnvArgs,
    ...ownerArgs,
    ...ciArgs,
    'strict-env': { type: 'boolean', description: "remove the repo's other keys from the child environment" },
  },
  run: action(async (args) => {
    const command = args._ as string[]
    if (command.length === 0) throw new KeyrackUsageError('no command to run', ['put it after `--`: `keyrack exec --for repo --env test -- npm test`'])
    const ctx = cliContext(args)
    const { exitCode, signal } = await exec(ctx, {
      for: args.for as 'repo' | undefined, key: args.key, env: args.env, org: args.org, ci: isCiMode(args, ctx.env), strictEnv: args['strict-env'], command,
      // before the command starts: masks first (on GitHub Actions the child's output is masked too), then warnings
      onGranted: async (result) => {
        await writeMasks(ctx.env, result, 'stdout')
        for (const line of result.warnings) warn(line)
        noteEmptyEnv(result, args.for === 'repo')
      },
    })
    if (signal) {
      // die of the same signal, so the caller sees what the child saw
      process.kill(process.pid, signal)
      process.exitCode = 128 + (({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }) as Record<string, number>)[signal]! || 1
      return
    }
    process.exitCode = exitCode ?? 1
  }, { dashdash: 'put the command to run after `--`: `keyrack exec --for repo --env test -- npm test`' }),
})
