/**
 * The guard's decision for one tool call: which paths does it read (or write), resolved as the
 * shell and the file system would resolve them, and does any of them hold credential material?
 *
 * Paths are resolved honestly: quotes and escapes removed as the shell removes them, `~` and
 * `$HOME` (and any variable the guard's environment or the command itself sets) expanded, brace
 * expansion, `..` normalised, relative paths taken from the call's working directory, globs expanded
 * against the file system as the shell will expand them, and symlinks followed (a link into the
 * keyrack home is the keyrack home). A part the guard cannot know (an unknown variable, a command
 * substitution) may be anything: the path is then tested as a pattern against the protected
 * locations. Command substitutions, `sh -c`/`bash -c`/`eval` scripts are checked as command lines of
 * their own; code given to interpreters (`python -c`, `node -e`, here-documents) is searched for
 * path-like words.
 *
 * Limits, stated in the README: this is defense in depth on tool calls, not a sandbox. A program the
 * agent writes and runs can open any file the user can.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path'
import { parseShell, type Part, type Script, type SimpleCommand, type Word } from './shell.ts'
import type { ProtectedRule, ProtectedSet } from './protected.ts'

export interface ToolCall {
  tool: string
  input: Record<string, unknown>
  cwd: string
}

export interface GuardContext {
  protected: ProtectedSet
  /** variables the shell would know (the hook's environment) */
  env: Record<string, string | undefined>
  home: string
  /** block `keyrack get`/`source` (the owner's `agent-values: deny`) */
  denyValues: () => boolean
}

export interface Finding {
  /** the path as the call wrote it (or the command) */
  named: string
  /** where it resolved */
  resolved: string
  rule: ProtectedRule | { id: 'agent-values' | 'credential-command'; what: string; instead: string }
}

/** tools whose input names one file they read or write */
const FILE_TOOLS: Record<string, string[]> = {
  // Claude Code
  Read: ['file_path'],
  Write: ['file_path'],
  Edit: ['file_path'],
  MultiEdit: ['file_path'],
  NotebookEdit: ['notebook_path'],
  NotebookRead: ['notebook_path'],
  Grep: ['path'],
  // Gemini CLI
  read_file: ['file_path', 'absolute_path'],
  write_file: ['file_path'],
  replace: ['file_path'],
  grep_search: ['dir_path', 'path'],
}
const SHELL_TOOLS = new Set(['Bash', 'run_shell_command', 'shell', 'exec_command', 'local_shell'])

export function checkToolCall(call: ToolCall, ctx: GuardContext): Finding[] {
  const findings: Finding[] = []
  const cwd = call.cwd || process.cwd()
  if (SHELL_TOOLS.has(call.tool)) {
    const command = call.input.command
    const text = Array.isArray(command) ? command.map(String).join(' ') : typeof command === 'string' ? command : ''
    new ShellCheck(ctx, cwd, findings).script(parseShell(text), new Map())
  }
  for (const field of FILE_TOOLS[call.tool] ?? []) {
    const value = call.input[field]
    if (typeof value === 'string' && value !== '') checkLiteralPath(ctx, value, resolvePath(value, cwd, ctx.home), findings)
  }
  if (call.tool === 'read_many_files') {
    const include = call.input.include ?? call.input.paths
    for (const item of Array.isArray(include) ? include : []) if (typeof item === 'string') checkWordText(ctx, item, cwd, findings)
  }
  if (call.tool === 'apply_patch' && typeof call.input.input === 'string') {
    for (const m of call.input.input.matchAll(/^\*\*\* (?:Add|Update|Delete) File: (.+)$/gm)) checkLiteralPath(ctx, m[1]!, resolvePath(m[1]!.trim(), cwd, ctx.home), findings)
  }
  // an MCP tool (mcp__server__tool): any argument that is a path
  if (call.tool.startsWith('mcp__') || call.tool.startsWith('mcp_'))
    for (const value of stringsIn(call.input)) if (/^(~|\/|\.\.?\/)/.test(value)) checkWordText(ctx, value, cwd, findings)
  return dedupe(findings)
}

// ---- paths ----------------------------------------------------------------------------------

function resolvePath(path: string, cwd: string, home: string): string {
  const expanded = path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path
  return normalize(isAbsolute(expanded) ? expanded : resolve(cwd, expanded))
}

