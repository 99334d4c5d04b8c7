/**
 * The daemon protocol's framing (protocol.ts describes the frames): newline-delimited JSON,
 * bounded in bytes. Apart from protocol.ts's request schemas, so the client — on every
 * daemon-served `get` — loads no valibot: only the daemon validates requests.
 */
import { LIMITS } from '../domain/limits.ts'

export const PROTOCOL_VERSION = 1
/** per frame, in bytes, newline excluded (LIMITS, src/domain/limits.ts, holds every limit) */
export const MAX_MESSAGE_BYTES = LIMITS.frameBytes

export function encodeFrame(message: object): string {
  return `${JSON.stringify(message)}\n`
}

/**
 * Splits a byte stream into lines, refusing any line longer than `maxBytes`. Works on bytes,
 * not strings, so a multi-byte character split across reads decodes correctly and the size
 * limit is in bytes as documented.
 */
export class LineDecoder {
  private chunks: Uint8Array[] = []
  private pending = 0
  private readonly decoder = new TextDecoder()

  constructor(private readonly maxBytes: number = MAX_MESSAGE_BYTES) {}

  /** feed bytes; returns the complete lines, or `overflow: true` once a frame is too large */
  push(data: Uint8Array): { lines: string[]; overflow: boolean } {
    const lines: string[] = []
    let start = 0
    for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, start)) {
      const part = data.subarray(start, i)
      if (this.pending + part.byteLength > this.maxBytes) return this.overflow(lines)
      const bytes = this.take(part)
      lines.push(this.decoder.decode(bytes))
      if (bytes !== part) bytes.fill(0) // our own copy of a frame that may carry a secret
      start = i + 1
    }
    const rest = data.subarray(start)
    if (this.pending + rest.byteLength > this.maxBytes) return this.overflow(lines)
    if (rest.byteLength > 0) {
      // copy: the caller's buffer may be reused by the runtime after this call
      this.chunks.push(rest.slice())
      this.pending += rest.byteLength
    }
    return { lines, overflow: false }
  }

  /** bytes of a partial frame held until its newline arrives */
  get buffered(): number {
    return this.pending
  }

  /** drop any buffered partial frame (it may hold a secret) */
  clear(): void {
    for (const chunk of this.chunks) chunk.fill(0)
    this.chunks = []
    this.pending = 0
  }

  private take(last: Uint8Array): Uint8Array {
    if (this.chunks.length === 0) return last
    const whole = new Uint8Array(this.pending + last.byteLength)
    let offset = 0
    for (const chunk of this.chunks) {
      whole.set(chunk, offset)
      offset += chunk.byteLength
    }
    whole.set(last, offset)
    this.clear()
    return whole
  }

  private overflow(lines: string[]): { lines: string[]; overflow: boolean } {
    this.clear()
    return { lines, overflow: true }
  }
}
