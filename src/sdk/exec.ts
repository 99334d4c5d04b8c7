/**
 * exec: runs a command with the granted keys added to its environment only — the secrets never
 * reach the calling shell. Exit code and signals pass through.
 *
 * Redacted (`redact`, or the owner's policy under an agent): the child's stdout and stderr are
 * pipes, each read through a streaming redactor that replaces every granted secret and its
 * common encodings with `[keyrack:KEY]` before it reaches this process's own stdout/stderr (or
 * the sinks given). Each stream keeps its order; the child no longer sees a terminal on them.
 */
import { basename } from 'node:path'
import type { Context } from '../context.ts'
import { agentFromChain, agentFromEnv } from '../domain/agents.ts'
import { KeyrackCommandError, KeyrackUsageError } from '../domain/errors.ts'
import { decideRedact, type RedactDecision } from '../domain/policy.ts'
import { grantExports } from '../domain/grant.ts'
import { allowlistFor } from '../manifests/repo.ts'
import { processChain } from '../runtime/process-chain.ts'
import { processSink, startChild, type Child, type OutputSink } from '../runtime/child.ts'
import { get, type GetInput, type GetResult } from './get.ts'
import { readPolicy } from './policy.ts'
import { resolveTargets } from './targets.ts'

export interface ExecInput extends GetInput {
  /** the command and its arguments */
  command: string[]
  /** called once the keys are granted, before the command starts (warnings, ci masks, the redaction note) */
  onGranted?: (result: GetResult, redaction: ExecRedaction) => void | Promise<void>
  /**
   * redact the child's output: `true` always, `false` never (refused under the owner's
   * `redact: always`); left out, the owner's policy decides (default: when under an AI agent)
   */
  redact?: boolean
  /** where the child's output goes when it is piped (redacted, or captured); default this process's stdout/stderr */
  stdout?: OutputSink
  stderr?: OutputSink
  /** the child's stdin: this process's (default) or none (/dev/null: e.g. when stdin carries a protocol) */
  stdin?: 'inherit' | 'ignore'
  /** ends the command after this long: SIGTERM to its whole process group, SIGKILL 2 s later */
  timeoutMs?: number
}

export interface ExecRedaction extends RedactDecision {
  /** keys whose secret is too short to redact (fewer than 4 bytes) */
  skipped: string[]
}

export interface ExecResult {
  /** the child's exit code, or null when a signal ended it */
  exitCode: number | null
  signal: NodeJS.Signals | null
  result: GetResult
  redaction: ExecRedaction
  /** the timeout ended the command */
  timedOut: boolean
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']

export async function exec(ctx: Context, input: ExecInput): Promise<ExecResult> {
  const [file, ...args] = input.command
  if (!file) throw new KeyrackUsageError('no command to run', ['put it after `--`: `keyrack exec --for repo --env test -- npm test`'])
  // the owner's rule first: a refused --no-redact fetches no key
  const decision = decideRedaction(ctx, input.redact)
  // the audit line says exec, the program's name (never its arguments) and whether output is redacted
  const tag = { command: ctx.audit?.command ?? 'exec', details: { ...ctx.audit?.details, program: basename(file), redacted: decision.redact, redaction: decision.because } }
  const result = await get({ ...ctx, audit: tag }, input)
  const env: Record<string, string> = {}
  for (const [name, v] of Object.entries(ctx.env)) if (v !== undefined) env[name] = v
  if (input.strictEnv) {
    const target = resolveTargets(ctx, input)
    if (target.manifest) {
      const allowed = new Set(allowlistFor(target.manifest, target.env).map((k) => k.key))
      for (const spec of [...target.manifest.envs.values()].flat()) if (!allowed.has(spec.key)) delete env[spec.key]
    }
  }
  for (const grant of result.grants) for (const [name, secret] of grantExports(grant)) env[name] = secret
  const redactor = decision.redact
    ? new (await import('../redact/redactor.ts')).Redactor(result.grants.flatMap((g) => grantExports(g).map(([key, secret]) => ({ key, secret }))))
    : null
  const redaction: ExecRedaction = { ...decision, skipped: redactor?.skipped ?? [] }
  await input.onGranted?.(result, redaction)

  const piped = redactor !== null || input.stdout !== undefined || input.stderr !== undefined
  let child: Child
  try {
    child = await startChild({
      argv: [file, ...args],
      cwd: ctx.cwd,
      env,
      stdin: input.stdin ?? 'inherit',
      output: piped ? 'pipe' : 'inherit',
      // with a timeout the command gets its own process group, so the whole group can be ended
      detached: input.timeoutMs !== undefined,
    })
  } catch (error) {
    throw spawnError(file, error as NodeJS.ErrnoException)
  }
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
  const handlers = FORWARDED.map((signal) => [signal, forward(signal)] as const)
  for (const [signal, handler] of handlers) process.on(signal, handler)
  let timedOut = false
  const timers: ReturnType<typeof setTimeout>[] = []
  if (input.timeoutMs !== undefined)
    timers.push(
      setTimeout(() => {
        timedOut = true
        killGroup(child.pid, 'SIGTERM')
        timers.push(setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2000))
      }, input.timeoutMs),
    )
  try {
    const pumps: Promise<void>[] = []
    if (piped) {
      const { pipeRedacted } = await import('../redact/pipe.ts')
      pumps.push(pipeRedacted(child.stdout!, input.stdout ?? processSink('stdout'), redactor?.stream() ?? null))
      pumps.push(pipeRedacted(child.stderr!, input.stderr ?? processSink('stderr'), redactor?.stream() ?? null))
    }
    // the exit status, and every byte the command wrote (its pipes close when it and its children are done)
    const [{ exitCode, signal }] = await Promise.all([child.exited, ...pumps])
    return { exitCode, signal, result, redaction, timedOut }
  } finally {
    for (const timer of timers) clearTimeout(timer)
    for (const [signal, handler] of handlers) process.off(signal, handler)
  }
}

/** --redact / --no-redact, else the owner's rule, with "agents" meaning: an agent marks this process or a parent */
function decideRedaction(ctx: Context, requested: boolean | undefined): RedactDecision {
  const { policy } = readPolicy(ctx)
  const needsAgent = requested === undefined && policy.redact === 'agents'
  const agent = needsAgent ? (agentFromEnv(ctx.env) ?? agentFromChain(processChain(process.pid))) : null
  return decideRedact({ requested, rule: policy.redact, agent, owner: ctx.owner })
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}

/** a command that cannot start exits as a shell would say it: 127 not found, 126 not executable */
function spawnError(file: string, error: NodeJS.ErrnoException): Error {
  // the command's name is the caller's own argv, never a secret; keep it short
  const shown = JSON.stringify(file.length > 60 ? `${file.slice(0, 60)}…` : file)
  if (error.code === 'ENOENT')
    return new KeyrackCommandError(`command not found: ${shown}`, ['check the command after `--` (is it installed and on your PATH?)'], 'commandNotFound')
  if (error.code === 'EACCES' || error.code === 'EISDIR' || error.code === 'ENOEXEC')
    return new KeyrackCommandError(`command cannot be executed: ${shown} (${error.code})`, ['check that it is an executable file (`chmod +x` it if it is your script)'], 'commandNotExecutable')
  return error
}
