/**
 * The owner's daemon, as the rest of keyrack talks to it: where its socket is, what it holds for
 * some slugs, handing it grants (starting it when needed), forgetting some. `get` asks it first;
 * when no socket exists the daemon is down and nothing more is loaded (keeps a daemon-less get
 * fast). Grants reach it over its socket only — never argv, env or disk.
 */
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Context } from '../context.ts'
import { KeyrackKeyAbsentError } from '../domain/errors.ts'
import type { Grant } from '../domain/grant.ts'
import { selfCommand } from '../runtime/self.ts'
import { resolveSocketPath, verifySocketDir } from './paths.ts'
import type { GrantInput } from './protocol.ts'

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
  const { connectDaemon } = await import('./client.ts')
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

/** hands grants to the owner's daemon, starting it when it is not running */
export async function putGrants(ctx: Context, grants: GrantInput[]): Promise<{ socketPath: string; pid: number; started: boolean }> {
  const socketPath = daemonSocketPath(ctx)
  const { ensureDaemon } = await import('./launch.ts')
  const { connectDaemon } = await import('./client.ts')
  const { started, pid } = await ensureDaemon({ owner: ctx.owner, socketPath, command: selfCommand(['__daemon', '--owner', ctx.owner], ctx.env), env: { ...ctx.env, KEYRACK_SOCK: socketPath } })
  const connection = await connectDaemon({ socketPath })
  if (!connection.ok) throw new KeyrackKeyAbsentError(`the daemon of owner '${ctx.owner}' did not answer at ${socketPath}`, ['run `keyrack doctor`'])
  try {
    await connection.client.put(grants)
  } finally {
    connection.client.close()
  }
  return { socketPath, pid, started }
}

/** forgets these slugs in the owner's daemon (a daemon that is not running holds nothing) */
export async function relockSlugs(ctx: Context, slugs: string[]): Promise<void> {
  const socketPath = daemonSocketPath(ctx)
  if (slugs.length === 0 || !existsSync(socketPath)) return
  const { connectDaemon } = await import('./client.ts')
  const connection = await connectDaemon({ socketPath })
  if (!connection.ok) return
  try {
    const { remaining } = await connection.client.relock(slugs)
    if (remaining === 0) await connection.client.stop().catch(() => undefined)
  } finally {
    connection.client.close()
  }
}
