/**
 * Enough of the POSIX shell (and bash) grammar to see what a command line names: simple commands
 * split at `;` `&` `|` `&&` `||` newlines and parentheses; words with their quoting as the shell
 * removes it (`'…'`, `"…"`, `$'…'`, backslashes, concatenation: `cred''entials` is `credentials`);
 * parameter expansions (`$HOME`, `${HOME}`, `${X:-default}`), command and process substitutions
 * (parsed as command lines of their own), redirections and here-documents (their bodies are kept as
 * data). Unquoted glob characters are marked, so `*` in `'*'` is a letter and in `*` is a glob.
 *
 * It does not run anything and does not need to be a whole shell: what it cannot read (arithmetic,
 * a syntax error) becomes an opaque part, which the guard treats as "could be anything".
 */

export type Part =
  | { kind: 'text'; text: string; quoted: boolean }
  /** an unquoted glob character: * ? [ (brace expansion is done on text) */
  | { kind: 'glob'; text: string }
  | { kind: 'var'; name: string; fallback?: Word; quoted: boolean }
  | { kind: 'sub'; script: Script; quoted: boolean }
  /** something the guard cannot see into (arithmetic, special parameters): any text */
  | { kind: 'opaque'; quoted: boolean }

export type Word = Part[]

export interface SimpleCommand {
  /** NAME=value words before the command */
  assignments: { name: string; value: Word }[]
  words: Word[]
  /** redirection targets (files read or written), here-strings excluded */
  redirects: Word[]
  /** here-document bodies and here-strings: data handed to the command */
  data: Word[]
}

export type Script = SimpleCommand[]

const OPERATORS = ['&&', '||', ';;', '|&', ';', '&', '|', '(', ')', '\n']
const REDIRECTS = ['<<<', '<<-', '<<', '&>>', '&>', '>>', '>|', '<>', '>&', '<&', '>', '<']

/** parse a command line; never throws (what it cannot read is opaque) */
export function parseShell(source: string): Script {
  return new Parser(source).script()
}

class Parser {
  private i = 0
  private pendingHeredocs: { delimiter: string; strip: boolean; expand: boolean; into: SimpleCommand }[] = []

  constructor(private readonly s: string) {}

  script(until?: string): Script {
    const commands: Script = []
    let current = emptyCommand()
    const finish = () => {
      if (current.words.length || current.assignments.length || current.redirects.length || current.data.length) commands.push(current)
      current = emptyCommand()
    }
    while (this.i < this.s.length) {
      this.skipBlanks()
      if (this.i >= this.s.length) break
      const c = this.s[this.i]!
      if (until && this.s.startsWith(until, this.i)) {
        this.i += until.length
        break
      }
      if (c === '#' ) {
        while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++
        continue
      }
      if (c === '\\' && this.s[this.i + 1] === '\n') {
        this.i += 2
        continue
      }
      const op = OPERATORS.find((o) => this.s.startsWith(o, this.i))
      if (op) {
        this.i += op.length
        finish()
        if (op === '\n') this.readHeredocBodies()
        if (op === '(') commands.push(...this.script(')'))
        if (op === ')' && until === ')') break
        continue
      }
      const redirect = this.redirectAt()
      if (redirect) {
        this.i += redirect.length
        this.skipBlanks()
        if (redirect === '<<' || redirect === '<<-') {
          const delimiter = this.word()
          const raw = delimiter.map((p) => (p.kind === 'text' ? p.text : '')).join('')
          const expand = delimiter.every((p) => p.kind !== 'text' || !p.quoted)
          this.pendingHeredocs.push({ delimiter: raw, strip: redirect === '<<-', expand, into: current })
        } else if (redirect === '<<<') current.data.push(this.word())
        else if (redirect.endsWith('&') && /^[0-9-]/.test(this.s[this.i] ?? '')) this.word() // >&2, <&-: a descriptor, not a file
        else current.redirects.push(this.word())
        continue
      }
      const word = this.word()
      if (word.length === 0) {
        this.i++ // a character no rule took: skip it rather than loop
        continue
      }
      const assignment = current.words.length === 0 ? asAssignment(word) : null
      if (assignment) current.assignments.push(assignment)
      else current.words.push(word)
    }
    finish()
    return commands
  }

