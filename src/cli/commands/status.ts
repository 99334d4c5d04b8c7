import { defineCommand } from 'citty'
import { formatRemaining } from '../../domain/duration.ts'
import { status } from '../../sdk/status.ts'
import { table } from '../render.ts'
import { action, say } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: { name: 'status', description: "your daemon: up or down, and each unlocked key with grade and time left (never a secret)\n\nexamples:\n  keyrack status\n  keyrack status --json" },
  args: { ...ownerArgs, json: { type: 'boolean', description: 'print JSON' } },
  run: action(async (args) => {
    const result = await status(cliContext(args))
    if (args.json) return void process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    if (!result.running) return say(`daemon of owner '${result.owner}': down (nothing unlocked); unlock with \`keyrack unlock --for repo --env test\``)
    say(`daemon of owner '${result.owner}': up (pid ${result.pid}, socket ${result.socketPath})`)
    process.stdout.write(
      table(
        ['SLUG', 'GRADE', 'MECH', 'VAULT', 'EXPIRES', 'IDLE EXPIRES', 'LEFT'],
        result.grants.map((g) => [
          g.slug, `${g.grade.protection},${g.grade.duration}`, g.mech, g.vault,
          // a renewed key: when the grant ends, and that its key is renewed until then
          g.renewsUntil ? `${new Date(g.renewsUntil).toISOString()} (renewed)` : new Date(g.expiresAt).toISOString(),
          g.idleExpiresAt ? new Date(g.idleExpiresAt).toISOString() : '-', formatRemaining(g.remainingMs),
        ]),
      ),
    )
  }),
})
