import { defineCommand } from 'citty'
import { list } from '../../sdk/list.ts'
import { passphraseSource } from '../io.ts'
import { table } from '../render.ts'
import { action, say } from '../report.ts'
import { cliContext, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  meta: { name: 'list', description: "the owner's keys with vault, mech, grade and timestamps — never a secret\n\nexamples:\n  keyrack list\n  keyrack list --owner seaturtle --json" },
  args: {
    ...ownerArgs,
    json: { type: 'boolean', description: 'print JSON' },
    ...passphraseArgs,
  },
  run: action(async (args) => {
    const result = await list(cliContext(args, passphraseSource(args)))
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      return
    }
    if (result.keys.length === 0) {
      say(`owner '${result.owner}' has no keys yet; add one with \`keyrack set\``)
      return
    }
    process.stdout.write(
      table(
        ['SLUG', 'VAULT', 'MECH', 'GRADE', 'UPDATED'],
        result.keys.map((k) => [k.slug, k.vault, k.mech, k.grade ? `${k.grade.protection},${k.grade.duration}` : '?', k.updatedAt]),
      ),
    )
  }),
})
