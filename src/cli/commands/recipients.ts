/**
 * `keyrack recipients list|add|remove`: the owner's own key and backup keys. add/remove
 * re-encrypt the host manifest and every os.secure file, all or nothing.
 */
import { defineCommand, type ArgsDef } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { closest } from '../../domain/suggest.ts'
import { showToken } from '../argv.ts'
import { addRecipients, listRecipients, removeRecipients, type RecipientsResult } from '../../sdk/recipients.ts'
import { passphraseSource } from '../io.ts'
import { table } from '../render.ts'
import { action, say, warn } from '../report.ts'
import { cliContext, ownerArgs, passphraseArgs } from './_args.ts'

const keyArgs = {
  key: { type: 'positional', required: false, description: 'age1…, "ssh-ed25519 AAAA…", or a file of them (e.g. backup.pub); several allowed', valueHint: 'key' },
} as const satisfies ArgsDef

/** citty keeps only the first positional in its named arg; the rest are in `_` */
const positionals = (args: { _?: string[] }): string[] => args._ ?? []

function print(result: RecipientsResult, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    return
  }
  process.stdout.write(table(['ROLE', 'RECIPIENT'], result.recipients.map((r) => [r.own ? 'own' : 'backup', r.recipient])))
}

const list = defineCommand({
  meta: { name: 'recipients list', description: "who can decrypt the owner's files: its own key and backup keys\n\nexamples:\n  keyrack recipients list\n  keyrack recipients list --owner seaturtle --json" },
  args: { ...ownerArgs, json: { type: 'boolean', description: 'print JSON' }, ...passphraseArgs },
  run: action(async (args) => print(await listRecipients(cliContext(args, passphraseSource(args))), args.json)),
})

const add = defineCommand({
  meta: {
    name: 'recipients add',
    description: 'add a backup key and re-encrypt the host manifest and every os.secure secret to it\n\n' +
      'examples:\n  age-keygen -o backup.txt && keyrack recipients add "$(age-keygen -y backup.txt)"   # keep backup.txt offline\n' +
      '  keyrack recipients add ~/.ssh/id_ed25519_backup.pub',
  },
  args: { ...keyArgs, ...ownerArgs, json: { type: 'boolean', description: 'print JSON' }, ...passphraseArgs },
  run: action(async (args) => {
    const result = await addRecipients(cliContext(args, passphraseSource(args)), { recipients: positionals(args) })
    if (result.changed.length === 0) say('already a recipient; nothing was changed')
    else say(`added ${result.changed.length} recipient${result.changed.length === 1 ? '' : 's'}; re-encrypted ${result.reencrypted.length} file${result.reencrypted.length === 1 ? '' : 's'}`)
    print(result, args.json)
  }, { variadic: true }),
})

const remove = defineCommand({
  meta: {
    name: 'recipients remove',
    description: "remove a backup key and re-encrypt the owner's files without it\n\nexamples:\n  keyrack recipients remove \"$(age-keygen -y backup.txt)\"\n  keyrack recipients remove ~/.ssh/id_ed25519_backup.pub --owner seaturtle",
  },
  args: { ...keyArgs, ...ownerArgs, json: { type: 'boolean', description: 'print JSON' }, ...passphraseArgs },
  run: action(async (args) => {
    const result = await removeRecipients(cliContext(args, passphraseSource(args)), { recipients: positionals(args) })
    say(`removed ${result.changed.length} recipient${result.changed.length === 1 ? '' : 's'}; re-encrypted ${result.reencrypted.length} file${result.reencrypted.length === 1 ? '' : 's'}`)
    // re-encryption cannot reach copies made earlier (backups, synced folders)
    warn('copies of these files made before now still open with the removed key; if it leaked, rotate the secrets too')
    print(result, args.json)
  }, { variadic: true }),
})

const SUBCOMMANDS = { list, add, remove }

export default defineCommand({
  meta: {
    name: 'recipients',
    description: "who can decrypt the owner's host manifest and os.secure secrets (its own key + backup keys)\n\n" +
      'examples:\n  keyrack recipients list\n  keyrack recipients add "$(age-keygen -y backup.txt)"\n  keyrack recipients remove "$(age-keygen -y backup.txt)"',
  },
  // `keyrack recipients` alone lists
  default: 'list',
  subCommands: SUBCOMMANDS,
  setup({ rawArgs }) {
    // citty would report an unknown subcommand as an internal error; make it a usage error
    const name = rawArgs.find((a) => !a.startsWith('-'))
    if (name !== undefined && !(name in SUBCOMMANDS)) {
      const guess = closest(name, Object.keys(SUBCOMMANDS))
      throw new KeyrackUsageError(`unknown command ${showToken(name)} of \`keyrack recipients\``, [
        ...(guess ? [`did you mean \`keyrack recipients ${guess}\`?`] : []),
        'use `keyrack recipients list`, `keyrack recipients add KEY` or `keyrack recipients remove KEY`',
      ])
    }
  },
})
