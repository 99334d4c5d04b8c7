/**
 * A tiny host CLI (think `rhx` or `rhachet`) that mounts keyrack's citty command tree as a
 * subcommand, exactly as the README shows: `bun tests/fakes/host-cli.ts keyrack get …`.
 */
import { defineCommand, runMain } from 'citty'
import { keyrackCommand } from '../../src/cli/mount.ts'

const main = defineCommand({
  meta: { name: 'rhx', description: 'a host CLI that mounts keyrack' },
  subCommands: {
    keyrack: keyrackCommand,
    hello: defineCommand({ meta: { name: 'hello' }, run: () => void process.stdout.write('hello from the host\n') }),
  },
})

runMain(main)
