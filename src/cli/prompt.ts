/**
 * Select and confirm prompts for humans at a terminal (consola, loaded lazily so it stays off
 * the `get` path). Secrets never go through these: they use the hidden prompt in io.ts.
 *
 * consola draws on stdout; these draw on stderr like every other human-facing line, so stdout
 * keeps only what the user asked for. A cancel (Ctrl-C, Esc: consola's cancel symbol) throws `KeyrackUsageError('cancelled')`.
 */
import { KeyrackUsageError } from '../domain/errors.ts'

export interface Choice<T extends string> {
  value: T
  label: string
  hint?: string
}

export const cancelled = (hint: string[] = []): KeyrackUsageError => new KeyrackUsageError('cancelled', hint)
export const isCancelled = (error: unknown): error is KeyrackUsageError => error instanceof KeyrackUsageError && error.message === 'cancelled'

export async function select<T extends string>(message: string, options: Choice<T>[], initial?: T): Promise<T> {
  const { consola } = await import('consola')
  const answer = await onStderr(() => consola.prompt(message, { type: 'select', options, initial, cancel: 'symbol' }))
  if (typeof answer !== 'string') throw cancelled()
  return answer as T
}

export async function confirm(message: string, initial = false): Promise<boolean> {
  const { consola } = await import('consola')
  const answer = await onStderr(() => consola.prompt(message, { type: 'confirm', initial, cancel: 'symbol' }))
  if (typeof answer !== 'boolean') throw cancelled()
  return answer
}

/** a short line of text (never a secret: it echoes), asked again until `valid` accepts it */
export async function text(message: string, valid: (value: string) => boolean): Promise<string> {
  const { consola } = await import('consola')
  for (;;) {
    const answer = await onStderr(() => consola.prompt(message, { type: 'text', cancel: 'symbol' }))
    if (typeof answer !== 'string') throw cancelled()
    if (valid(answer.trim())) return answer.trim()
    process.stderr.write('keyrack: that is not a valid name; try again (Ctrl-C to stop)\n')
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
