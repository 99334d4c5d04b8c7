/** status: the owner's daemon (up/down, pid) and each unlocked slug with grade and time left — never a secret */
import type { Context } from '../context.ts'
import type { GrantSummary } from '../daemon/protocol.ts'
import { daemonSocketPath } from '../daemon/owner.ts'

/** an unlocked key as the daemon lists it (never a secret), with the time it has left */
export interface StatusGrant extends GrantSummary {
  /** ms until the earlier of the grant's end (its key's expiry, or the end of its renewals) and the idle expiry */
  remainingMs: number
}

export interface StatusResult {
  owner: string
  socketPath: string
  running: boolean
  pid?: number
  startedAt?: number
  grants: StatusGrant[]
}

export async function status(ctx: Context): Promise<StatusResult> {
  const socketPath = daemonSocketPath(ctx)
  const { connectDaemon } = await import('../daemon/client.ts')
  const connection = await connectDaemon({ socketPath })
  if (!connection.ok) return { owner: ctx.owner, socketPath, running: false, grants: [] }
  const { client } = connection
  try {
    const ping = await client.ping()
    const { grants } = await client.list()
    const now = ctx.now()
    return {
      owner: ctx.owner, socketPath, running: true, pid: ping.pid, startedAt: ping.startedAt,
      grants: grants.map((g) => ({ ...g, remainingMs: Math.min(g.renewsUntil ?? g.expiresAt, g.idleExpiresAt ?? Infinity) - now })),
    }
  } finally {
    client.close()
  }
}
