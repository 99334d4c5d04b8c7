import { defineCommand } from '../command.ts'
import { unlock } from '../../sdk/unlock.ts'
import { passphraseSource } from '../io.ts'
import { shellQuote } from '../render.ts'
import { action, say, warn, writeStdout } from '../report.ts'
import { cliContext, forArgs, keyEnvArgs, ownerArgs, passphraseArgs } from './_args.ts'
import { ttyPrompt } from '../prompt.ts'

export default defineCommand({
  meta: {
    name: 'unlock',
    description: "decrypt the repo's keys once and hand them to your in-memory daemon for a while\n\n" +
      'stdout is shell code that exports only KEYRACK_SOCK and KEYRACK_OWNER (never a secret), so:\n' +
      '  source <(keyrack unlock --for repo --env test)\n' +
      'examples:\n  keyrack unlock --for repo --env test --duration 9h\n  keyrack unlock --key AWS_PROFILE --env sudo --org ehmpathy --duration 30m',
  },
  args: {
    ...forArgs,
    ...keyEnvArgs,
    duration: { type: 'string', description: 'how long: 9h (default; 30m for env sudo), 30m, 90s, or session', valueHint: 'ttl' },
    idle: { type: 'string', description: 'also relock after this long unused (sliding, capped by --duration)', valueHint: 'ttl' },
    ...ownerArgs,
    ...passphraseArgs,
  },
  run: action(async (args) => {
    // the unlock process holds secrets for a moment: no core dumps, no ptrace by same-uid processes
    const { hardenProcess } = await import('../../daemon/harden.ts')
    hardenProcess()
    // a terminal, when there is one, for keys typed at each unlock (EPHEMERAL_VIA_SESSION)
    const ctx = { ...cliContext(args, passphraseSource(args)), prompt: ttyPrompt() }
    const result = await unlock(ctx, { for: args.for as 'repo' | undefined, key: args.key, env: args.env, org: args.org, duration: args.duration, idle: args.idle })
    for (const k of result.unlocked)
      say(`unlocked ${k.slug} (${k.grade.protection},${k.grade.duration}) until ${new Date(k.expiresAt).toISOString()}${k.keyExpiresAt ? ` (its key expires at ${new Date(k.keyExpiresAt).toISOString()}; your daemon renews it until then)` : ''}`)
    for (const s of result.skipped) warn(`${s.key}: ${s.reason}`)
    say(`daemon of owner '${result.owner}' ${result.started ? 'started' : 'running'} (pid ${result.pid})`)
    // writeStdout (Bun.write), not process.stdout: building Node's stdout stream costs ~9 ms of CPU
    await writeStdout(
      `KEYRACK_SOCK=${shellQuote(result.socketPath)}; export KEYRACK_SOCK;\nKEYRACK_OWNER=${shellQuote(result.owner)}; export KEYRACK_OWNER;\n`,
    )
  }, { shellCode: () => true }),
})
