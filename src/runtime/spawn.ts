/**
 * The spawn port (src/ports.ts) on node:child_process, which Bun and Node both provide.
 * The tool is looked up on the PATH of the environment it will run in, so a missing tool is
 * a typed error with its install command rather than a bare ENOENT, and a test's fake tool
 * directory on PATH is found exactly like the real tool.
 */
import { spawn as spawnChild } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { KeyrackVaultError, KeyrackVaultUnavailableError } from '../domain/errors.ts'
import type { Spawn, SpawnRequest, SpawnResult, ToolInfo } from '../ports.ts'

export const DEFAULT_SPAWN_TIMEOUT_MS = 30_000
/** what a tool may print before it is cut off: far more than any vault tool answers */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }

/** the install command for this platform, or the generic one */
export function installHint(tool: ToolInfo, platform: string = process.platform): string | undefined {
  return tool.install[platform as 'linux' | 'darwin'] ?? tool.install.default
}

/** `<tool> is not installed` with how to install it */
export function toolMissingError(tool: ToolInfo): KeyrackVaultUnavailableError {
  const install = installHint(tool)
  return new KeyrackVaultUnavailableError(`${tool.name} is not installed (or not on PATH); keyrack needs it for ${tool.purpose}`, [
    // a command is quoted to be pasted; a page to read (a tool with no one-line install) is not
    ...(install ? [/^https?:\/\//.test(install) ? `install it: ${install}` : `install it: \`${install}\``] : []),
    'then check with `keyrack doctor`',
  ])
}

/** the tool's full path on PATH, or null */
export function findOnPath(name: string, path: string | undefined): string | null {
  if (isAbsolute(name)) return isExecutable(name) ? name : null
  for (const dir of (path ?? '').split(':')) {
    if (!dir) continue
    const candidate = join(dir, name)
    if (isExecutable(candidate)) return candidate
  }
  return null
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** a Spawn that runs in `env` (the context's environment) unless a request names another */
export function createSpawn(env: Record<string, string | undefined>): Spawn {
  return (request) => spawnTool(request, env)
}

export async function spawnTool(request: SpawnRequest, defaultEnv: Record<string, string | undefined>): Promise<SpawnResult> {
  const [name, ...args] = request.argv
  if (!name) throw new KeyrackVaultError('no tool to run', [])
  const env = Object.fromEntries(Object.entries(request.env ?? defaultEnv).filter((e): e is [string, string] => e[1] !== undefined))
  const tool = request.tool ?? { name, install: {}, purpose: 'this vault' }
  const file = findOnPath(name, env.PATH)
  if (!file) throw toolMissingError(tool)
  const timeoutMs = request.timeoutMs ?? DEFAULT_SPAWN_TIMEOUT_MS
  if (request.terminal && request.stdin !== undefined) throw new KeyrackVaultError(`${name} talks to the terminal: it takes nothing on stdin`, [])
  const terminal = request.terminal === true
  return new Promise<SpawnResult>((resolve, reject) => {
    // its own process group, so a timeout stops the tool and anything it started (which would
    // otherwise hold our pipes open) — except a tool that talks to the human: it stays in the
    // terminal's foreground group, where it may read the terminal and where Ctrl-C reaches it too
    const child = spawnChild(file, args, {
      env,
      stdio: terminal ? ['inherit', 'pipe', 'inherit'] : ['pipe', 'pipe', 'pipe'],
      cwd: env.HOME && isAbsolute(env.HOME) ? env.HOME : '/',
      detached: !terminal,
    })
    const killGroup = () => {
      try {
        if (terminal) throw new Error('not a group of its own')
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
    }
    const out: Buffer[] = []
    const err: Buffer[] = []
    let size = 0
    let timedOut = false
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_OUTPUT_BYTES) killGroup()
      else into.push(chunk)
      if (request.showOutput) process.stderr.write(chunk)
    }
    child.stdout!.on('data', collect(out))
    child.stderr?.on('data', collect(err))
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
      child.stdout!.destroy()
      child.stderr?.destroy()
      reject(new KeyrackVaultError(`${name} did not answer within ${Math.round(timeoutMs / 1000)}s and was stopped`, [`check that \`${name}\` works on its own, then try again`]))
    }, timeoutMs)
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(error.code === 'ENOENT' ? toolMissingError(tool) : new KeyrackVaultError(`${name} could not be started (${error.code ?? 'error'})`, ['run `keyrack doctor`']))
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (timedOut) return
      const signalled = signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 0) : 1
      resolve({ code: code ?? signalled, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
    // a tool that exits without reading its stdin must not crash us with EPIPE
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(request.stdin ?? '')
  })
}
