/**
 * Moves a child's output stream to a sink through a redact stream, in order, with backpressure
 * (a slow reader slows the child; nothing piles up in memory). When the sink goes away (EPIPE:
 * `keyrack exec … | head`), reading stops and our end of the child's pipe is closed, so the child
 * meets a broken pipe as it would have writing to the reader directly.
 */
import type { OutputSink } from '../runtime/child.ts'
import type { RedactStream } from './redactor.ts'

export async function pipeRedacted(source: AsyncIterable<Uint8Array>, sink: OutputSink, redact: RedactStream | null): Promise<void> {
  try {
    for await (const chunk of source) {
      const out = redact ? redact.push(chunk) : chunk
      if (out.length > 0) await sink(out)
    }
    const tail = redact?.end()
    if (tail && tail.length > 0) await sink(tail)
  } catch (error) {
    // the reader went away: leaving the loop closed the pipe; the child's own exit says the rest
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error
  }
}
