/**
 * Acceptance harness: drives the compiled binary (dist/keyrack) as a user would, in a temp HOME
 * (KEYRACK_HOME under it), a temp git repo, and a temp XDG_RUNTIME_DIR, with a clean env.
 * Every sandbox is removed and every daemon it started is stopped by `cleanup()`.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createRuntimeDir } from './runtime-dir.ts'
import { allCommands, hintProblems } from './commands.ts'

export const ROOT = resolve(import.meta.dir, '..', '..')
const registry = await allCommands()
/** the binary under test; KEYRACK_TEST_BIN points the suites at another build (e.g. a mutant) */
export const BIN = process.env.KEYRACK_TEST_BIN || join(ROOT, 'dist', 'keyrack')

export interface RunResult {
  code: number
  stdout: string
  stderr: string
  /** the signal that ended the process, if one did (then code is 128) */
  signal?: string | null
}

export interface RunOptions {
  /** stdin: text, or exact bytes (e.g. invalid UTF-8) */
  input?: string | Uint8Array
  env?: Record<string, string | undefined>
  cwd?: string
  /** extra file descriptors, e.g. { 3: 'passphrase\n' } for --passphrase-fd 3 */
  fds?: Record<number, string>
  timeoutMs?: number
}

export class Sandbox {
  readonly dir: string
  readonly home: string
  readonly keyrackHome: string
  readonly repo: string
  readonly runtimeDir: string
  /** every stdout/stderr seen, for secret-leak searches */
  readonly transcript: string[] = []

  constructor(name = 'keyrack') {
    this.dir = mkdtempSync(join(tmpdir(), `${name}-`))
    this.home = join(this.dir, 'home')
    this.keyrackHome = join(this.home, '.rhachet', 'keyrack')
    this.repo = join(this.dir, 'repo')
    mkdirSync(this.home, { recursive: true })
    mkdirSync(this.repo, { recursive: true })
    this.runtimeDir = createRuntimeDir(this.dir)
    spawnSync('git', ['init', '-q'], { cwd: this.repo })
  }

