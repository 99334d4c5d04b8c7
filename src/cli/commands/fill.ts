import { defineCommand } from 'citty'
import { EXIT_CODES } from '../../domain/errors.ts'
import { REPLICA_MECH, SUGGESTED_VAULT } from '../../domain/ids.ts'
import type { FillPlan } from '../../sdk/fill-plan.ts'
import { fill, summary } from '../../sdk/fill.ts'
import { passphraseSource, rememberPassphrase } from '../io.ts'
import { ttyPrompt } from '../prompt.ts'
import { table } from '../render.ts'
import { action, hint, say, warn, writeStdout } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'fill',
    description: "get every key the repo allowlists for an env ready: unlock what is locked, guide a `set` for what is absent\n\n" +
      'on a terminal only (without one it lists the exact commands to run, and exits 2)\n\n' +
      `examples:\n  keyrack fill --env test\n  keyrack fill --env test --vault ${SUGGESTED_VAULT} --mech ${REPLICA_MECH}   # only secrets to type`,
  },
  args: {
    env: { type: 'string', description: 'the env to fill: test, prep, prod, …', valueHint: 'env' },
    vault: { type: 'string', description: 'store every absent key in this vault instead of asking (`keyrack set --help` lists them)', valueHint: 'vault' },
    mech: { type: 'string', description: "use this mech for every absent key whose repo manifest entry requires none, instead of asking", valueHint: 'MECH' },
    ...ownerArgs,
  },
  run: action(async (args) => {
    const prompt = ttyPrompt()
    // one typed passphrase for the whole run (the plan, each set, the unlock), forgotten at the end
    const passphrase = prompt ? rememberPassphrase(passphraseSource({})!) : undefined
    if (prompt) {
      // fill holds secrets for a moment, as unlock does: no core dumps, no same-user ptrace
      const { hardenProcess } = await import('../../daemon/harden.ts')
      hardenProcess()
    }
    try {
      const ctx = { ...cliContext(args, passphrase), prompt }
      const { plan } = await fill(ctx, { env: args.env, vault: args.vault, mech: args.mech }, ({ level, message }) =>
        level === 'warn' ? warn(message) : level === 'hint' ? hint(message) : say(message),
      )
      await printResult(plan)
    } finally {
      passphrase?.forget()
    }
  }),
})

/** the per-key result, never a secret; exit non-zero unless every required key is granted */
async function printResult(plan: FillPlan): Promise<void> {
  await writeStdout(
    table(
      ['KEY', 'STATE', 'GRADE', 'VAULT', 'MECH', 'EXPIRES'],
      plan.keys.map((k) => [
        k.key, k.optional ? 'optional' : k.state,
        k.grade ? `${k.grade.protection},${k.grade.duration}` : '', k.vault ?? '', k.mech ?? '',
        k.expiresAt ? new Date(k.expiresAt).toISOString() : '',
      ]),
    ),
  )
  if (plan.ready) return say(`env ${plan.env} is ready: \`keyrack get --for repo --env ${plan.env}\` grants every key`)
  say(`env ${plan.env} is not ready (${summary(plan)})`)
  for (const line of new Set(plan.keys.flatMap((k) => (k.action === 'none' ? [] : k.hint)))) hint(line)
  process.exitCode = plan.blocked.length > 0 ? EXIT_CODES.blocked : EXIT_CODES.keyUnavailable
}
