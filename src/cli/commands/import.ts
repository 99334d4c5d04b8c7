import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { importKeys } from '../../sdk/import.ts'
import { passphraseSource } from '../io.ts'
import { ttyPrompt } from '../prompt.ts'
import { table } from '../render.ts'
import { action, hint, say, warn, writeStdout } from '../report.ts'
import { cliContext, ownerArgs, passphraseArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'import',
    description:
      "bring the keys of rhachet's keyrack into keyrack: same vault, mech and timestamps; rhachet's files are only read\n\n" +
      "rhachet's default owner becomes keyrack's `human`; `--owner X` imports rhachet's owner X. An owner that does not\n" +
      "exist yet is created on the ssh key rhachet used (--via ssh). Nothing is written unless every key round-trips.\n\n" +
      'examples:\n  keyrack import --from rhachet --dry-run\n  keyrack import --from rhachet\n  keyrack import --from rhachet --owner mechanic',
  },
  args: {
    from: { type: 'string', description: 'where to import from: rhachet', valueHint: 'rhachet' },
    'dry-run': { type: 'boolean', description: 'print the plan, write nothing' },
    identity: { type: 'string', description: "the ssh key (or age identity file) that opens rhachet's keyrack, if not ~/.ssh/<owner> or ~/.ssh/id_ed25519", valueHint: 'file' },
    json: { type: 'boolean', description: 'print the result as JSON' },
    ...ownerArgs,
    ...passphraseArgs,
  },
  run: action(async (args) => {
    if (args.from !== 'rhachet')
      throw new KeyrackUsageError(args.from ? `cannot import from '${String(args.from).slice(0, 20)}': only rhachet's keyrack is supported` : '`import` needs `--from rhachet`', [
        'keyrack import --from rhachet --dry-run',
      ])
    // a terminal lets a vault with a sign-in of its own (1Password) sign in to read a reference
    const ctx = { ...cliContext(args, passphraseSource(args)), prompt: ttyPrompt() }
    const result = await importKeys(ctx, { from: 'rhachet', dryRun: args['dry-run'] === true, identity: args.identity })
    if (args.json) return writeStdout(`${JSON.stringify(result, null, 2)}\n`)
    const owner = result.owner === 'human' ? '' : ` --owner ${result.owner}`
    say(`rhachet's keyrack ${result.rhachetManifest} (owner ${result.rhachetOwner ?? 'default'}), opened with ${result.identity}`)
    if (result.createdOwner)
      say(`${result.dryRun ? 'would create' : 'created'} keyrack owner '${result.owner}' on the same key: --via ssh --pubkey ${result.createdOwner.pubkey}`)
    await writeStdout(table(['SLUG', 'VAULT', 'MECH', 'ACTION', 'NOTE'], result.keys.map((k) => [
      k.slug, k.vault, k.mech, k.action === 'import' && result.dryRun ? 'would import' : k.action === 'import' ? 'imported' : k.action, k.reason ?? '',
    ])))
    for (const k of result.keys) if (k.warning) warn(k.warning)
    for (const k of result.keys) for (const line of k.hint) hint(`${k.slug}: ${line}`)
    const skipped = result.keys.filter((k) => k.action === 'skip').length
    const unchanged = result.keys.filter((k) => k.action === 'unchanged').length
    const counts = `${result.imported} to import, ${unchanged} unchanged, ${skipped} skipped`
    if (result.dryRun) say(`dry run: ${counts}; nothing was written. to import: keyrack import --from rhachet${owner}`)
    else say(`imported ${result.imported} key${result.imported === 1 ? '' : 's'} (round trip verified); ${unchanged} unchanged, ${skipped} skipped. rhachet's files were not changed`)
  }),
})
