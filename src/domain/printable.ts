/**
 * Text from outside keyrack (a file name, a path in a repo manifest, a directory the user cd'd
 * into) can carry terminal control: `ESC ] … BEL` retitles the window or hides text, `\r` or a
 * newline starts a forged `keyrack: hint:` line, U+202E turns the rest of a line around. Such
 * characters are shown escaped wherever keyrack prints or puts text into an error.
 */

/**
 * C0 controls (newline and tab included), DEL, C1 controls, bidi embeddings, overrides, isolates
 * and marks (U+061C, U+200E/F, U+202A–E, U+2066–9), and the Unicode line/paragraph separators.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const UNPRINTABLE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function escapeChar(c: string): string {
  const named = NAMED[c]
  if (named) return named
  const code = c.charCodeAt(0)
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/** one line of text with every control, bidi or line-breaking character shown as an escape */
export const printable = (text: string): string => text.replace(UNPRINTABLE, escapeChar)

/** the same, but keeps `\n`: for messages whose lines keyrack itself composed */
export const printableLines = (text: string): string => text.replace(UNPRINTABLE_BUT_NEWLINE, escapeChar)

/**
 * A path as a shell word a user can paste: as is when it is plain, else single-quoted. Control
 * characters are escaped too (the result is for reading first; such a path is hostile anyway).
 */
export const shellWord = (text: string): string =>
  /^[\w@%+=:,./-]+$/.test(text) ? text : `'${printable(text).replaceAll("'", `'\\''`)}'`
