/**
 * The hidden `__daemon --owner NAME` subcommand: the keyrack binary re-launched by `unlock` as
 * the owner's background daemon. Its environment was cleaned by the launcher; secrets arrive
 * only over the socket (never argv, env or disk).
 */
import { KeyrackUsageError } from '../domain/errors.ts'
import { assertOwner } from '../domain/names.ts'

export async function runDaemonCommand(argv: string[]): Promise<void> {
  const at = argv.indexOf('--owner')
  const owner = at >= 0 ? argv[at + 1] : undefined
  if (!owner) throw new KeyrackUsageError('__daemon needs --owner', ['this command is started by `keyrack unlock`; run that instead'])
  assertOwner(owner)
  const { resolveSocketPath } = await import('../daemon/paths.ts')
  const { daemonMain } = await import('../daemon/launch.ts')
  const socketPath = resolveSocketPath({ env: process.env, uid: process.getuid?.() ?? -1, owner })
  const { daemonAudit } = await import('../audit/daemon.ts')
  // the keyrack home as the unlocking command saw it (KEYRACK_HOME or HOME survive the cleaned environment)
  const { createContext } = await import('../context.ts')
  await daemonMain({ owner, socketPath, audit: daemonAudit(createContext({ owner, environment: process.env }).home, owner) })
}