/** the real location (symlinks followed); for a path that does not exist, its nearest existing parent's */
function realPath(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    const parent = dirname(path)
    return parent === path ? path : join(realPath(parent), basename(path))
  }
}

function checkLiteralPath(ctx: GuardContext, named: string, path: string, findings: Finding[], recursive = false): void {
  for (const candidate of new Set([path, realPath(path)])) {
    const rule = ctx.protected.protectedBy(candidate) ?? (recursive ? ctx.protected.containedIn(candidate) : null)
    if (rule) {
      findings.push({ named, resolved: candidate, rule })
      return
    }
  }
}

/** a path written inside a string (inline code, an MCP argument): ~ and $HOME expanded, then checked */
function checkWordText(ctx: GuardContext, text: string, cwd: string, findings: Finding[]): void {
  const expanded = text.replace(/^\$\{?HOME\}?(?=\/|$)/, ctx.home)
  if (/[*?[]/.test(expanded)) {
    for (const match of expandGlob(resolvePath(expanded, cwd, ctx.home))) checkLiteralPath(ctx, text, match, findings)
  } else checkLiteralPath(ctx, text, resolvePath(expanded, cwd, ctx.home), findings)
}

// ---- shell ----------------------------------------------------------------------------------

/** a word after expansion: literal characters, glob characters, and ANY (a part the guard cannot know) */
type Token = { c: string; literal: boolean } | { any: true }
const ANY: Token = { any: true }

/** programs that read a directory's whole tree when given a flag (or always) */
const RECURSIVE: Record<string, RegExp | true> = {
  grep: /^-(-recursive|-dereference-recursive|[a-zA-Z]*[rR][a-zA-Z]*)$/,
  egrep: /^-(-recursive|[a-zA-Z]*[rR][a-zA-Z]*)$/,
  fgrep: /^-(-recursive|[a-zA-Z]*[rR][a-zA-Z]*)$/,
  rg: true,
  ag: true,
  ack: true,
  cp: /^-(-recursive|-archive|[a-zA-Z]*[rRa][a-zA-Z]*)$/,
  rsync: true,
  scp: /^-[a-zA-Z]*r[a-zA-Z]*$/,
  tar: true,
  zip: /^-[a-zA-Z]*r[a-zA-Z]*$/,
  '7z': true,
  find: true,
}
/** words that run the next word as the command */
const WRAPPERS = new Set(['sudo', 'doas', 'env', 'command', 'exec', 'nice', 'nohup', 'time', 'timeout', 'stdbuf', 'xargs', 'builtin', 'then', 'do', 'else', 'if', 'while', 'until', '!', '{'])
const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'fish', 'busybox'])
const INTERPRETERS = new Set(['python', 'python2', 'python3', 'node', 'bun', 'deno', 'perl', 'ruby', 'php', 'lua', 'osascript', 'pwsh'])

/** commands that print a credential they hold (the files are covered by the path rules) */
const PRINTS_CREDENTIAL: { program: string; args: RegExp; what: string }[] = [
  { program: 'gh', args: /^auth token\b/, what: "`gh auth token` prints the GitHub CLI's token" },
  { program: 'aws', args: /^configure (export-credentials|get \S*(secret|token|access_key))/, what: 'it prints AWS credentials' },
]

class ShellCheck {
  constructor(
    private readonly ctx: GuardContext,
    private cwd: string,
    private readonly findings: Finding[],
  ) {}

  script(script: Script, vars: Map<string, string>, depth = 0): void {
    if (depth > 8) return
    for (const command of script) this.command(command, vars, depth)
  }

