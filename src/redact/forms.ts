/**
 * The forms a secret takes in a program's output: the secret itself and the encodings programs
 * commonly apply before printing it (base64, base64url, hex, percent-encoding, JSON string
 * escapes). `exec --redact` replaces every one of them. All forms are byte strings (UTF-8).
 *
 * base64 is the subtle one: a secret inside a larger encoded blob (`Authorization: Basic
 * base64(user:secret)`, a base64'd .env file) starts at byte offset 0, 1 or 2 of a 3-byte group,
 * and each offset gives different characters. For each offset we keep the characters that depend
 * on the secret's bytes alone (the "core"), so an embedded secret is found whatever precedes it.
 */
import { Buffer } from 'node:buffer'

/** a form shorter than this is matched only when it is the secret itself or its whole encoding */
export const MIN_CORE_CHARS = 8

export interface SecretForm {
  /** the bytes to look for */
  bytes: Uint8Array
  /** what it is, for tests and diagnostics: raw, base64, base64-core-1, hex, … */
  kind: string
}

const utf8 = new TextEncoder()

/** every distinct form of one secret (the raw secret first) */
export function formsOf(secret: string): SecretForm[] {
  const raw = utf8.encode(secret)
  const found = new Map<string, string>([[secret, 'raw']]) // form text → kind (the first kind wins)
  const add = (kind: string, text: string) => {
    if (text.length > 0 && !found.has(text)) found.set(text, kind)
  }

  const base64 = Buffer.from(raw).toString('base64')
  add('base64', base64)
  add('base64-unpadded', base64.replace(/=+$/, ''))
  const base64url = Buffer.from(raw).toString('base64url')
  add('base64url', base64url)
  add('base64url-padded', base64url + '='.repeat((4 - (base64url.length % 4)) % 4))
  for (let offset = 0; offset < 3; offset++) {
    const core = base64Core(raw, offset)
    if (core.length >= MIN_CORE_CHARS) {
      add(`base64-core-${offset}`, core)
      add(`base64url-core-${offset}`, core.replaceAll('+', '-').replaceAll('/', '_'))
    }
  }

  const hex = Buffer.from(raw).toString('hex')
  add('hex', hex)
  add('hex-upper', hex.toUpperCase())

  for (const [kind, text] of percentForms(secret)) add(kind, text)
  for (const [kind, text] of jsonForms(secret)) add(kind, text)

  return [...found].map(([text, kind]) => ({ bytes: utf8.encode(text), kind }))
}

/**
 * The base64 characters of `raw` that depend on its bytes alone when it starts `offset` bytes into
 * a 3-byte group: character j covers bits [6j, 6j+6) of the stream, so it is the secret's own when
 * 6j ≥ 8·offset and 6j + 6 ≤ 8·(offset + length).
 */
export function base64Core(raw: Uint8Array, offset: number): string {
  const padded = new Uint8Array(offset + raw.length)
  padded.set(raw, offset)
  const encoded = Buffer.from(padded).toString('base64')
  const start = Math.ceil((8 * offset) / 6)
  const end = Math.floor((8 * (offset + raw.length)) / 6)
  return end > start ? encoded.slice(start, end) : ''
}

/** percent-encodings as URL libraries write them: JavaScript's, RFC 3986 strict, forms (+ for space), path style (/ kept) */
function percentForms(secret: string): [string, string][] {
  const component = safeEncode(secret)
  if (component === null) return []
  const strict = component.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  const form = new URLSearchParams({ k: secret }).toString().slice(2)
  const path = strict.replaceAll('%2F', '/')
  const out: [string, string][] = []
  for (const [kind, text] of [['percent', component], ['percent-strict', strict], ['percent-form', form], ['percent-path', path]] as const) {
    out.push([kind, text], [`${kind}-lower`, text.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())])
  }
  return out
}

function safeEncode(secret: string): string | null {
  try {
    return encodeURIComponent(secret)
  } catch {
    return null // a lone surrogate cannot be percent-encoded: that form cannot occur
  }
}

/**
 * The inside of a JSON string holding the secret, as common encoders write it: JSON.stringify,
 * Python's json.dumps (non-ASCII as \uXXXX), Go's encoding/json (<, >, & and U+2028/9 as \u00XX),
 * and PHP's json_encode (/ as \/).
 */
function jsonForms(secret: string): [string, string][] {
  const standard = JSON.stringify(secret).slice(1, -1)
  const u = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  const ascii = standard.replace(/[^\x00-\x7f]/g, u)
  const html = standard.replace(/[<>&\u2028\u2029]/g, u)
  const slash = standard.replaceAll('/', '\\/')
  return [
    ['json', standard],
    ['json-ascii', ascii],
    ['json-ascii-upper', ascii.replace(/\\u([0-9a-f]{4})/g, (_, h: string) => `\\u${h.toUpperCase()}`)],
    ['json-html', html],
    ['json-slash', slash],
    ['json-ascii-slash', ascii.replaceAll('/', '\\/')],
  ]
}
