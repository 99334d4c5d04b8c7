/**
 * Terminal and stdin input: hidden prompts for secrets and passphrases, `--secret-stdin`,
 * `--passphrase-stdin` / `--passphrase-fd N`. Interaction happens only on a TTY; without one,
 * commands fail with guidance instead of waiting for input that cannot come.
 */
import { closeSync, openSync, readFileSync } from 'node:fs'
import tty from 'node:tty'
import type { PassphraseSource } from '../context.ts'
import { KeyrackCancelledError, KeyrackNoTerminalError, KeyrackUsageError } from '../domain/errors.ts'
import { decodeSecret } from '../domain/secret.ts'

export const isInteractive = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY)

/**
 * Whether a hidden prompt can be shown: a human sees stderr on a terminal, and types either on
 * stdin or — when stdin carries data, as in `printf %s "$KEY" | keyrack set … --secret-stdin` —
 * on the controlling terminal, as ssh, sudo and age do. A caller that captures stderr (an agent,
 * a script) never gets a prompt on the human's terminal.
 */
export function canPrompt(): boolean {
  if (!process.stderr.isTTY) return false
  if (process.stdin.isTTY) return true
  try {
    closeSync(openSync('/dev/tty', 'r'))
    return true
  } catch {
    return false
  }
}

/** the terminal a human types on: stdin when it is one, else the controlling terminal */
function terminalInput(): { stream: tty.ReadStream; close(): void } {
  if (process.stdin.isTTY) return { stream: process.stdin as tty.ReadStream, close: () => void process.stdin.pause() }
  const stream = new tty.ReadStream(openSync('/dev/tty', 'r'))
  return { stream, close: () => stream.destroy() }
}

/**
 * Reads a line the human types and sees (never a secret), on the terminal as the terminal's own
 * line editing gives it (backspace works; Ctrl-C interrupts). consola's text prompt returned
 * nothing on Bun in a pseudo-terminal, so a name like the org is read here.
 */
export function readLine(prompt: string): Promise<string> {
  const { stream, close } = terminalInput()
  stream.setRawMode(false)
  process.stderr.write(prompt)
  return new Promise((resolve, reject) => {
    let input = ''
    stream.setEncoding('utf8')
    const done = (error?: Error) => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      close()
      if (error) reject(error)
      else resolve(input.replace(/\r?\n[\s\S]*$/, ''))
    }
    const onData = (chunk: string) => {
      input += chunk
      if (input.includes('\n')) done()
    }
    const onEnd = () => done(new KeyrackCancelledError())
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.resume()
  })
}

/**
 * Reads a line from the terminal without echoing it. Works on bytes and decodes once at the end,
 * strictly: bytes that are not UTF-8 (a terminal in another encoding) are refused by `decode`,
 * never turned into U+FFFD.
 */
export function readHidden(prompt: string, decode: (bytes: Uint8Array) => string = decodeTyped): Promise<string> {
  const { stream: stdin, close } = terminalInput()
  // echo off before the prompt appears: a fast typist (or a pasted passphrase) is never echoed
  stdin.setRawMode(true)
  process.stderr.write(prompt)
  return new Promise((resolve, reject) => {
    const typed: number[] = []
    stdin.resume()
    const finish = (error?: Error) => {
      stdin.setRawMode(false)
      stdin.off('data', onData)
      close()
      process.stderr.write('\n')
      if (error) return reject(error)
      try {
        resolve(decode(Uint8Array.from(typed)))
      } catch (decodeError) {
        reject(decodeError)
      } finally {
        typed.fill(0)
      }
    }
    const onData = (chunk: Buffer | string) => {
      for (const byte of typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk) {
        if (byte === 0x0d || byte === 0x0a) return finish()
        if (byte === 0x03 || byte === 0x04) return finish(new KeyrackCancelledError())
        if (byte === 0x7f || byte === 0x08) {
          // erase one character: its UTF-8 continuation bytes (10xxxxxx), then its lead byte
          while (typed.length > 0 && (typed[typed.length - 1]! & 0xc0) === 0x80) typed.pop()
          typed.pop()
        } else if (byte >= 0x20) typed.push(byte)
      }
    }
    stdin.on('data', onData)
  })
}

/** all of stdin as bytes, minus one trailing newline (what `echo` and here-strings add) */
export async function readStdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array))
  const all = Buffer.concat(chunks)
  const end = all.at(-1) === 0x0a ? (all.at(-2) === 0x0d ? all.length - 2 : all.length - 1) : all.length
  return all.subarray(0, end)
}

/** all of stdin as text (strict UTF-8), minus one trailing newline */
export async function readStdin(): Promise<string> {
  return decodeTyped(await readStdinBytes())
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** what was typed or piped in, as text; refused (never replaced with U+FFFD) when it is not UTF-8 */
function decodeTyped(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw new KeyrackUsageError('the input is not valid UTF-8 text', ["check your terminal's encoding (`locale` should say UTF-8), or pipe the input in as UTF-8"])
  }
}