  private command(command: SimpleCommand, vars: Map<string, string>, depth: number): void {
    // assignments take effect for the rest of the line (`D=~/.aws; cat $D/credentials`)
    for (const { name, value } of command.assignments) {
      this.subs(value, vars, depth)
      const text = this.literal(value, vars)
      if (text !== null) vars.set(name, text)
      else vars.delete(name)
    }
    for (const word of [...command.words, ...command.redirects]) this.subs(word, vars, depth)
    const words = command.words.map((w) => ({ word: w, text: this.literal(w, vars) }))
    const program = this.programIndex(words.map((w) => w.text))
    const name = program === -1 ? null : basename(words[program]!.text ?? '')
    const args = program === -1 ? [] : words.slice(program + 1)

    // keyrack get/source print values: blocked when the owner's policy says agent-values: deny
    if (name === 'keyrack' || (name && ['npx', 'bunx', 'pnpx'].includes(name) && args[0]?.text === 'keyrack')) {
      const rest = name === 'keyrack' ? args : args.slice(1)
      const sub = rest.map((a) => a.text).find((t, i, all) => t !== null && !t.startsWith('-') && all[i - 1] !== '--owner')
      if ((sub === 'get' || sub === 'source') && this.ctx.denyValues())
        this.findings.push({
          named: `keyrack ${sub}`,
          resolved: `keyrack ${sub}`,
          rule: { id: 'agent-values', what: `\`keyrack ${sub}\` prints secrets, and the owner's policy says \`agent-values: deny\``, instead: `use ${EXEC_INSTEAD}` },
        })
    }
    // a command that prints a credential it holds
    const argText = args.map((a) => a.text ?? '').join(' ')
    for (const c of PRINTS_CREDENTIAL)
      if (name === c.program && c.args.test(argText))
        this.findings.push({ named: `${name} ${argText}`.trim(), resolved: name, rule: { id: 'credential-command', what: c.what, instead: `use ${EXEC_INSTEAD}` } })
    // cd/pushd: later commands on the line run there
    if ((name === 'cd' || name === 'pushd') && args[0]?.text) this.cwd = resolvePath(args[0].text, this.cwd, this.ctx.home)
    // sh -c 'script', bash -c, eval: the script is a command line of its own
    if (name && (SHELLS.has(name) || name === 'eval' || name === 'su')) {
      const at = name === 'eval' ? 0 : args.findIndex((a) => a.text !== null && /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a.text))
      const scriptWords = name === 'eval' ? args : at === -1 ? [] : args.slice(at + 1, at + 2)
      const text = scriptWords.map((a) => a.text ?? '').join(' ')
      if (text) this.script(parseShell(text), new Map(vars), depth + 1)
    }
    // code for an interpreter (python -c, node -e, a here-document): look for paths in it
    const code: string[] = command.data.map((d) => this.literal(d, vars) ?? '')
    if (name && INTERPRETERS.has(name.replace(/[0-9.]+$/, '') || name)) for (const a of args) if (a.text !== null && /\s|[("']/.test(a.text)) code.push(a.text)
    for (const text of code) for (const m of text.matchAll(PATHISH)) this.pathText(m[0])

    const recursive = name !== null && RECURSIVE[name] !== undefined && (RECURSIVE[name] === true || args.some((a) => a.text !== null && (RECURSIVE[name] as RegExp).test(a.text)))
    // every argument and redirection target; the program too (it may be a path: ./link-into-the-keyrack-home)
    for (const [i, word] of command.words.entries()) this.word(word, vars, recursive && i > program)
    for (const word of command.redirects) this.word(word, vars, false)
  }

  /** the index of the word that is the program, past wrappers (sudo, env X=1, timeout 5, xargs -0) */
  private programIndex(texts: (string | null)[]): number {
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i]
      if (t === null || t === undefined) return i
      const name = basename(t)
      if (WRAPPERS.has(name)) {
        // skip the wrapper's own flags and arguments (env VAR=1, timeout 10s, nice -n 5)
        while (i + 1 < texts.length && texts[i + 1] !== null && (/^-/.test(texts[i + 1]!) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(texts[i + 1]!) || (name === 'timeout' && /^\d/.test(texts[i + 1]!)))) i++
        continue
      }
      return i
    }
    return -1
  }

  /** command substitutions inside a word are command lines of their own */
  private subs(word: Word, vars: Map<string, string>, depth: number): void {
    for (const part of word) {
      if (part.kind === 'sub') this.script(part.script, new Map(vars), depth + 1)
      if (part.kind === 'var' && part.fallback) this.subs(part.fallback, vars, depth)
    }
  }

  /** the word's text when it is fully known (no glob expansion), else null */
  private literal(word: Word, vars: Map<string, string>): string | null {
    const tokens = this.tokens(word, vars)
    if (tokens.some((t) => 'any' in t)) return null
    return tokens.map((t) => (t as { c: string }).c).join('')
  }

