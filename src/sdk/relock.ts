/**
 * relock: forget grants in the owner's daemon (all, or those matching --key/--env); the daemon exits
 * when empty. `--env E` matches the keys a get of env E is served: E's own and env `all`'s.
 */
import type { Context } from '../context.ts'
import { assertEnv, assertKey, ENV_ALL, parseSlug } from '../domain/names.ts'
import { daemonSocketPath } from '../daemon/owner.ts'

export interface RelockInput {
  key?: string
  env?: string
}

export interface RelockResult {
  owner: string
  /** false when no daemon was running (nothing was unlocked) */
  running: boolean
  removed: number
  remaining: number
}

export async function relock(ctx: Context, input: RelockInput = {}): Promise<RelockResult> {
  const key = input.key ? assertKey(input.key) : undefined
  const env = input.env ? assertEnv(input.env) : undefined
  const { connectDaemon } = await import('../daemon/client.ts')
  const connection = await connectDaemon({ socketPath: daemonSocketPath(ctx) })
  if (!connection.ok) return { owner: ctx.owner, running: false, removed: 0, remaining: 0 }
  const { client } = connection
  try {
    let slugs: string[] | undefined
    if (key || env) {
      const { grants } = await client.list()
      slugs = grants.map((g) => g.slug).filter((slug) => {
        const parts = parseSlug(slug)
        // env.all keys serve every env (lookup falls back to them), so `--env test` forgets them too
        return (!key || parts.key === key) && (!env || parts.env === env || parts.env === ENV_ALL)
      })
    }
    const { removed, remaining } = await client.relock(slugs)
    if (remaining === 0) await client.stop().catch(() => undefined)
    return { owner: ctx.owner, running: true, removed, remaining }
  } finally {
    client.close()
  }
}
