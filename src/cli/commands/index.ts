/**
 * The command table: name → lazy loader, so `keyrack get` loads only `get`'s module graph.
 * A null-prototype object, so no inherited name can pass as a command.
 */
import type { CommandDef } from 'citty'

type Loader = () => Promise<CommandDef<any>>
const load = (p: Promise<{ default: CommandDef<any> }>) => p.then((m) => m.default)

export const commands: Record<string, Loader> = Object.assign(Object.create(null), {
  init: () => load(import('./init.ts')),
  set: () => load(import('./set.ts')),
  get: () => load(import('./get.ts')),
  source: () => load(import('./source.ts')),
  fill: () => load(import('./fill.ts')),
  exec: () => load(import('./exec.ts')),
  list: () => load(import('./list.ts')),
  del: () => load(import('./del.ts')),
  recipients: () => load(import('./recipients.ts')),
  unlock: () => load(import('./unlock.ts')),
  relock: () => load(import('./relock.ts')),
  status: () => load(import('./status.ts')),
  doctor: () => load(import('./doctor.ts')),
  import: () => load(import('./import.ts')),
  policy: () => load(import('./policy.ts')),
  guard: () => load(import('./guard.ts')),
  audit: () => load(import('./audit.ts')),
  mcp: () => load(import('./mcp.ts')),
  completion: () => load(import('./completion.ts')),
  'git-credential': () => load(import('./git-credential.ts')),
})

/**
 * The commands main.ts runs without citty: argv.ts's parseArgv reads their argv by the table it
 * checks it with (tests/unit/argv-parse.test.ts: as citty would). Only commands without named
 * positional arguments (citty would name them; parseArgv leaves them in `_`).
 */
export const LEAN_COMMANDS: readonly string[] = ['get', 'exec', 'source', 'unlock']

