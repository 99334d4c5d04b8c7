/**
 * The owner's daemon, as the rest of keyrack talks to it: where its socket is, what it holds for
 * some slugs, handing it grants (starting it when needed), forgetting some. `get` asks it first;
 * when no socket exists the daemon is down and nothing more is loaded (keeps a daemon-less get
 * fast). Grants reach it over its socket only — never argv, env or disk.
 */
import { existsSync, lstatSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Context } from '../context.ts'
import { KeyrackError, KeyrackKeyAbsentError } from '../domain/errors.ts'
import type { Grant } from '../domain/grant.ts'
import { LIMITS } from '../domain/limits.ts'
import { resolveSocketPath, verifySocketDir } from './paths.ts'
import type { GrantInput } from './protocol.ts'
import { findWorksite } from '../manifests/worksite.ts'

function worksiteOf(ctx: Context): string | null {
  try {
    return findWorksite(ctx.cwd, ctx.env) ?? ctx.cwd
  } catch {
    return ctx.cwd
  }
}

export type DaemonAnswer = { state: 'granted'; grant: Grant } | { state: 'expired' } | { state: 'missing' }

export function daemonSocketPath(ctx: Context): string {
  return resolveSocketPath({ env: ctx.env, uid: process.getuid?.() ?? -1, owner: ctx.owner })
}

/** how long `get` waits for the daemon (connect + answer) before it goes on without it */
export const DAEMON_ANSWER_MS = 1000

/**
 * What the owner's daemon holds for these slugs. The daemon is an accelerator here, never a
 * dependency: an unsafe socket directory (a squatted or loosened `/tmp/keyrack-<uid>`), a daemon
 * that does not answer within DAEMON_ANSWER_MS (stopped with SIGSTOP, wedged) or one that fails
 * its checks is treated as no daemon, with a warning naming the path, so keys that need no daemon
 * (os.direct, an unprotected identity) are still served. Nothing is taken from a daemon that
 * failed a check.
 * @param warnings receives one line when the daemon was skipped
 */
export async function lookupDaemon(ctx: Context, slugs: string[], warnings: string[] = []): Promise<Map<string, DaemonAnswer>> {
  const answers = new Map<string, DaemonAnswer>()
  // a slug longer than the daemon takes cannot be in it (and would make it refuse the whole request)
  const asked = slugs.filter((slug) => slug.length <= LIMITS.slugLength)
  if (asked.length === 0) return answers
  const socketPath = daemonSocketPath(ctx)
  const dir = dirname(socketPath)
  if (!exists(dir)) return answers
  try {
    verifySocketDir(dir, process.getuid?.() ?? -1)
  } catch (error) {
    if (!(error instanceof KeyrackError)) throw error
    warnings.push(`not asking the keyrack daemon: ${error.message}; fix: \`${error.hint[0] ?? 'keyrack doctor'}\``)
    return answers
  }
  if (!existsSync(socketPath)) return answers
  const { connectDaemon } = await import('./client.ts')
  const deadline = Date.now() + DAEMON_ANSWER_MS
  try {
    const connection = await connectDaemon({ socketPath, connectTimeoutMs: DAEMON_ANSWER_MS, requestTimeoutMs: DAEMON_ANSWER_MS })
    if (!connection.ok) return answers
    try {
      // the daemon writes the audit line for what it hands out, with the caller it sees (peer credentials)
      const audit = ctx.audit?.daemonLogged ? { command: ctx.audit.command, worksite: worksiteOf(ctx), env: null, ...(ctx.audit.details ? { details: ctx.audit.details } : {}) } : undefined
      const { results, audited } = await connection.client.get(asked, { timeoutMs: Math.max(1, deadline - Date.now()), ...(audit ? { audit } : {}) })
      if (audited) for (const r of results) if (r.state === 'granted') ctx.audit?.daemonLogged?.add(r.slug)
      for (const r of results) {
        if (r.state === 'granted') answers.set(r.slug, { state: 'granted', grant: { ...r.grant, expiresAt: r.expiresAt } })
        else answers.set(r.slug, { state: r.state })
      }
    } finally {
      connection.client.close()
    }
  } catch (error) {
    if (!(error instanceof KeyrackError)) throw error
    // answers from a daemon that failed part-way are dropped, not half-used
    answers.clear()
    warnings.push(`going on without the keyrack daemon at ${socketPath}: ${error.message}`)
  }
  return answers
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/** hands grants to the owner's daemon, starting it when it is not running */
export async function putGrants(ctx: Context, grants: GrantInput[]): Promise<{ socketPath: string; pid: number; started: boolean }> {
  const socketPath = daemonSocketPath(ctx)
  const { ensureDaemon } = await import('./launch.ts')
  // runtime/self.ts (node:url) loads only to start a daemon, never on a get
  const { selfCommand } = await import('../runtime/self.ts')
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
