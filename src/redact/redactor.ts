/**
 * A streaming redactor: replaces every form of every granted secret (src/redact/forms.ts) in a
 * byte stream with `[keyrack:KEY]`, however the stream is cut into chunks.
 *
 * Finding the forms: a byte-at-a-time automaton in JavaScript runs at ~150 MB/s here, short of
 * the 200 MB/s target, so the search skips instead (Wu–Manber): it looks at the last 3 bytes of
 * a window as long as the shortest form and, when those 3 bytes occur in no form, moves the
 * window by up to its whole length. Ordinary output is mostly skipped over (~1.5 GB/s). Forms
 * shorter than LONG_FORM would make the skips short, so each of them is found with the runtime's
 * native substring search instead.
 *
 * Streaming: the bytes at the end of what was read that could still begin a form are held back
 * (an Aho–Corasick automaton over the last few bytes says how many: the longest suffix that is a
 * prefix of some form); everything before that is final and written at once, so output flows
 * without delay and a secret split across reads is still found whole.
 *
 * Overlapping matches (two secrets sharing characters, a secret inside another's encoding) are
 * merged into one replaced region, so no fragment of either survives between two labels.
 */
import { Buffer } from 'node:buffer'
import { formsOf } from './forms.ts'

export interface RedactTarget {
  /** the env-var name the secret is granted as: the label says `[keyrack:KEY]` */
  key: string
  secret: string
}

/**
 * A secret shorter than this is not redacted: replacing every `1` or `true` in the output would
 * destroy it, and a secret that short guards nothing. `skipped` names such keys so callers can say so.
 */
export const MIN_SECRET_BYTES = 4
/** forms at least this long are found by the skipping search; shorter ones by native search */
const LONG_FORM = 16
/** the skip search's window is capped so that a shift fits in a byte */
const MAX_WINDOW = 255
const BLOCK = 3
const TABLE_BITS = 18
const TABLE_MASK = (1 << TABLE_BITS) - 1

const utf8 = new TextEncoder()

export interface RedactStream {
  /**
   * the redacted bytes that are final once this chunk is read (may be empty); the result may
   * share memory with `chunk`
   */
  push(chunk: Uint8Array): Uint8Array
  /** everything still held back, redacted: call once at the end of the stream */
  end(): Uint8Array
}

interface Pattern {
  bytes: Uint8Array
  label: number
}

export class Redactor {
  /** keys whose secret is too short to redact (see MIN_SECRET_BYTES) */
  readonly skipped: string[] = []
  private readonly labels: Uint8Array[] = []
  private readonly search: Search
  private readonly prefixes: PrefixAutomaton

  constructor(targets: RedactTarget[]) {
    const patterns: Pattern[] = []
    const labelOf = new Map<string, number>()
    const seen = new Set<string>()
    for (const { key, secret } of targets) {
      if (utf8.encode(secret).length < MIN_SECRET_BYTES) {
        if (secret.length > 0 && !this.skipped.includes(key)) this.skipped.push(key)
        continue
      }
      let label = labelOf.get(key)
      if (label === undefined) {
        label = this.labels.length
        labelOf.set(key, label)
        this.labels.push(utf8.encode(`[keyrack:${key}]`))
      }
      for (const form of formsOf(secret)) {
        // the same bytes for two keys (a shared secret): the first key names them
        const id = Buffer.from(form.bytes).toString('latin1')
        if (seen.has(id)) continue
        seen.add(id)
        patterns.push({ bytes: form.bytes, label })
      }
    }
    this.search = new Search(patterns)
    this.prefixes = new PrefixAutomaton(patterns)
  }

  /** true when there is nothing to redact (no secret long enough): streams pass through unchanged */
  get empty(): boolean {
    return this.labels.length === 0
  }

  /** a new stream (one per output stream: stdout and stderr are redacted independently) */
  stream(): RedactStream {
    return new Stream(this.search, this.prefixes, this.labels)
  }

  /** redacts a whole string (text that is not a stream, e.g. an MCP tool's result) */
  redactText(text: string): string {
    const stream = this.stream()
    const head = stream.push(utf8.encode(text))
    return new TextDecoder().decode(concat([head, stream.end()]))
  }
}

/** a match of one form: [start, end) relative to the buffer searched */
type Match = [start: number, end: number, label: number]

/** finds every occurrence of every form in a buffer */
class Search {
  private readonly window: number
  private readonly shift: Uint8Array
  /** patterns whose window ends in a block with this hash: head index, then a chain */
  private readonly head: Int32Array
  private readonly next: Int32Array
  private readonly long: Pattern[]
  private readonly short: { needle: Buffer; label: number }[]