  /** the environment a user's shell would have: nothing from the test runner leaks in */
  env(extra: Record<string, string | undefined> = {}): Record<string, string> {
    const base: Record<string, string | undefined> = {
      PATH: process.env.PATH,
      HOME: this.home,
      USER: process.env.USER ?? 'root',
      LANG: 'C.UTF-8',
      XDG_RUNTIME_DIR: this.runtimeDir,
      TMPDIR: join(this.dir, 'tmp'),
      NO_COLOR: '1',
      ...extra,
    }
    mkdirSync(base.TMPDIR!, { recursive: true })
    return Object.fromEntries(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined))
  }

  run(args: string[], options: RunOptions = {}): RunResult {
    const stdio: ('pipe' | 'ignore')[] = ['pipe', 'pipe', 'pipe']
    const fdNumbers = Object.keys(options.fds ?? {}).map(Number)
    const fdFiles: Record<number, string> = {}
    for (const fd of fdNumbers) {
      // hand the passphrase over as an open file, like `3<file` in a shell
      const file = join(this.dir, `.fd-${fd}-${Math.random().toString(36).slice(2)}`)
      writeFileSync(file, options.fds![fd]!, { mode: 0o600 })
      fdFiles[fd] = file
    }
    const { openSync, closeSync } = require('node:fs') as typeof import('node:fs')
    const opened: number[] = []
    const fullStdio: (string | number)[] = [...stdio]
    for (const fd of fdNumbers) {
      while (fullStdio.length < fd) fullStdio.push('ignore')
      const handle = openSync(fdFiles[fd]!, 'r')
      opened.push(handle)
      fullStdio[fd] = handle
    }
    const result = spawnSync(BIN, args, {
      cwd: options.cwd ?? this.repo,
      env: this.env(options.env),
      input: options.input ?? '',
      stdio: fullStdio as never,
      timeout: options.timeoutMs ?? 30_000,
      encoding: 'utf8',
    })
    for (const handle of opened) closeSync(handle)
    for (const file of Object.values(fdFiles)) rmSync(file, { force: true })
    const out: RunResult = { code: result.status ?? (result.signal ? 128 : 1), stdout: result.stdout ?? '', stderr: result.stderr ?? '', signal: result.signal }
    this.transcript.push(out.stdout, out.stderr)
    return out
  }

  /**
   * Runs the binary without blocking (for concurrency tests and for looking at a running process),
   * in the same environment as run(). stdin gets `input` and is then closed, unless `keepStdinOpen`.
   * `detached` puts it in its own process group, so `killGroup(proc)` (and the timeout) also end the
   * children it started, whatever state a failed test left them in.
   */
  spawn(args: string[], options: RunOptions & { keepStdinOpen?: boolean; cmd?: string[]; detached?: boolean } = {}): {
    proc: ReturnType<typeof Bun.spawn>
    done: Promise<RunResult>
  } {
    const proc = Bun.spawn(options.cmd ?? [BIN, ...args], {
      cwd: options.cwd ?? this.repo,
      env: this.env(options.env),
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      detached: options.detached ?? false,
    })
    const stdin = proc.stdin as import('bun').FileSink
    if (options.input) stdin.write(options.input)
    if (!options.keepStdinOpen) stdin.end()
    else stdin.flush()
    const timer = setTimeout(() => (options.detached ? killGroup(proc) : proc.kill('SIGKILL')), options.timeoutMs ?? 30_000)
    const done = (async (): Promise<RunResult> => {
      const [stdout, stderr, code] = await Promise.all([
        new Response(proc.stdout as ReadableStream).text(),
        new Response(proc.stderr as ReadableStream).text(),
        proc.exited,
      ])
      clearTimeout(timer)
      const out: RunResult = { code: proc.signalCode ? 128 : code, stdout, stderr, signal: proc.signalCode ? String(proc.signalCode) : null }
      this.transcript.push(out.stdout, out.stderr)
      return out
    })()
    return { proc, done }
  }

  /** runs any command (e.g. `sh -c …` that calls keyrack via $KEYRACK) in the sandbox environment */
  sh(script: string, options: RunOptions & { shell?: string } = {}): RunResult {
    const result = spawnSync(options.shell ?? 'sh', ['-c', script], {
      cwd: options.cwd ?? this.repo,
      env: this.env({ KEYRACK: BIN, ...options.env }),
      input: options.input ?? '',
      timeout: options.timeoutMs ?? 30_000,
      encoding: 'utf8',
    })
    const out: RunResult = { code: result.status ?? (result.signal ? 128 : 1), stdout: result.stdout ?? '', stderr: result.stderr ?? '', signal: result.signal }
    this.transcript.push(out.stdout, out.stderr)
    return out
  }

  /** init an unprotected identity (unattended machine) for an owner */
  initUnprotected(owner?: string): RunResult {
    return this.run(['init', '--no-passphrase', ...(owner ? ['--owner', owner] : [])])
  }

  writeRepoManifest(yaml: string): void {
    mkdirSync(join(this.repo, '.agent'), { recursive: true })
    writeFileSync(join(this.repo, '.agent', 'keyrack.yml'), yaml)
  }

  set(key: string, env: string, secret: string, extra: string[] = ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']): RunResult {
    return this.run(['set', '--key', key, '--env', env, ...extra, '--secret-stdin'], { input: secret })
  }

  /** every regular file under dir (recursive) */
  files(dir = this.dir): string[] {
    if (!existsSync(dir)) return []
    return readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name))
  }

  /** files (outside `except`) whose bytes contain needle */
  filesContaining(needle: string, except: (file: string) => boolean = () => false): string[] {
    return this.files().filter((f) => !except(f) && readFileSync(f).includes(needle))
  }

  cleanup(): void {
    // stop any daemon this sandbox started (its socket lives in our runtime dir)
    const sockDir = join(this.runtimeDir, 'keyrack')
    if (existsSync(sockDir))
      for (const entry of readdirSync(sockDir)) {
        if (!entry.endsWith('.sock')) continue
        const owner = entry.slice(0, -5)
        spawnSync(BIN, ['relock', '--owner', owner], { env: this.env(), timeout: 5000 })
      }
    for (const pid of daemonPidsUnder(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    rmSync(this.dir, { recursive: true, force: true })
    // every `keyrack …` command keyrack offered as a next step in this sandbox must parse
    // (issue 9: a hint that names a missing flag fails the suite, whichever test produced it)
    const problems = hintProblems(this.transcript, registry)
    if (problems.length) throw new Error(`keyrack printed hint commands it would refuse:\n${problems.join('\n')}`)
  }
}

/** SIGKILLs the process group of a process spawned with `detached: true` (it and every child it left) */
export function killGroup(proc: { pid: number }): void {
  try {
    process.kill(-proc.pid, 'SIGKILL')
  } catch {
    // the group is already gone
  }
}

/** pids of processes whose environment points into dir (daemons we started) */
export function daemonPidsUnder(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (!cmdline.includes('__daemon')) continue
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8')
      if (environ.includes(dir)) pids.push(Number(entry))
    } catch {
      // gone, or not ours to read
    }
  }
  return pids
}

/** builds dist/keyrack when it is missing (`npm test` builds it before `bun test`) */
export async function ensureBinary(): Promise<void> {
  if (existsSync(BIN)) return
  const { buildSingle } = await import('../../build.ts')
  await buildSingle()
}

/** file mode bits, e.g. 0o600 */
export function modeOf(path: string): number {
  const { statSync } = require('node:fs') as typeof import('node:fs')
  return statSync(path).mode & 0o777
}

/**
 * stdout without the failing-status line that keyrack ends sourced output with when a command
 * whose stdout is shell code (get --output exports, source, unlock) fails: `(exit N)`, N = its
 * exit code, so that `source <(keyrack …)` fails too. What is left must be empty: no key.
 */
export const withoutShellStatus = (r: RunResult): string => {
  const status = `(exit ${r.code})\n`
  return r.stdout.endsWith(status) ? r.stdout.slice(0, -status.length) : r.stdout
}
