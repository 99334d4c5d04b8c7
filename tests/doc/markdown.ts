/**
 * The fenced code blocks of a markdown file, each with the `<!-- doctest: … -->` directives
 * written directly above it (see docs/contributing.md for the convention).
 */

/** shells the doc test runs; any other fence (yaml, ts, text, none) is documentation only */
export const SHELL_LANGS: Record<string, string> = { sh: 'bash', bash: 'bash', zsh: 'zsh', fish: 'fish' }

export interface Directive {
  name: string
  /** everything after the name, trimmed */
  value: string
  line: number
}

export interface DocBlock {
  file: string
  /** 1-based line of the opening fence */
  line: number
  lang: string
  code: string
  /** the nearest heading above it, for test names */
  heading: string
  directives: Directive[]
}

export interface Command {
  /** 1-based line in the markdown file where the command starts */
  line: number
  /** the command as written (continuation lines joined) */
  text: string
}

const DIRECTIVE = /^<!--\s*doctest:\s*(.*?)\s*-->\s*$/

export function docBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split('\n')
  const blocks: DocBlock[] = []
  let heading = ''
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '')
    const open = /^(`{3,}|~{3,})\s*([\w-]*)/.exec(line)
    if (!open) continue
    const fence = open[1]!
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !lines[i]!.startsWith(fence); i++) body.push(lines[i]!)
    // directives: the comment lines right above the fence (blank lines between them allowed)
    const directives: Directive[] = []
    for (let j = start - 1; j >= 0; j--) {
      const above = lines[j]!.trim()
      if (above === '') continue
      const m = DIRECTIVE.exec(above)
      if (!m) break
      const [name = '', ...rest] = m[1]!.split(/\s+/)
      directives.unshift({ name, value: rest.join(' ').trim(), line: j + 1 })
    }
    blocks.push({ file, line: start + 1, lang: open[2] ?? '', code: body.join('\n'), heading, directives })
  }
  return blocks
}

/**
 * The commands of a shell block, one per logical line: `\`-continued lines are joined; blank
 * lines and comment-only lines are not commands.
 */
export function commandsOf(block: DocBlock): Command[] {
  const lines = block.code.split('\n')
  const out: Command[] = []
  for (let i = 0; i < lines.length; i++) {
    const first = i
    let text = lines[i]!
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text = `${text.replace(/\\\s*$/, '')} ${lines[++i]!.trim()}`
    if (text.trim() === '' || text.trim().startsWith('#')) continue
    out.push({ line: block.line + 1 + first, text })
  }
  return out
}