  private tokens(word: Word, vars: Map<string, string>): Token[] {
    const out: Token[] = []
    for (const part of word) out.push(...this.partTokens(part, vars))
    // ~ at the start of an unquoted word is the home directory
    const first = out[0]
    if (first && 'c' in first && first.c === '~' && !first.literal && (out.length === 1 || ('c' in out[1]! && out[1].c === '/'))) {
      out.splice(0, 1, ...[...this.ctx.home].map((c) => ({ c, literal: true })))
    }
    return out
  }

  private partTokens(part: Part, vars: Map<string, string>): Token[] {
    switch (part.kind) {
      case 'text':
        // unquoted text keeps `~`, `{`, `}`, `,` as markers for tilde and brace expansion
        return [...part.text].map((c) => ({ c, literal: part.quoted }))
      case 'glob':
        return [{ c: part.text, literal: false }]
      case 'var': {
        const value = vars.get(part.name) ?? this.ctx.env[part.name]
        if (value !== undefined && value !== '') return [...value].map((c) => ({ c, literal: true }))
        if (part.fallback) return part.fallback.flatMap((p) => this.partTokens(p, vars))
        return value === '' ? [] : [ANY]
      }
      case 'sub':
      case 'opaque':
        return [ANY]
    }
  }

  private word(word: Word, vars: Map<string, string>, recursive: boolean): void {
    const named = wordSource(word)
    for (const tokens of braceExpand(this.tokens(word, vars))) {
      const hasAny = tokens.some((t) => 'any' in t)
      const hasGlob = tokens.some((t) => 'c' in t && !t.literal && (t.c === '*' || t.c === '?' || t.c === '['))
      const text = tokens.map((t) => ('any' in t ? '\u0000' : t.c)).join('')
      if (text === '' || text.startsWith('-') && !text.includes('/')) continue
      // --flag=path: the path after =
      const value = /^--?[A-Za-z][\w-]*=(.+)$/.exec(text)?.[1] ?? text
      if (!hasAny && !hasGlob) {
        // no ~ expansion here: the shell already did it, only where it applies (unquoted, at the start)
        checkLiteralPath(this.ctx, named, normalize(isAbsolute(value) ? value : resolve(this.cwd, value)), this.findings, recursive)
        continue
      }
      const absolute = value.startsWith('/') || value.startsWith('\u0000') ? value : `${this.cwd}/${value}`
      if (!hasAny) {
        for (const match of expandGlob(normalize(absolute))) checkLiteralPath(this.ctx, named, match, this.findings, recursive)
        continue
      }
      // a part the guard cannot know: could it name a protected location?
      const pattern = globRegex(absolute)
      for (const sample of this.samples()) {
        if (!pattern.test(sample)) continue
        const rule = this.ctx.protected.protectedBy(sample) ?? (recursive ? this.ctx.protected.containedIn(sample) : null)
        if (rule) {
          this.findings.push({ named, resolved: sample, rule })
          break
        }
      }
    }
  }

  private sampleMemo?: string[]
  /** concrete protected locations: the fixed ones and the files in them */
  private samples(): string[] {
    if (this.sampleMemo) return this.sampleMemo
    const out = new Set(this.ctx.protected.samples())
    for (const root of [...out]) for (const file of listTree(root, 2)) out.add(file)
    for (const name of listDir(this.cwd)) out.add(join(this.cwd, name))
    this.sampleMemo = [...out]
    return this.sampleMemo
  }

  private pathText(text: string): void {
    checkWordText(this.ctx, text, this.cwd, this.findings)
  }
}

const EXEC_INSTEAD = '`keyrack exec --for repo --env <env> -- <command>` (the command gets the keys, its output redacted) or the `keyrack_exec` MCP tool'

