/**
 * The prompt port (src/ports.ts) for a human at a terminal: lines of input through our own
 * readers (io.ts: hidden for secrets — consola has no masked input — and plain for text, since
 * consola's text prompt answers nothing under Bun), consola for selections and confirmations —
 * loaded lazily so it stays off the `get` path. It exists only when stdin and stderr are
 * terminals; commands pass `ttyPrompt()` (undefined otherwise) into the context.
 *
 * consola draws on stdout; these draw on stderr like every other human-facing line, so stdout
 * keeps only what the user asked for. A cancel (Ctrl-C, Esc) throws KeyrackCancelledError.
 */
import { KeyrackCancelledError } from '../domain/errors.ts'
import type { Choice, Prompt } from '../ports.ts'
import { decodeSecret } from '../domain/secret.ts'
import { isInteractive, readHidden, readLine } from './io.ts'

/** the terminal's prompt port, or undefined when nobody is at a terminal */
export function ttyPrompt(): Prompt | undefined {
  if (!isInteractive()) return undefined
  return {
    // a secret is decoded strictly: bytes that are not UTF-8 are refused (retryable), never replaced
    secret: (message) => readHidden(`keyrack: ${message}: `, (bytes) => decodeSecret(bytes)),
    text: async (message, initial) => (await readLine(`keyrack: ${message}${initial ? ` [${initial}]` : ''}: `)).trim() || initial || '',
    select: async <T extends string>(message: string, options: Choice<T>[], initial?: T) => {
      const { consola } = await import('consola')
      const answer = await onStderr(() => consola.prompt(message, { type: 'select', options, initial, cancel: 'symbol' }))
      if (typeof answer !== 'string') throw new KeyrackCancelledError()
      return answer as T
    },
    confirm: async (message, initial = false) => {
      const { consola } = await import('consola')
      const answer = await onStderr(() => consola.prompt(message, { type: 'confirm', initial, cancel: 'symbol' }))
      if (typeof answer !== 'boolean') throw new KeyrackCancelledError()
      return answer
    },
  }
}

/** runs a prompt with stdout's writes (and its size, which the prompt lays out by) sent to stderr */
async function onStderr<T>(prompt: () => Promise<T>): Promise<T> {
  const out = process.stdout
  const err = process.stderr
  const write = out.write
  const own = { columns: Object.getOwnPropertyDescriptor(out, 'columns'), rows: Object.getOwnPropertyDescriptor(out, 'rows') }
  out.write = err.write.bind(err) as typeof out.write
  Object.defineProperty(out, 'columns', { configurable: true, get: () => err.columns || 80 })
  Object.defineProperty(out, 'rows', { configurable: true, get: () => err.rows || 24 })
  try {
    return await prompt()
  } finally {
    out.write = write
    for (const name of ['columns', 'rows'] as const) {
      const descriptor = own[name]
      if (descriptor) Object.defineProperty(out, name, descriptor)
      else delete (out as unknown as Record<string, unknown>)[name]
    }
  }
}
