/**
 * Runs `exec`'s command: a child with the given environment whose stdout/stderr are inherited or
 * piped back to us, and the writers that put piped output on this process's own stdout/stderr.
 *
 * On Bun: Bun.spawn and Bun's FileSink writers. Measured here (100 MB through a child and back
 * out): node:child_process + process.stdout.write moved ~240 MB/s, Bun.spawn + FileSink ~500-800
 * MB/s, which is what lets `exec --redact` keep up with a fast child. Bun.spawn also passes the
 * child only its three standard streams. Elsewhere (the SDK on Node or Deno): node:child_process
 * and the process's Writable streams.
 */
import { spawn as nodeSpawn } from 'node:child_process'
import { once } from 'node:events'
import type { Writable } from 'node:stream'

export interface ChildOptions {
  argv: string[]
  cwd: string
  env: Record<string, string>
  stdin: 'inherit' | 'ignore'
  /** `pipe`: stdout and stderr come back to us as streams; `inherit`: the child writes to ours directly */
  output: 'inherit' | 'pipe'
  /** its own process group (so the whole group can be signalled) */
  detached?: boolean
}

export interface ChildExit {
  exitCode: number | null
  signal: NodeJS.Signals | null
}

export interface Child {
  pid: number
  /** with output 'pipe': the child's output; leaving the iteration early closes our end of the pipe */
  stdout: AsyncIterable<Uint8Array> | null
  stderr: AsyncIterable<Uint8Array> | null
  exited: Promise<ChildExit>
  kill(signal: NodeJS.Signals): void
}

/** where piped output goes: resolves when the sink can take more; throws when it is gone (EPIPE) */
export type OutputSink = (chunk: Uint8Array) => void | Promise<void>

interface BunLike {
  spawn(argv: string[], options: object): {
    pid: number
    stdout: ReadableStream<Uint8Array> | number | undefined
    stderr: ReadableStream<Uint8Array> | number | undefined
    exited: Promise<number>
    signalCode: NodeJS.Signals | number | null
    exitCode: number | null
    kill(signal?: NodeJS.Signals): void
  }
  stdout: { writer(options: { highWaterMark: number }): FileSinkLike }
  stderr: { writer(options: { highWaterMark: number }): FileSinkLike }
}
interface FileSinkLike {
  write(chunk: Uint8Array): number
  flush(): number | Promise<number>
}

const bun = (): BunLike | undefined => (globalThis as { Bun?: BunLike }).Bun

/**
 * Starts the command.
 * @throws an Error with the errno `code` (ENOENT, EACCES, …) when it cannot be started
 */
export async function startChild(options: ChildOptions): Promise<Child> {
  const Bun = bun()
  if (Bun) {
    const proc = Bun.spawn(options.argv, {
      cwd: options.cwd,
      env: options.env,
      stdin: options.stdin,
      stdout: options.output,
      stderr: options.output,
      detached: options.detached ?? false,
    })
    const stream = (s: ReadableStream<Uint8Array> | number | undefined) => (s && typeof s === 'object' ? (s as unknown as AsyncIterable<Uint8Array>) : null)
    return {
      pid: proc.pid,
      stdout: stream(proc.stdout),
      stderr: stream(proc.stderr),
      exited: proc.exited.then(() => ({
        exitCode: proc.signalCode ? null : proc.exitCode,
        signal: typeof proc.signalCode === 'string' ? proc.signalCode : null,
      })),
      kill: (signal) => proc.kill(signal),
    }
  }
  const [file, ...args] = options.argv
  const child = nodeSpawn(file!, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: [options.stdin, options.output, options.output],
    detached: options.detached ?? false,
  })
  const exited = new Promise<ChildExit>((resolve) => child.once('exit', (exitCode, signal) => resolve({ exitCode, signal })))
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
  return { pid: child.pid!, stdout: child.stdout, stderr: child.stderr, exited, kill: (signal) => void child.kill(signal) }
}

/** this process's stdout or stderr as a sink (FileSink on Bun) */
export function processSink(which: 'stdout' | 'stderr'): OutputSink {
  const Bun = bun()
  if (Bun) {
    const writer = Bun[which].writer({ highWaterMark: 1 << 20 })
    return async (chunk) => {
      writer.write(chunk)
      // flushed at once (interactive output must not wait in a buffer); a flush that cannot
      // finish yet is the reader's backpressure, so wait for it
      const flushed = writer.flush()
      if (typeof flushed !== 'number') await flushed
    }
  }
  return writableSink(which === 'stdout' ? process.stdout : process.stderr)
}

/** any Writable as a sink, with its backpressure; its errors (EPIPE) are thrown to the writer */
export function writableSink(stream: Writable): OutputSink {
  let failed: Error | null = null
  stream.on('error', (error) => (failed = error))
  return async (chunk) => {
    if (failed) throw failed
    if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), once(stream, 'close')])
    if (failed) throw failed
  }
}
