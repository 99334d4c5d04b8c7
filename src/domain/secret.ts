/**
 * What makes a secret storable and servable, in one place: `set` refuses such a secret before
 * anything is stored, and `get`/`exec`/`unlock` refuse one already stored (by an older keyrack,
 * or by hand), by its key's name. No message here ever holds the secret or a part of it.
 *
 * - No NUL byte: every way keyrack hands a key on (an environment variable, `export K='…'`)
 *   ends at the first NUL, so such a secret would arrive cut short, or (in `exec`) make the
 *   spawn fail with an error that quotes the whole environment entry.
 * - Well-formed Unicode: keyrack stores text; bytes that are not UTF-8 would come back as
 *   U+FFFD, and a round trip that is not byte-exact must never be reported as verified
 *   (docs/decisions.md, "Secrets are UTF-8 text").
 * - At most LIMITS.secretBytes, the most the daemon takes for one key.
 */
import { KeyrackSecretInvalidError } from './errors.ts'
import { formatBytes, LIMITS, utf8Length } from './limits.ts'

/** why a secret cannot be stored or served, as a phrase after "its secret …"; null when it can */
export function secretProblem(secret: string): string | null {
  if (secret.includes('\u0000')) return 'contains a NUL byte, which no environment variable can carry'
  if (!isWellFormed(secret)) return 'is not valid unicode text (it holds a lone surrogate)'
  const bytes = utf8Length(secret)
  if (bytes > LIMITS.secretBytes) return `is ${formatBytes(bytes)}, larger than the ${formatBytes(LIMITS.secretBytes)} keyrack takes for one key`
  return null
}

/**
 * @throws KeyrackSecretInvalidError naming the key (never the secret) when `set` must not store it
 */
export function assertSecretStorable(secret: string, key: string): void {
  const problem = secretProblem(secret)
  if (problem === null) return
  throw new KeyrackSecretInvalidError(`refusing to store the secret for ${key}: it ${problem}; nothing was stored`, refusalHint(problem))
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Bytes typed or piped in → the secret, exactly: invalid UTF-8 is refused, never replaced by
 * U+FFFD, and a leading byte-order mark is kept (it is part of what was given).
 * @throws KeyrackSecretInvalidError naming the key when the bytes are not UTF-8
 */
export function decodeSecret(bytes: Uint8Array, key?: string): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw new KeyrackSecretInvalidError(`refusing to store the secret${key ? ` for ${key}` : ''}: it is not valid UTF-8 text; nothing was stored`, [
      'keyrack stores text: encode binary data first with `base64 -w0 < file`, pipe that in instead, and decode it where it is used',
    ])
  }
}

function refusalHint(problem: string): string[] {
  if (problem.startsWith('contains a NUL')) return ['remove the NUL byte, or encode the value first (e.g. `base64 -w0`) and decode it where it is used']
  if (problem.startsWith('is not valid unicode')) return ['pass the secret as UTF-8 text']
  return [`a key holds at most ${formatBytes(LIMITS.secretBytes)}: store the credential itself, not a whole file around it`]
}

/** String.prototype.isWellFormed (ES2024), with a fallback for older runtimes */
function isWellFormed(text: string): boolean {
  const native = (text as { isWellFormed?: () => boolean }).isWellFormed
  if (typeof native === 'function') return native.call(text)
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)
}
