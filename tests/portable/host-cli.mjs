// A host CLI mounting `keyrack/cli` (the package's compiled JavaScript), run by node or deno:
//   <runtime> tests/portable/host-cli.mjs keyrack <command> [args…]
import { defineCommand, runMain } from 'citty'
import { keyrackCommand } from '../../dist/js/cli/mount.js'

await runMain(defineCommand({ meta: { name: 'rhx' }, subCommands: { keyrack: keyrackCommand } }))