  /** a redirection operator here (with an optional fd number or {name} before it), or null */
  private redirectAt(): string | null {
    const m = /^(\d+|\{[A-Za-z_][A-Za-z0-9_]*\})?/.exec(this.s.slice(this.i, this.i + 12))
    const lead = m?.[0] ?? ''
    const op = REDIRECTS.find((r) => this.s.startsWith(r, this.i + lead.length))
    if (!op) return null
    // `<(` and `>(` are process substitutions, read as words
    if ((op === '<' || op === '>') && this.s[this.i + lead.length + 1] === '(') return null
    return lead + op
  }

  private skipBlanks(): void {
    while (this.i < this.s.length && (this.s[this.i] === ' ' || this.s[this.i] === '\t')) this.i++
  }

  private readHeredocBodies(): void {
    for (const heredoc of this.pendingHeredocs.splice(0)) {
      const lines: string[] = []
      while (this.i < this.s.length) {
        const end = this.s.indexOf('\n', this.i)
        const line = this.s.slice(this.i, end === -1 ? this.s.length : end)
        this.i = end === -1 ? this.s.length : end + 1
        const compared = heredoc.strip ? line.replace(/^\t+/, '') : line
        if (compared === heredoc.delimiter) break
        lines.push(compared)
      }
      const body = lines.join('\n')
      heredoc.into.data.push(heredoc.expand ? new Parser(body).doubleQuotedBody() : [{ kind: 'text', text: body, quoted: true }])
    }
  }

  /** a here-document body: expansions as in double quotes, quotes are letters */
  doubleQuotedBody(): Word {
    const parts: Word = []
    while (this.i < this.s.length) {
      const c = this.s[this.i]!
      if (c === '$' || c === '`') parts.push(this.dollarOrBacktick(true))
      else if (c === '\\' && '$`\\\n'.includes(this.s[this.i + 1] ?? '')) {
        pushText(parts, this.s[this.i + 1] === '\n' ? '' : this.s[this.i + 1]!, true)
        this.i += 2
      } else {
        pushText(parts, c, true)
        this.i++
      }
    }
    return parts
  }

  /** one shell word at the cursor, quotes removed and parts marked */
  private word(): Word {
    const parts: Word = []
    while (this.i < this.s.length) {
      const c = this.s[this.i]!
      if (c === ' ' || c === '\t' || c === '\n' || c === ';' || c === '&' || c === '|' || c === ')') break
      if (c === '(' ) {
        if (parts.length === 0) break
        pushText(parts, c, false) // e.g. a glob like @(…) or a function name: keep as text
        this.i++
        continue
      }
      if ((c === '<' || c === '>') && this.s[this.i + 1] === '(') {
        this.i += 2
        parts.push({ kind: 'sub', script: this.script(')'), quoted: false })
        continue
      }
      if (c === '<' || c === '>') break
      if (c === "'") {
        const end = this.s.indexOf("'", this.i + 1)
        pushText(parts, this.s.slice(this.i + 1, end === -1 ? this.s.length : end), true)
        this.i = end === -1 ? this.s.length : end + 1
      } else if (c === '"') {
        this.i++
        this.doubleQuoted(parts)
      } else if (c === '\\') {
        const next = this.s[this.i + 1]
        if (next === '\n') this.i += 2
        else {
          pushText(parts, next ?? '', true)
          this.i += 2
        }
      } else if (c === '$' && this.s[this.i + 1] === "'") {
        this.i += 2
        pushText(parts, this.ansiC(), true)
      } else if (c === '$' && this.s[this.i + 1] === '"') {
        this.i += 2
        this.doubleQuoted(parts)
      } else if (c === '$' || c === '`') parts.push(this.dollarOrBacktick(false))
      else if (c === '*' || c === '?' || c === '[') {
        parts.push({ kind: 'glob', text: c })
        this.i++
      } else {
        pushText(parts, c, false)
        this.i++
      }
    }
    return parts
  }

