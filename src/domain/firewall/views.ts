/**
 * The forms of a value the firewall looks at (issue 8: "the firewall normalises before it
 * matches"). A credential does not stop being one because it was pasted with a stray control
 * character or a colour code, base64-encoded into a config blob, percent-encoded into a URL or
 * `\u`-escaped into a JSON string: each decoder below turns a value into the text a program would
 * get back by decoding it, and the firewall matches its rules against every such view.
 *
 * Decoders are data (one table, like the rules). Decoded bytes become a latin1 string (one char
 * per byte): credentials are ASCII, so they survive whatever bytes surround them, and no decoder
 * can fail on invalid UTF-8.
 *
 * Cost: this runs for every key on the `get` path, in a process that lives a few milliseconds and
 * interprets its JavaScript: the work is done by native regexes and node:buffer, never by loops
 * over characters, and each decoder gives up at its first cheap test when it does not apply.
 */

import { Buffer } from 'node:buffer'

export type DecoderId = 'controls' | 'base64' | 'hex' | 'percent' | 'escapes'

export interface Decoder {
  readonly id: DecoderId
  /** how a message names a value seen through this decoder, e.g. "base64-encoded"; null: not an encoding */
  readonly label: string | null
  readonly decode: (text: string) => string | null
}

/** whitespace, control (Cc) and format (Cf: zero-width space, BOM, bidi marks, tags) characters */
const EDGE_JUNK = /^[\s\p{Cc}\p{Cf}]+|[\s\p{Cc}\p{Cf}]+$/gu
/**
 * Terminal escape sequences (CSI `ESC [ … letter`, OSC `ESC ] … BEL/ST`, two-character `ESC x`), as
 * copied along with coloured output, then any other control or format character, except the line
 * and tab whitespace that separates tokens
 */
const INNER_JUNK =
  /\x1B\[[0-?]*[ -/]*[@-~]|\x1B\][^\x07\x1B]*(?:\x07|\x1B\\)?|\x1B[@-Z\\-_]|[\p{Cf}\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]/gu

/** printable ASCII other than space */
const isPlain = (code: number): boolean => code > 0x20 && code < 0x7f
/** anything but printable ASCII, tab and line breaks */
const UNUSUAL = /[^\x20-\x7E\t\n\r]/
/** plain text: printable ASCII, tabs and line breaks only (nothing to trim but spaces, nothing to drop) */
const isPlainText = (text: string): boolean => !UNUSUAL.test(text)

/** trims whitespace and control/format characters at both ends (a NUL or a BOM is not a boundary a key can hide behind) */
export function trimJunk(value: string): string {
  if (value.length > 0 && isPlain(value.charCodeAt(0)) && isPlain(value.charCodeAt(value.length - 1))) return value
  return value.replace(EDGE_JUNK, '')
}

