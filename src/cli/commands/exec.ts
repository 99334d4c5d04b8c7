import { defineCommand } from '../command.ts'
import { exec } from '../../sdk/exec.ts'
import { writeMasks } from '../emit.ts'
import { action, say, warn } from '../report.ts'
import { ciArgs, cliContext, credentialArgs, forArgs, isCiMode, keyEnvArgs, noteEmptyEnv, ownerArgs } from './_args.ts'
import { KeyrackUsageError } from '../../domain/errors.ts'

export default defineCommand({
  meta: {
    name: 'exec',
    description: "run a command with the repo's keys in its environment only\n\n" +
      "under an AI agent (or with --redact) the command's stdout and stderr are redacted: each granted secret,\n" +
      'and its base64, hex, percent- and JSON-encoded forms, shows as [keyrack:KEY]\n\n' +
      'examples:\n  keyrack exec --for repo --env test -- npm test\n  keyrack exec --key XAI_API_KEY --env test -- ./script.sh\n' +
      '  keyrack exec --for repo --env test --redact -- npm test',
  },
  args: {
    ...forArgs,
    ...keyEnvArgs,
    ...credentialArgs,
    ...ownerArgs,
    ...ciArgs,
    'strict-env': { type: 'boolean', description: "remove the repo's other keys from the child environment" },
    redact: {
      type: 'boolean',
      description: "redact the command's output (default: the owner's policy, `keyrack policy`: under an AI agent)",
      negativeDescription: "don't redact (refused when the policy says `redact: always`)",
    },
  },
  run: action(async (args) => {
    const command = args._ as string[]
    if (command.length === 0) throw new KeyrackUsageError('no command to run', ['put it after `--`: `keyrack exec --for repo --env test -- npm test`'])
    const ctx = cliContext(args)
    const { exitCode, signal } = await exec(ctx, {
      for: args.for as 'repo' | undefined, key: args.key, env: args.env, org: args.org, ci: isCiMode(args, ctx.env), strictEnv: args['strict-env'], withCredentials: args['with-credentials'] === true, command,
      redact: args.redact,
      // before the command starts: masks first (on GitHub Actions the child's output is masked too), then warnings
      onGranted: async (result, redaction) => {
        await writeMasks(ctx.env, result, 'stdout')
        for (const line of result.warnings) warn(line)
        noteEmptyEnv(result, args.for === 'repo')
        if (redaction.redact && result.grants.length > 0) say(`the command's output is redacted (${redaction.because}): each secret shows as [keyrack:KEY]`)
        for (const key of redaction.skipped) warn(`${key} is shorter than 4 bytes: too short to redact without masking ordinary output, so it is not redacted`)
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
