import { defineCommand } from 'citty'
import { EXIT_CODES } from '../../domain/errors.ts'
import { doctor } from '../../sdk/doctor.ts'
import { VERSION } from '../../domain/version.ts'
import { table } from '../render.ts'
import { action, hint } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: { name: 'doctor', description: 'check the environment keyrack depends on and say what to fix\n\nexamples:\n  keyrack doctor\n  keyrack doctor --check-updates\n  keyrack doctor --owner seaturtle --json' },
  args: {
    ...ownerArgs,
    json: { type: 'boolean', description: 'print JSON' },
    'check-updates': { type: 'boolean', description: "ask GitHub's releases API whether a newer keyrack exists (doctor makes no network call otherwise)" },
  },
  run: action(async (args) => {
    const checks = await doctor(cliContext(args), { version: VERSION, checkUpdates: args['check-updates'] === true })
    if (args.json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`)
    else {
      process.stdout.write(table(['CHECK', 'STATUS', 'DETAIL'], checks.map((c) => [c.name, c.level, c.detail])))
      for (const c of checks) if (c.fix && c.level !== 'info' && c.level !== 'ok') hint(`${c.name}: ${c.fix}`)
    }
    // a failed check is the machine's state, not a bug in keyrack (exit 1 is kept for those)
    if (checks.some((c) => c.level === 'fail')) process.exitCode = EXIT_CODES.environment
  }),
})