  constructor(patterns: Pattern[]) {
    this.long = patterns.filter((p) => p.bytes.length >= LONG_FORM)
    this.short = patterns.filter((p) => p.bytes.length < LONG_FORM).map((p) => ({ needle: Buffer.from(p.bytes), label: p.label }))
    const window = Math.min(MAX_WINDOW, ...this.long.map((p) => p.bytes.length))
    this.window = window
    this.shift = new Uint8Array(1 << TABLE_BITS).fill(window - BLOCK + 1)
    this.head = new Int32Array(1 << TABLE_BITS).fill(-1)
    this.next = new Int32Array(this.long.length).fill(-1)
    this.long.forEach((pattern, index) => {
      const p = pattern.bytes
      for (let q = BLOCK - 1; q < window; q++) {
        const h = blockHash(p[q - 2]!, p[q - 1]!, p[q]!)
        const shift = window - 1 - q
        if (shift < this.shift[h]!) this.shift[h] = shift
        if (shift === 0) {
          this.next[index] = this.head[h]!
          this.head[h] = index
        }
      }
    })
  }

  /** every match that ends after `from` (earlier ones were reported by the previous search) */
  find(buf: Uint8Array, from: number): Match[] {
    const found: Match[] = []
    const n = buf.length
    if (this.long.length > 0) {
      const { window, shift, head, next, long } = this
      let pos = window - 1
      while (pos < n) {
        const h = blockHash(buf[pos - 2]!, buf[pos - 1]!, buf[pos]!)
        const s = shift[h]!
        if (s !== 0) {
          pos += s
          continue
        }
        const start = pos - window + 1
        for (let i = head[h]!; i !== -1; i = next[i]!) {
          const p = long[i]!.bytes
          const end = start + p.length
          if (end > from && end <= n && equalAt(buf, start, p)) found.push([start, end, long[i]!.label])
        }
        pos++
      }
    }
    if (this.short.length > 0) {
      const haystack = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
      for (const { needle, label } of this.short) {
        // only matches ending after `from`: start the search where such a match can begin
        for (let at = haystack.indexOf(needle, Math.max(0, from - needle.length + 1)); at !== -1; at = haystack.indexOf(needle, at + 1))
          found.push([at, at + needle.length, label])
      }
    }
    return found
  }
}

function blockHash(a: number, b: number, c: number): number {
  return ((a << 12) ^ (b << 6) ^ c) & TABLE_MASK
}

function equalAt(buf: Uint8Array, start: number, pattern: Uint8Array): boolean {
  for (let i = 0; i < pattern.length; i++) if (buf[start + i] !== pattern[i]) return false
  return true
}

/**
 * Aho–Corasick over the forms, used only to measure how many bytes at the end of a buffer could
 * still begin a form. A state's transitions are a dense 256-entry row when it branches (the root
 * always has one, complete) or a single expected byte when it does not: long secrets make long
 * unbranched chains, and a dense row for each of their states would cost a kilobyte per byte.
 */
class PrefixAutomaton {
  /** the longest form: no suffix longer than this minus one can be a proper prefix */
  readonly longest: number
  private readonly row: Int32Array
  private readonly rows: Int32Array
  private readonly oneByte: Int32Array
  private readonly oneNext: Int32Array
  private readonly fail: Int32Array
  private readonly depth: Int32Array

  constructor(patterns: Pattern[]) {
    const children: Map<number, number>[] = [new Map()]
    const depth: number[] = [0]
    for (const { bytes } of patterns) {
      let s = 0
      for (const b of bytes) {
        let t = children[s]!.get(b)
        if (t === undefined) {
          t = children.length
          children.push(new Map())
          depth.push(depth[s]! + 1)
          children[s]!.set(b, t)
        }
        s = t
      }
    }
    this.longest = Math.max(0, ...patterns.map((p) => p.bytes.length))
    const n = children.length
    this.depth = Int32Array.from(depth)
    this.fail = new Int32Array(n)
    this.row = new Int32Array(n).fill(-1)
    this.oneByte = new Int32Array(n).fill(-1)
    this.oneNext = new Int32Array(n)
    let rowCount = 0
    for (let s = 0; s < n; s++) if (s === 0 || children[s]!.size > 1) this.row[s] = rowCount++
    this.rows = new Int32Array(rowCount * 256).fill(-1)
    for (let s = 0; s < n; s++) {
      if (this.row[s] !== -1) for (const [b, t] of children[s]!) this.rows[this.row[s]! * 256 + b] = t
      else
        for (const [b, t] of children[s]!) {
          this.oneByte[s] = b
          this.oneNext[s] = t
        }
    }
    const queue: number[] = []
    for (let b = 0; b < 256; b++) {
      const t = this.rows[b]!
      if (t === -1) this.rows[b] = 0 // a miss at the root stays at the root
      else queue.push(t)
    }
    for (let head = 0; head < queue.length; head++) {
      const s = queue[head]!
      for (const [b, t] of children[s]!) {
        this.fail[t] = this.step(this.fail[s]!, b)
        queue.push(t)
      }
    }
  }

