/**
 * The audit log as the SDK uses it: `record` appends a line for an operation of this process (the
 * caller is this process and its parents), `audited` wraps an operation so that its success and its
 * refusal are both recorded, and `readAudit`/`verify` are `keyrack audit`.
 *
 * Nothing is recorded for an owner that was never initialized, nor in CI mode (which reads only the
 * environment and touches no file). A line that cannot be written fails a successful operation (exit 9): no key is handed out
 * without its line.
 */
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { KeyrackEnvironmentError, KeyrackError } from '../domain/errors.ts'
import { parseSlug } from '../domain/names.ts'
import { appendAudit, auditFiles, readAuditLines, verifyAudit, writerPid, type AuditEntry, type AuditInput, type AuditOutcome, type VerifyResult } from '../audit/log.ts'
import { isRunning } from '../runtime/lock.ts'
import type { AuditLine } from '../daemon/protocol.ts'
import { daemonSocketPath } from '../daemon/owner.ts'
import { findWorksite } from '../manifests/worksite.ts'
import { processChain } from '../runtime/process-chain.ts'
import { KeyrackKeysUnavailableError } from './errors.ts'

export type { AuditEntry, VerifyResult } from '../audit/log.ts'

export interface AuditRecord {
  command?: string
  env?: string | null
  slugs: string[]
  outcome: AuditOutcome
  reason?: string | null
  details?: AuditInput['details']
}

export const filesOf = (ctx: Context) => auditFiles(ctx.home, ctx.owner)

/** the rotation size: KEYRACK_AUDIT_ROTATE_BYTES, else 4 MiB */
function rotateBytes(ctx: Context): number | undefined {
  const n = Number(ctx.env.KEYRACK_AUDIT_ROTATE_BYTES)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/**
 * Appends one line for this process; a no-op without a keyrack home. While the owner's daemon is
 * the log's writer the line goes to it (it records this process as the caller, from the kernel);
 * otherwise it is appended here, under the audit lock.
 */
export async function record(ctx: Context, entry: AuditRecord): Promise<void> {
  // an owner that was never initialized has no keyrack to audit (and its home may be rhachet's alone)
  if (!existsSync(paths.ownerConfig(ctx))) return
  const files = filesOf(ctx)
  let worksite: string | null = null
  try {
    worksite = findWorksite(ctx.cwd, ctx.env)
  } catch {
    // a foreign repo (refused elsewhere): the cwd is what there is to say
    worksite = null
  }
  const command = entry.command ?? ctx.audit?.command ?? 'sdk'
  const details = entry.details || ctx.audit?.details ? { ...ctx.audit?.details, ...entry.details } : undefined
  // a writer daemon this process cannot reach (another KEYRACK_SOCK): append here, under the lock
  // (the daemon re-reads the log's end whenever it changed under it)
  let reachable = true
  if (daemonIsWriter(files)) {
    const seq = await sendToDaemon(ctx, { command, worksite: worksite ?? ctx.cwd, env: entry.env ?? null, slugs: entry.slugs, outcome: entry.outcome, reason: entry.reason ?? null, ...(details ? { details } : {}) })
    if (seq !== null) return
    reachable = false
  }
  const chain = processChain(process.pid)
  const input: AuditInput = {
    owner: ctx.owner,
    via: 'cli',
    command,
    worksite: worksite ?? ctx.cwd,
    env: entry.env ?? null,
    slugs: entry.slugs,
    outcome: entry.outcome,
    reason: entry.reason ?? null,
    caller: { pid: process.pid, exe: chain[0]?.exe ?? process.execPath, uid: process.getuid?.(), chain: chain.slice(1) },
    ...(details ? { details } : {}),
  }
  try {
    const written = appendAudit(files, input, { now: ctx.now, rotateBytes: rotateBytes(ctx), abortIf: () => reachable && daemonIsWriter(files) })
    if (written === null) {
      // a daemon became the writer while we waited for the lock: it takes the line
      if ((await sendToDaemon(ctx, { command, worksite: input.worksite, env: input.env ?? null, slugs: input.slugs, outcome: input.outcome, reason: input.reason ?? null, ...(details ? { details } : {}) })) === null)
        throw new Error('the daemon that writes the audit log did not answer')
    }
  } catch (error) {
    throw new KeyrackEnvironmentError(`cannot write the audit log ${files.log} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, [
      `check the keyrack home: \`ls -la ${ctx.home}\` (\`keyrack doctor\` checks it too)`,
    ])
  }
}