export interface PassphraseArgs {
  'passphrase-stdin'?: boolean
  'passphrase-fd'?: string
}

/**
 * Where a passphrase may come from, in order: `--passphrase-fd N`, `--passphrase-stdin`, a hidden
 * prompt on a terminal (three tries; a new passphrase is asked twice). Undefined when none —
 * then a protected identity counts as locked.
 */
export function passphraseSource(args: PassphraseArgs, options: { stdinTaken?: boolean } = {}): PassphraseSource | undefined {
  const fdArg = args['passphrase-fd']
  if (fdArg !== undefined) {
    const fd = Number.parseInt(fdArg, 10)
    if (!Number.isInteger(fd) || fd < 0 || String(fd) !== fdArg.trim())
      throw new KeyrackUsageError('`--passphrase-fd` takes a file descriptor number', ['e.g. `--passphrase-fd 3 3<passphrase.txt`'])
    return once(async () => nonEmpty(firstLine(readPassphraseFd(fd)), `file descriptor ${fd}`, `put the passphrase on the first line of the file given as fd ${fd} (e.g. \`${fd}<~/.config/keyrack-passphrase\`)`))
  }
  if (args['passphrase-stdin']) {
    if (options.stdinTaken)
      throw new KeyrackUsageError('stdin cannot carry both the secret and the passphrase', ['pass the passphrase with `--passphrase-fd 3 3<file` instead'])
    return once(async () => nonEmpty(firstLine(await readStdin()), 'stdin', 'pipe the passphrase in as the first line of stdin, or use `--passphrase-fd 3 3<file`'))
  }
  if (!canPrompt()) return undefined
  return async ({ purpose, attempt }) => {
    if (attempt > 3) return null
    if (attempt > 1) process.stderr.write('keyrack: wrong passphrase, try again\n')
    const first = await readHidden(`keyrack: ${purpose}: `)
    if (!purpose.startsWith('new ')) return first
    const again = await readHidden('keyrack: the same passphrase again: ')
    if (again !== first) throw new KeyrackUsageError('the two passphrases differ', ['run the command again'])
    return first
  }
}

/** the passphrase on `--passphrase-fd N`; a descriptor that is not open is a usage error, not a crash */
function readPassphraseFd(fd: number): string {
  try {
    return readFileSync(fd, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const open = `open it for keyrack in the same command: \`--passphrase-fd ${fd} ${fd}<~/.config/keyrack-passphrase\``
    if (code === 'EBADF') throw new KeyrackUsageError(`\`--passphrase-fd ${fd}\`: file descriptor ${fd} is not open`, [open])
    if (code === 'EISDIR') throw new KeyrackUsageError(`\`--passphrase-fd ${fd}\`: file descriptor ${fd} is a directory`, [open])
    throw new KeyrackUsageError(`\`--passphrase-fd ${fd}\`: cannot read file descriptor ${fd} (${code ?? 'error'})`, [open])
  }
}

function once(read: () => Promise<string>): PassphraseSource {
  let value: Promise<string> | undefined
  return async ({ attempt }) => {
    if (attempt > 1) return null
    value ??= read()
    return value
  }
}

const firstLine = (text: string): string => text.split(/\r?\n/)[0] ?? ''

/** an empty passphrase is a missing one, not a wrong one: say so */
function nonEmpty(passphrase: string, where: string, hint: string): string {
  if (passphrase === '') throw new KeyrackUsageError(`no passphrase on ${where}`, [hint])
  return passphrase
}

/**
 * The secret for `set`: `--secret-stdin`, else a hidden prompt on a terminal, else an error whose
 * hint is `command` (the user's `keyrack set …`, without the secret) with the secret piped in.
 */
export async function readSecret(args: { 'secret-stdin'?: boolean }, key: string, command: string): Promise<string> {
  if (args['secret-stdin']) return decodeSecret(await readStdinBytes(), key)
  // the secret itself is typed only on stdin's own terminal: never mixed with piped input
  if (isInteractive()) return readHidden(`keyrack: secret for ${key} (input hidden): `, (bytes) => decodeSecret(bytes, key))
  throw new KeyrackNoTerminalError('no terminal to type the secret in, and no `--secret-stdin`', [
    `pipe it in: \`printf %s "$SECRET" | ${command} --secret-stdin\` (or run on a terminal)`,
  ])
}

/**
 * One passphrase for one command that opens the identity several times (`fill`: the plan, each
 * `set`, the `unlock`): the last one typed is kept in this process only while it runs, and asked
 * again after a wrong try. `forget()` drops it. Never stored, never passed on.
 */
export function rememberPassphrase(source: PassphraseSource): PassphraseSource & { forget(): void } {
  let remembered: string | null = null
  const remember = async (request: { purpose: string; attempt: number }) => {
    if (request.attempt === 1 && remembered !== null) return remembered
    remembered = await source(request)
    return remembered
  }
  return Object.assign(remember, { forget: () => void (remembered = null) })
}