  private doubleQuoted(parts: Word): void {
    while (this.i < this.s.length && this.s[this.i] !== '"') {
      const c = this.s[this.i]!
      if (c === '\\' && '$`"\\\n'.includes(this.s[this.i + 1] ?? '')) {
        if (this.s[this.i + 1] !== '\n') pushText(parts, this.s[this.i + 1]!, true)
        this.i += 2
      } else if (c === '$' || c === '`') parts.push(this.dollarOrBacktick(true))
      else {
        pushText(parts, c, true)
        this.i++
      }
    }
    this.i++ // the closing quote
  }

  private dollarOrBacktick(quoted: boolean): Part {
    const s = this.s
    if (s[this.i] === '`') {
      const end = s.indexOf('`', this.i + 1)
      const inner = s.slice(this.i + 1, end === -1 ? s.length : end).replace(/\\([`\\$])/g, '$1')
      this.i = end === -1 ? s.length : end + 1
      return { kind: 'sub', script: parseShell(inner), quoted }
    }
    this.i++ // the $
    if (s.startsWith('((', this.i)) {
      const end = s.indexOf('))', this.i + 2)
      this.i = end === -1 ? s.length : end + 2
      return { kind: 'opaque', quoted }
    }
    if (s[this.i] === '(') {
      this.i++
      return { kind: 'sub', script: this.script(')'), quoted }
    }
    if (s[this.i] === '{') {
      const start = this.i + 1
      let depth = 1
      let j = start
      for (; j < s.length && depth > 0; j++) {
        if (s[j] === '{') depth++
        else if (s[j] === '}') depth--
      }
      const body = s.slice(start, j - 1)
      this.i = j
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::?[-=](.*))?$/s.exec(body)
      if (!m) return { kind: 'opaque', quoted }
      return { kind: 'var', name: m[1]!, quoted, ...(m[2] !== undefined ? { fallback: new Parser(m[2]).word() } : {}) }
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.i))
    if (m) {
      this.i += m[0].length
      return { kind: 'var', name: m[0], quoted }
    }
    if (/^[0-9@*#?$!-]/.test(s[this.i] ?? '')) {
      this.i++
      return { kind: 'opaque', quoted }
    }
    return { kind: 'text', text: '$', quoted }
  }

  /** the inside of $'…' with its C escapes decoded */
  private ansiC(): string {
    let out = ''
    while (this.i < this.s.length && this.s[this.i] !== "'") {
      const c = this.s[this.i]!
      if (c !== '\\') {
        out += c
        this.i++
        continue
      }
      const rest = this.s.slice(this.i + 1)
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' }
      let m: RegExpExecArray | null
      if (rest[0]! in simple) {
        out += simple[rest[0]!]
        this.i += 2
      } else if ((m = /^x([0-9a-fA-F]{1,2})/.exec(rest))) {
        out += String.fromCharCode(parseInt(m[1]!, 16))
        this.i += 1 + m[0].length
      } else if ((m = /^u([0-9a-fA-F]{1,4})/.exec(rest)) || (m = /^U([0-9a-fA-F]{1,8})/.exec(rest))) {
        out += String.fromCodePoint(parseInt(m[1]!, 16))
        this.i += 1 + m[0].length
      } else if ((m = /^[0-7]{1,3}/.exec(rest))) {
        out += String.fromCharCode(parseInt(m[0], 8))
        this.i += 1 + m[0].length
      } else {
        out += `\\${rest[0] ?? ''}`
        this.i += 2
      }
    }
    this.i++
    return out
  }
}

function emptyCommand(): SimpleCommand {
  return { assignments: [], words: [], redirects: [], data: [] }
}

function pushText(parts: Word, text: string, quoted: boolean): void {
  const last = parts[parts.length - 1]
  if (last?.kind === 'text' && last.quoted === quoted) last.text += text
  else parts.push({ kind: 'text', text, quoted })
}

/** NAME=value (unquoted NAME, before the command name) */
function asAssignment(word: Word): { name: string; value: Word } | null {
  const first = word[0]
  if (first?.kind !== 'text' || first.quoted) return null
  const m = /^([A-Za-z_][A-Za-z0-9_]*)\+?=/.exec(first.text)
  if (!m) return null
  const value: Word = [...(first.text.length > m[0].length ? [{ ...first, text: first.text.slice(m[0].length) }] : []), ...word.slice(1)]
  return { name: m[1]!, value }
}