/** a live daemon holds the writer role */
function daemonIsWriter(files: ReturnType<typeof filesOf>): boolean {
  const pid = writerPid(files)
  return pid !== null && isRunning(pid)
}

async function sendToDaemon(ctx: Context, line: AuditLine): Promise<number | null> {
  const { connectDaemon } = await import('../daemon/client.ts')
  const connection = await connectDaemon({ socketPath: daemonSocketPath(ctx) })
  if (!connection.ok) return null
  try {
    return (await connection.client.audit(line)).seq
  } finally {
    connection.client.close()
  }
}

/** why an operation failed, for the log: a keyrack error's message (never a secret), else only the error's class */
export function reasonOf(error: unknown): string {
  // the message only: class names are minified in the compiled binary
  if (error instanceof KeyrackError) return error.message
  return error instanceof Error ? error.name : 'error'
}

/**
 * Runs `fn` and records it: `describe` turns its result into a line (or null for nothing to
 * record); a failure is recorded as `refused` (a keyrack error: an expected condition) or `error`.
 */
export async function audited<T>(ctx: Context, command: string, base: { env?: string | null; slugs?: string[] }, fn: () => Promise<T>, describe: (result: T) => AuditRecord | null): Promise<T> {
  let result: T
  try {
    result = await fn()
  } catch (error) {
    return recordFailure(ctx, command, base, error)
  }
  const line = describe(result)
  if (line) await record(ctx, { command: ctx.audit?.command ?? command, env: base.env ?? null, ...line })
  return result
}

/** records a failed operation as `refused` (a keyrack error: an expected condition) or `error`, then throws its error */
export async function recordFailure(ctx: Context, command: string, base: { env?: string | null; slugs?: string[] }, error: unknown): Promise<never> {
  // for a get that is not all granted: the keys that were not, each with its state
  const slugs = error instanceof KeyrackKeysUnavailableError ? error.report.filter((r) => r.state !== 'granted' && !r.optional).map((r) => r.slug) : (base.slugs ?? [])
  try {
    await record(ctx, { command: ctx.audit?.command ?? command, env: base.env ?? null, slugs, outcome: error instanceof KeyrackError ? 'refused' : 'error', reason: reasonOf(error) })
  } catch {
    // nothing was handed out, and the operation's own error says more than the log's (a full disk fails both)
  }
  throw error
}

export interface AuditQuery {
  /** only lines at or after this time (epoch ms) */
  since?: number
  /** only lines naming this KEY (any org and env) or this exact slug */
  key?: string
}

export function readAudit(ctx: Context, query: AuditQuery = {}): AuditEntry[] {
  return readAuditLines(filesOf(ctx))
    .flatMap((l) => (l.entry ? [l.entry] : []))
    .filter((e) => matches(e, query))
}

export function matches(entry: AuditEntry, query: AuditQuery): boolean {
  if (query.since !== undefined && Date.parse(entry.time) < query.since) return false
  if (query.key !== undefined && !entry.slugs.some((s) => s === query.key || safeKey(s) === query.key)) return false
  return true
}

function safeKey(slug: string): string | null {
  try {
    return parseSlug(slug).key
  } catch {
    return null
  }
}

export function verify(ctx: Context): VerifyResult {
  return verifyAudit(filesOf(ctx))
}
