/**
 * keyrack guard on recorded hook inputs (tests/vectors/guard-hook-inputs.json): allowed and blocked
 * tool calls of Claude Code, Gemini CLI and MCP servers, the quoting tricks, symlinks into the
 * keyrack home, and the owner's `agent-values: deny`. The files are real (a temp HOME with a
 * keyrack home, AWS and gh credentials, a repo with .env files and links), so resolution is tested
 * against a file system, not strings. Plus the shell parser on its own.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext } from '../../src/context.ts'
import { parseShell } from '../../src/guard/shell.ts'
import { guard } from '../../src/sdk/guard.ts'
import vectors from '../vectors/guard-hook-inputs.json'

interface Case {
  name: string
  event?: string
  tool: string
  input: Record<string, unknown>
  expect: string
}

const dir = mkdtempSync(join(tmpdir(), 'kr-guard-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const HOME = join(dir, 'home')
const REPO = join(dir, 'repo')
const KEYRACK = join(HOME, '.rhachet', 'keyrack')
const files: Record<string, string> = {
  [join(KEYRACK, 'identity.human.key')]: 'AGE-SECRET-KEY-1FAKE',
  [join(KEYRACK, 'direct.human.json')]: '{}',
  [join(KEYRACK, 'inventory.human.json')]: '{"version":1,"keys":{}}',
  [join(KEYRACK, 'audit.human.jsonl')]: '',
  [join(HOME, '.aws', 'config')]: '[default]\nregion = eu-west-1\n',
  [join(HOME, '.aws', 'credentials')]: '[default]\naws_access_key_id = AKIAFAKE\n',
  [join(HOME, '.aws', 'sso', 'cache', 'a1b2.json')]: '{"accessToken":"fake"}',
  [join(HOME, '.config', 'gh', 'hosts.yml')]: 'github.com:\n  oauth_token: gho_fake\n',
  [join(HOME, '.ssh', 'id_ed25519')]: 'fake',
  [join(REPO, '.env')]: 'TOKEN=fake',
  [join(REPO, '.env.local')]: 'TOKEN=fake',
  [join(REPO, '.env.example')]: 'TOKEN=',
  [join(REPO, 'src', 'index.ts')]: 'export {}',
}
for (const [path, content] of Object.entries(files)) {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, content)
}
symlinkSync(join(KEYRACK, 'identity.human.key'), join(REPO, 'notes.txt'))
symlinkSync(KEYRACK, join(REPO, 'linkdir'))
mkdirSync(join(dir, 'run', 'keyrack'), { recursive: true, mode: 0o700 })
const env = { HOME, PATH: process.env.PATH, XDG_RUNTIME_DIR: join(dir, 'run'), USER: 'someone' }
const ctx = createContext({ home: KEYRACK, environment: env, cwd: REPO })

/** the envelope a harness sends: Claude Code's PreToolUse fields, or Gemini CLI's BeforeTool */
function recorded(c: Case): unknown {
  const fill = (value: unknown): unknown =>
    typeof value === 'string' ? value.replaceAll('@HOME@', HOME).replaceAll('@REPO@', REPO) : Array.isArray(value) ? value.map(fill) : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)])) : value
  return {
    session_id: '8a0c6b3e-5d4f-4e1a-9b7c-2f1e0d3c4b5a',
    transcript_path: join(HOME, '.claude', 'projects', 'repo', 'session.jsonl'),
    cwd: REPO,
    permission_mode: 'default',
    hook_event_name: c.event ?? 'PreToolUse',
    tool_name: c.tool,
    tool_input: fill(c.input),
    tool_use_id: 'toolu_01ABCDEFGHJKMNPQRSTUVWXYZ',
  }
}

function verdict(c: Case): string {
  const decision = guard(ctx, { hook: recorded(c) })
  if (decision.allow) return 'allow'
  return decision.findings[0]?.rule.id ?? 'refused'
}

describe('recorded hook inputs', () => {
  for (const c of vectors.cases as Case[]) test(`${c.expect === 'allow' ? 'allows' : 'blocks'}: ${c.name}`, () => expect(verdict(c)).toBe(c.expect))
})

describe("the owner's agent-values rule", () => {
  test('deny: keyrack get/source are blocked, exec is not', () => {
    writeFileSync(join(KEYRACK, 'inventory.human.json'), '{"version":1,"keys":{},"policy":{"agent-values":"deny"}}')
    try {
      for (const c of vectors.agentValuesDeny as Case[]) expect({ name: c.name, verdict: verdict(c) }).toEqual({ name: c.name, verdict: c.expect })
    } finally {
      writeFileSync(join(KEYRACK, 'inventory.human.json'), '{"version":1,"keys":{}}')
    }
  })
})

describe('the reason', () => {
  test('names what was read, where it resolved, and the alternative', () => {
    const decision = guard(ctx, { hook: recorded({ name: 'x', tool: 'Bash', input: { command: "cat ~/.aws/cred''entials" }, expect: '' }) })
    expect(decision.reason).toContain('keyrack guard blocked this call: it reads AWS credentials')
    expect(decision.reason).toContain(join(HOME, '.aws', 'credentials'))
    expect(decision.reason).toContain('Instead, use `keyrack exec --for repo --env <env> -- <command>`')
  })

  test('one line per word and rule, however many files a glob matched', () => {
    const decision = guard(ctx, { hook: recorded({ name: 'x', tool: 'Bash', input: { command: 'strings /proc/*/environ' }, expect: '' }) })
    expect(decision.reason.split('\n')).toHaveLength(1)
  })

  test('input it cannot read is blocked (fails closed)', () => {
    for (const hook of [null, 'text', [], {}, { tool_name: '' }]) expect(guard(ctx, { hook }).allow).toBe(false)
  })
})

describe('shell parser', () => {
  const words = (source: string) =>
    parseShell(source).map((c) => c.words.map((w) => w.map((p) => (p.kind === 'text' ? p.text : p.kind === 'glob' ? `<${p.text}>` : p.kind === 'var' ? `$${p.name}` : `<${p.kind}>`)).join('')))
  test('quotes, escapes and concatenation are removed as the shell removes them', () => {
    expect(words(`cat a''b "c"d e\\ f $'\\x41\\n' "$X"y`)).toEqual([['cat', 'ab', 'cd', 'e f', 'A\n', '$Xy']])
  })
  test('operators split commands; comments are dropped; here-documents are data', () => {
    expect(words('a && b || c; d | e & f # g h\ni')).toEqual([['a'], ['b'], ['c'], ['d'], ['e'], ['f'], ['i']])
    const [cat] = parseShell("cat <<'EOF'\n$HOME/x\nEOF\n")
    expect(cat!.data[0]).toEqual([{ kind: 'text', text: '$HOME/x', quoted: true }])
  })
  test('globs are marked only when unquoted; substitutions are parsed', () => {
    expect(words(`ls *.ts '*.md' "?"`)).toEqual([['ls', '<*>.ts', '*.md', '?']])
    const [echo] = parseShell('echo $(cat ~/x) `id`')
    expect(echo!.words[1]![0]!.kind).toBe('sub')
  })
  test('redirection targets are kept apart from arguments; fd duplications are not files', () => {
    const [c] = parseShell('cmd arg > out.txt 2>&1 < in.txt')
    expect(c!.words.length).toBe(2)
    expect(c!.redirects.map((w) => (w[0] as { text: string }).text)).toEqual(['out.txt', 'in.txt'])
  })
})
