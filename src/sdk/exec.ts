/**
 * exec: runs a command with the granted keys added to its environment only — the secrets never
 * reach the calling shell. Exit code and signals pass through.
 */
import { spawn } from 'node:child_process'
import type { Context } from '../context.ts'
import { KeyrackCommandError, KeyrackUsageError } from '../domain/errors.ts'
import { parseSlug } from '../domain/names.ts'
import { allowlistFor } from '../manifests/repo.ts'
import { get, type GetInput, type GetResult } from './get.ts'
import { resolveTargets } from './targets.ts'

export interface ExecInput extends GetInput {
  /** the command and its arguments */
  command: string[]
  /** called once the keys are granted, before the command starts (warnings, ci masks) */
  onGranted?: (result: GetResult) => void | Promise<void>
}

export interface ExecResult {
  /** the child's exit code, or null when a signal ended it */
  exitCode: number | null
  signal: NodeJS.Signals | null
  result: GetResult
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']

export async function exec(ctx: Context, input: ExecInput): Promise<ExecResult> {
  const [file, ...args] = input.command
  if (!file) throw new KeyrackUsageError('no command to run', ['put it after `--`: `keyrack exec --for repo --env test -- npm test`'])
  const result = await get(ctx, input)
  await input.onGranted?.(result)
  const env: Record<string, string> = {}
  for (const [name, v] of Object.entries(ctx.env)) if (v !== undefined) env[name] = v
  if (input.strictEnv) {
    const target = resolveTargets(ctx, input)
    if (target.manifest) {
      const allowed = new Set(allowlistFor(target.manifest, target.env).map((k) => k.key))
      for (const spec of [...target.manifest.envs.values()].flat()) if (!allowed.has(spec.key)) delete env[spec.key]
    }
  }
  for (const grant of result.grants) env[parseSlug(grant.slug).key] = grant.key.secret
  const child = spawn(file, args, { cwd: ctx.cwd, env, stdio: 'inherit' })
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
  const handlers = FORWARDED.map((signal) => [signal, forward(signal)] as const)
  for (const [signal, handler] of handlers) process.on(signal, handler)
  try {
    return await new Promise<ExecResult>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) => reject(spawnError(file, error)))
      child.once('exit', (exitCode, signal) => resolve({ exitCode, signal, result }))
    })
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler)
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