// base64 (standard or url-safe, padded or not, wrapped in lines as `base64` prints it). The
// shortest credential in the table (an AWS key id, 20 characters) is 28 characters of base64.
const BASE64 = /^[A-Za-z0-9+/_\-\s]+(?:=\s*){0,2}$/
const MIN_BASE64 = 24
const HEX = /^[0-9A-Fa-f\s]+$/
const MIN_HEX = 40
const WHITESPACE = /\s+/g
const PADDING = /=+$/
const PERCENT = /%([0-9A-Fa-f]{2})/g
// JSON/JS string escapes: \uXXXX, \u{X…}, \xXX and the one-letter ones
const ESCAPE = /\\(?:u([0-9A-Fa-f]{4})|u\{([0-9A-Fa-f]{1,6})\}|x([0-9A-Fa-f]{2})|([nrtbfv0"'\\/]))/g
const ONE_LETTER: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v', '0': '\0' }

// native decoders (atob, node:buffer): a JS loop over the characters would cost more than the
// whole rest of the check in a cold process
function decodeBase64(text: string): string | null {
  if (text.length < MIN_BASE64 || !BASE64.test(text)) return null
  const compact = text.replace(WHITESPACE, '').replace(PADDING, '').replaceAll('-', '+').replaceAll('_', '/')
  if (compact.length < MIN_BASE64 || compact.length % 4 === 1) return null
  // atob gives the bytes as a latin1 string directly; it wants the standard alphabet, padded
  try {
    return atob(compact + '='.repeat((4 - (compact.length % 4)) % 4))
  } catch {
    return null
  }
}

function decodeHex(text: string): string | null {
  if (text.length < MIN_HEX || !HEX.test(text)) return null
  const compact = text.replace(WHITESPACE, '')
  if (compact.length < MIN_HEX || compact.length % 2 === 1) return null
  return Buffer.from(compact, 'hex').toString('latin1')
}

function decodePercent(text: string): string | null {
  if (!text.includes('%')) return null
  const out = text.replace(PERCENT, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
  return out === text ? null : out
}

function decodeEscapes(text: string): string | null {
  if (!text.includes('\\')) return null
  const out = text.replace(ESCAPE, (_, u4?: string, uBraced?: string, x2?: string, letter?: string) => {
    const hex = u4 ?? uBraced ?? x2
    if (hex !== undefined) {
      const code = Number.parseInt(hex, 16)
      return code <= 0x10ffff ? String.fromCodePoint(code) : ''
    }
    return ONE_LETTER[letter!] ?? letter!
  })
  return out === text ? null : out
}

function dropInnerJunk(text: string): string | null {
  if (isPlainText(text)) return null
  const out = text.replace(INNER_JUNK, '')
  return out === text ? null : out
}

/** the decoders, in the order their views are looked at */
export const DECODERS: readonly Decoder[] = [
  // `AKIA\u200bIOSF…`, a NUL in the middle, a colour code before it: the key a program (or a
  // person copying from a terminal) would use once they are stripped
  { id: 'controls', label: null, decode: dropInnerJunk },
  { id: 'base64', label: 'base64-encoded', decode: decodeBase64 },
  { id: 'hex', label: 'hex-encoded', decode: decodeHex },
  { id: 'percent', label: 'percent-encoded', decode: decodePercent },
  { id: 'escapes', label: 'escaped', decode: decodeEscapes },
]

export interface View {
  /** the value as seen through `via`, trimmed */
  readonly text: string
  /** the decoders applied, outermost first; empty for the value itself */
  readonly via: readonly DecoderId[]
}

/** nested encodings deeper than this (base64 of a %-encoded \u-escaped key) are not unwrapped */
const MAX_DEPTH = 3
/** a hard bound on the work one value can cause, whatever it nests */
const MAX_VIEWS = 24

/**
 * Visits every view of a value: the trimmed value first, then breadth first through the
 * decoders, each decoded text once, until `visit` returns true (found what it needed). Decoders
 * see the untrimmed text (a colour code's ESC is what marks it as one); a view is decoded only
 * after it was visited, so an early stop saves the decoding.
 *
 * A decoded view that is not plain text (random bytes: what a base64 password decodes to) is
 * searched as it is but not decoded further: an encoding nested inside it would be text.
 */
export function visitViews(value: string, visit: (view: View) => boolean): void {
  const queue: { raw: string; via: readonly DecoderId[] }[] = [{ raw: value, via: [] }]
  const seen = new Set<string>([value])
  for (let next = 0; next < queue.length && next < MAX_VIEWS; next++) {
    const { raw, via } = queue[next]!
    const binary = via.length > 0 && !isPlainText(raw)
    if (visit({ text: binary ? raw : trimJunk(raw), via })) return
    if (binary || via.length >= MAX_DEPTH) continue
    for (const decoder of DECODERS) {
      const decoded = decoder.decode(raw)
      if (decoded === null || seen.has(decoded)) continue
      seen.add(decoded)
      queue.push({ raw: decoded, via: [...via, decoder.id] })
    }
  }
}

/** the message label of a decoder ("base64-encoded"), or null for one that is not an encoding */
export function decoderLabel(id: DecoderId): string | null {
  return DECODERS.find((d) => d.id === id)?.label ?? null
}