/** path-like words inside code: ~/x, $HOME/x, /x, ./x, ../x, and bare .env files */
const PATHISH = /(?:~|\$\{?HOME\}?)?\/[^\s'"`;|&<>(){},]+|\.{1,2}\/[^\s'"`;|&<>(){},]+|(?<![\w/.-])\.env[\w.-]*/g

function wordSource(word: Word): string {
  return word
    .map((p) => (p.kind === 'text' ? p.text : p.kind === 'glob' ? p.text : p.kind === 'var' ? `$${p.name}` : p.kind === 'sub' ? '$(…)' : '…'))
    .join('')
}

/** bash brace expansion on unquoted `{a,b}` and `{1..3}` (at most 64 results) */
function braceExpand(tokens: Token[], limit = 64): Token[][] {
  const isChar = (t: Token | undefined, c: string) => t !== undefined && 'c' in t && !t.literal && t.c === c
  for (let open = 0; open < tokens.length; open++) {
    if (!isChar(tokens[open], '{')) continue
    let depth = 0
    const commas: number[] = []
    let close = -1
    for (let j = open; j < tokens.length; j++) {
      if (isChar(tokens[j], '{')) depth++
      else if (isChar(tokens[j], '}')) {
        depth--
        if (depth === 0) {
          close = j
          break
        }
      } else if (depth === 1 && isChar(tokens[j], ',')) commas.push(j)
    }
    if (close === -1) return [tokens]
    const before = tokens.slice(0, open)
    const after = tokens.slice(close + 1)
    let alternatives: Token[][]
    if (commas.length > 0) {
      const bounds = [open, ...commas, close]
      alternatives = bounds.slice(0, -1).map((b, k) => tokens.slice(b + 1, bounds[k + 1]))
    } else {
      const inner = tokens.slice(open + 1, close).map((t) => ('c' in t ? t.c : '\u0000')).join('')
      const m = /^(-?\d+)\.\.(-?\d+)$/.exec(inner) ?? /^([a-zA-Z])\.\.([a-zA-Z])$/.exec(inner)
      if (!m) continue
      const numeric = /\d/.test(m[1]!)
      const from = numeric ? Number(m[1]) : m[1]!.charCodeAt(0)
      const to = numeric ? Number(m[2]) : m[2]!.charCodeAt(0)
      const step = from <= to ? 1 : -1
      alternatives = []
      for (let v = from; alternatives.length < limit; v += step) {
        alternatives.push([...(numeric ? String(v) : String.fromCharCode(v))].map((c) => ({ c, literal: true })))
        if (v === to) break
      }
    }
    const out: Token[][] = []
    for (const alt of alternatives) for (const expanded of braceExpand([...before, ...alt, ...after], limit)) if (out.length < limit) out.push(expanded)
    return out
  }
  return [tokens]
}

/** a pattern as a regex over whole paths: * ? [..] within a segment, an unknown part (\0) anything */
function globRegex(text: string): RegExp {
  let source = '^'
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '\u0000') source += '.*'
    else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else if (c === '[') {
      const end = text.indexOf(']', i + 2)
      if (end === -1) source += '\\['
      else {
        source += `[${text.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`
        i = end
      }
    } else source += c.replace(/[.+^${}()|\\/]/g, '\\$&')
  }
  return new RegExp(`${source}$`)
}

/** the shell's glob expansion: segment by segment against the file system (dot files only when named) */
function expandGlob(pattern: string, limit = 5000): string[] {
  const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0)
  let paths = ['/']
  let globbed = false
  for (const segment of segments.slice(1)) {
    if (!/[*?[]/.test(segment)) {
      // after a glob, only what exists is a match (the shell drops the rest)
      paths = paths.map((p) => join(p, segment)).filter((p) => !globbed || exists(p))
      continue
    }
    globbed = true
    const re = globRegex(segment)
    const next: string[] = []
    for (const dir of paths) {
      for (const name of listDir(dir)) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue
        if (re.test(name)) next.push(join(dir, name))
        if (next.length >= limit) break
      }
    }
    paths = next
  }
  return paths
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function listTree(root: string, depth: number): string[] {
  const out: string[] = []
  try {
    if (!statSync(root).isDirectory()) return out
  } catch {
    return out
  }
  for (const name of listDir(root)) {
    const path = join(root, name)
    out.push(path)
    if (depth > 1) out.push(...listTree(path, depth - 1))
  }
  return out
}

function stringsIn(value: unknown, depth = 0): string[] {
  if (typeof value === 'string') return [value]
  if (depth > 4 || value === null || typeof value !== 'object') return []
  return Object.values(value).flatMap((v) => stringsIn(v, depth + 1))
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>()
  return findings.filter((f) => {
    // one line per word and rule (`cat /proc/*/environ` is one finding, not one per process)
    const key = `${f.rule.id}\0${f.named}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
