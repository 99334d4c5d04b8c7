/**
 * The daemon step of `get`: ask the owner's daemon for the allowlisted slugs only. When no
 * socket exists the daemon is down and nothing more is loaded (keeps a daemon-less get fast).
 */
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Context } from '../context.ts'
import type { Grant } from '../domain/grant.ts'
import { resolveSocketPath, verifySocketDir } from '../daemon/paths.ts'

export type DaemonAnswer = { state: 'granted'; grant: Grant } | { state: 'expired' } | { state: 'missing' }

export function daemonSocketPath(ctx: Context): string {
  return resolveSocketPath({ env: ctx.env, uid: process.getuid?.() ?? -1, owner: ctx.owner })
}

export async function lookupDaemon(ctx: Context, slugs: string[]): Promise<Map<string, DaemonAnswer>> {
  const answers = new Map<string, DaemonAnswer>()
  if (slugs.length === 0) return answers
  const socketPath = daemonSocketPath(ctx)
  if (!existsSync(socketPath)) return answers
  verifySocketDir(dirname(socketPath), process.getuid?.() ?? -1)
  const { connectDaemon } = await import('../daemon/client.ts')
  const connection = await connectDaemon({ socketPath })
  if (!connection.ok) return answers
  try {
    const { results } = await connection.client.get(slugs)
    for (const r of results) {
      if (r.state === 'granted') answers.set(r.slug, { state: 'granted', grant: { ...r.grant, expiresAt: r.expiresAt } })
      else answers.set(r.slug, { state: r.state })
    }
  } finally {
    connection.client.close()
  }
  return answers
}
