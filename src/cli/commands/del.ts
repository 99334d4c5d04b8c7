import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { del } from '../../sdk/del.ts'
import { passphraseSource } from '../io.ts'
import { ttyPrompt } from '../prompt.ts'
import { action, say } from '../report.ts'
import { cliContext, keyEnvArgs, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  meta: { name: 'del', description: 'remove a key from the host manifest and its vault\n\nexamples:\n  keyrack del --key XAI_API_KEY --env test' },
  args: { ...keyEnvArgs, ...ownerArgs, ...passphraseArgs },
  run: action(async (args) => {
    if (!args.key || !args.env) throw new KeyrackUsageError('`del` needs `--key` and `--env`', ['keyrack del --key XAI_API_KEY --env test'])
    // a vault with its own sign-in (1password) may sign in on the terminal
    const result = await del({ ...cliContext(args, passphraseSource(args)), prompt: ttyPrompt() }, { key: args.key, env: args.env, org: args.org })
    if (result.kept) say(`removed ${result.slug} from keyrack; ${result.kept}`)
    else say(`removed ${result.slug} (and its secret in ${result.vault})`)
  }),
})