  private step(s: number, b: number): number {
    for (;;) {
      const r = this.row[s]!
      if (r !== -1) {
        const t = this.rows[r * 256 + b]!
        if (t !== -1) return t
      } else if (this.oneByte[s] === b) return this.oneNext[s]!
      s = this.fail[s]!
    }
  }

  /** the length of the longest suffix of buf that is a proper prefix of some form */
  openSuffix(buf: Uint8Array): number {
    let s = 0
    for (let i = Math.max(0, buf.length - this.longest + 1); i < buf.length; i++) s = this.step(s, buf[i]!)
    return this.depth[s]!
  }
}

interface Region {
  start: number
  end: number
  labels: number[]
}

const EMPTY = new Uint8Array(0)

class Stream implements RedactStream {
  /** bytes read but not yet written; held[0] is at absolute offset heldStart */
  private held: Uint8Array = EMPTY
  private heldStart = 0
  /** replaced regions not yet written, in order, non-overlapping (absolute offsets) */
  private regions: Region[] = []

  constructor(
    private readonly search: Search,
    private readonly prefixes: PrefixAutomaton,
    private readonly labels: Uint8Array[],
  ) {}

  push(chunk: Uint8Array): Uint8Array {
    if (chunk.length === 0) return EMPTY
    const buf = this.held.length === 0 ? chunk : concat([this.held, chunk])
    const base = this.heldStart
    const found = this.search.find(buf, this.held.length)
    if (found.length > 0) this.merge(found, base)
    // no form can begin before `safe`: the bytes after it are a prefix of some form
    const safe = base + buf.length - this.prefixes.openSuffix(buf)
    return this.emit(buf, base, safe)
  }

  end(): Uint8Array {
    return this.emit(this.held, this.heldStart, this.heldStart + this.held.length)
  }

  /**
   * Adds new matches to the pending regions. Overlapping ones become one region, named by the
   * keys of the matches that reach past everything before them (a match wholly inside another
   * adds no name: the outer one already hides it).
   */
  private merge(found: Match[], base: number): void {
    const all: [number, number, number[]][] = this.regions.map((r) => [r.start, r.end, r.labels])
    for (const [start, end, label] of found) all.push([base + start, base + end, [label]])
    all.sort((a, b) => a[0] - b[0] || b[1] - a[1])
    const merged: Region[] = []
    for (const [start, end, labels] of all) {
      const last = merged[merged.length - 1]
      if (last && start < last.end) {
        if (end > last.end) {
          last.end = end
          for (const label of labels) if (!last.labels.includes(label)) last.labels.push(label)
        }
      } else merged.push({ start, end, labels: [...labels] })
    }
    this.regions = merged
  }

  /** writes everything final before `safe`: text, and the regions that no later match can reach */
  private emit(buf: Uint8Array, base: number, safe: number): Uint8Array {
    const pieces: Uint8Array[] = []
    let cursor = base
    while (this.regions.length > 0 && this.regions[0]!.end <= safe) {
      const region = this.regions.shift()!
      if (region.start > cursor) pieces.push(buf.subarray(cursor - base, region.start - base))
      for (const label of region.labels) pieces.push(this.labels[label]!)
      cursor = region.end
    }
    const limit = this.regions.length > 0 ? Math.min(this.regions[0]!.start, safe) : safe
    if (limit > cursor) {
      pieces.push(buf.subarray(cursor - base, limit - base))
      cursor = limit
    }
    // copy the held tail, so a large chunk is not kept alive by its last few bytes
    this.held = cursor - base < buf.length ? buf.slice(cursor - base) : EMPTY
    this.heldStart = cursor
    return pieces.length === 1 ? pieces[0]! : concat(pieces)
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 0) return EMPTY
  let total = 0
  for (const part of parts) total += part.length
  // every byte is written below: skip zero-filling
  const out = Buffer.allocUnsafe(total)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
