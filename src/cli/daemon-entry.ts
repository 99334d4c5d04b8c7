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
  await daemonMain({ owner, socketPath })
}
