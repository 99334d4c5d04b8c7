import { defineCommand } from 'citty'
import { relock } from '../../sdk/relock.ts'
import { action, say, warn } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: { name: 'relock', description: 'forget unlocked keys (all by default); the daemon stops when none are left\n\nexamples:\n  keyrack relock\n  keyrack relock --key XAI_API_KEY --env test' },
  args: {
    key: { type: 'string', description: 'only this key', valueHint: 'KEY' },
    env: { type: 'string', description: 'only keys of this env', valueHint: 'env' },
    ...ownerArgs,
  },
  run: action(async (args) => {
    const result = await relock(cliContext(args), { key: args.key, env: args.env })
    if (!result.running) return say(`nothing unlocked for owner '${result.owner}' (no daemon running)`)
    for (const line of result.warnings) warn(line)
    say(`relocked ${result.removed} key${result.removed === 1 ? '' : 's'}; ${result.remaining === 0 ? 'daemon stopped' : `${result.remaining} still unlocked`}`)
  }, { unknown: { all: '`keyrack relock` with no flag forgets every key (and stops the daemon)' } }),
})
