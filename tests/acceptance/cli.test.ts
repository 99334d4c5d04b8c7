/**
 * Flags, arguments and help of every command, enumerated from the command registry (so a new
 * command is covered the day it is added), through the compiled binary.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { describe as describeText } from '../../src/cli/help.ts'
import { allCommands, checkInvocation, keyrackInvocations, type CommandEntry } from '../helpers/commands.ts'
import { BIN, ensureBinary, Sandbox, withoutShellStatus } from '../helpers/harness.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const registry = await allCommands()
const runnable = registry.filter((c) => !c.group)
const sb = new Sandbox('kr-cli')
afterAll(() => sb.cleanup())
sb.writeRepoManifest('org: acme\nenv.all:\n  - XAI_API_KEY\nenv.test: []\n')

const flagsOf = (c: CommandEntry): string[] => Object.entries(c.args).filter(([, d]) => d.type !== 'positional').map(([n]) => n)
/** a typo people make: two neighbouring letters swapped in the middle */
const swapped = (name: string): string => (name.length < 4 ? `${name}x` : `${name.slice(0, 1)}${name[2]}${name[1]}${name.slice(3)}`)

describe('every command refuses what it does not define (exit 2), before doing anything', () => {
  test.each(runnable.map((c) => [c.path, c] as const))('%s: an unknown flag', (_, c) => {
    const r = sb.run([...c.words, '--definitely-not-a-flag'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`keyrack: error: unknown flag \`--definitely-not-a-flag\` for \`${c.path}\``)
    expect(withoutShellStatus(r)).toBe('')
  })

  test.each(runnable.filter((c) => flagsOf(c).length > 0).map((c) => [c.path, c] as const))('%s: a misspelled flag gets "did you mean"', (_, c) => {
    for (const flag of flagsOf(c)) {
      const r = sb.run([...c.words, `--${swapped(flag)}`, 'x'])
      expect({ flag, code: r.code }).toEqual({ flag, code: 2 })
      expect(r.stderr).toContain(`did you mean \`--${flag}\`?`)
    }
  })

  test.each(runnable.map((c) => [c.path, c] as const))('%s: an unexpected argument', (_, c) => {
    // one more positional than the command declares (recipients add/remove take any number: skip)
    const declared = Object.values(c.args).filter((d) => d.type === 'positional').length
    if (c.path.startsWith('keyrack recipients a') || c.path.startsWith('keyrack recipients r')) return
    const r = sb.run([...c.words, ...Array(declared).fill('bash'), 'stray'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`unexpected argument \`stray\` for \`${c.path}\``)
  })

  test('the issue\'s examples', () => {
    const outptu = sb.run(['get', '--for', 'repo', '--env', 'test', '--outptu', 'json'])
    expect(outptu).toMatchObject({ code: 2, stdout: '(exit 2)\n' })
    expect(outptu.stderr).toContain('did you mean `--output`?')
    const all = sb.run(['relock', '--all'])
    expect(all.code).toBe(2)
    expect(all.stderr).toContain('`keyrack relock` with no flag forgets every key')
    expect(sb.run(['get', 'XAI_API_KEY', '--env', 'test']).stderr).toContain('did you mean `--key XAI_API_KEY`?')
    expect(sb.run(['exec', '--for', 'repo', '--env', 'test', 'npm', 'test']).stderr).toContain('put the command to run after `--`')
    expect(sb.run(['--outptu', 'get']).stderr).toContain('flags go after the command')
    expect(sb.run(['stauts']).stderr).toContain('did you mean `keyrack status`?')
  })

  test('every spelling a flag has is accepted: aliases, --flag=value, --no- for switches, values after --', () => {
    const ok = (args: string[]) => expect({ args, code: sb.run(args).code }).not.toEqual({ args, code: 2 })
    ok(['get', '--for=repo', '--env=test', '-o', 'json'])
    ok(['get', '--for', 'repo', '--env', 'test', '-ojson'])
    ok(['get', '--for', 'repo', '--env', 'test', '--json=true', '--no-ci'])
    ok(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'exit 0', '--not-ours'])
    expect(sb.run(['get', '--for', 'repo', '--env', 'test', '--json=yes']).code).toBe(2)
    expect(sb.run(['get', '--key', '--env', 'test']).stderr).toContain('`--key` needs a value')
    expect(sb.run(['get', '--for', 'repo', '--env', 'test', '--env', 'prod']).stderr).toContain('`--env` is given more than once')
  })

  test('what the user typed is shown back only when it cannot be a secret', () => {
    const secret = 'xai-Zq8vJ2kLm4Np6Rs8Tu0Wx2Yz'
    for (const args of [['set', '--key', 'XAI_API_KEY', secret], ['get', `--${secret}`], [secret]]) {
      const r = sb.run(args)
      expect(r.code).toBe(2)
      expect(r.stdout + r.stderr).not.toContain(secret)
      expect(r.stderr).toContain('not shown: it could be a secret')
    }
  })
})

describe('--help of every command', () => {
  const help = (words: string[], env: Record<string, string> = {}) => sb.run([...words, '--help'], { env })

  test.each([['keyrack', { path: 'keyrack', words: [] as string[] } as CommandEntry] as const, ...registry.map((c) => [c.path, c] as const)])('%s', async (_, c) => {
    const r = help(c.words)
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines[0]!.startsWith(`${c.path}`)).toBe(true)
    expect(r.stdout.endsWith('\n') && !r.stdout.endsWith('\n\n')).toBe(true)
    // no padding at the end of a line, no colour codes when piped, no "(keyrack … v0.1.0)" glued on
    for (const line of lines) expect({ line, trailing: /\s$/.test(line) }).toEqual({ line, trailing: false })
    expect(r.stdout).not.toContain('\u001b[')
    expect(r.stdout).not.toMatch(/\(keyrack[^)]*v\d/)
    // 80 columns when piped, except examples, which are never wrapped (so they can be copied whole)
    const examplesAt = lines.indexOf('examples:')
    const body = examplesAt < 0 ? lines : lines.slice(0, examplesAt)
    for (const line of body) expect({ line, width: line.length <= 80 }).toEqual({ line, width: true })
    // every flag is described; descriptions stay in their column (continuation lines start at it)
    if (c.args) for (const flag of flagsOf(c)) expect(r.stdout).toContain(`--${flag}`)
    const flagsAt = body.indexOf('flags:')
    if (flagsAt >= 0) {
      const section = body.slice(flagsAt + 1, body.indexOf('', flagsAt + 1) < 0 ? undefined : body.indexOf('', flagsAt + 1))
      const column = /^ {2}-\S*(?: <[^>]+>)?(?:, -\S*(?: <[^>]+>)?)* {3,}/.exec(section.find((l) => / {3,}\S/.test(l.trim()) || /\S {3,}\S/.test(l))!)![0].length
      // a line is a flag (from column 2) or description text starting exactly at the description column
      for (const line of section) {
        const indent = line.length - line.trimStart().length
        expect({ line, ok: (indent === 2 && line.trimStart().startsWith('-')) || indent === column }).toEqual({ line, ok: true })
      }
    }
    // every example is a command keyrack accepts as written
    const after = examplesAt < 0 ? [] : lines.slice(examplesAt + 1)
    // the examples are the indented lines right after `examples:`
    const end = after.findIndex((l) => !l.startsWith('  '))
    const examples = (end < 0 ? after : after.slice(0, end)).map((l) => l.slice(2))
    if (c.words.length > 0 && !c.group) expect(examples.length).toBeGreaterThan(0)
    for (const example of examples)
      for (const words of keyrackInvocations(example)) expect({ example, problem: checkInvocation(words, registry) }).toEqual({ example, problem: null })
  })

  test('the same help from `keyrack help CMD`, `keyrack CMD -h` and `keyrack CMD --help`', () => {
    const a = help(['recipients', 'add']).stdout
    expect(sb.run(['help', 'recipients', 'add']).stdout).toBe(a)
    expect(sb.run(['recipients', 'add', '-h']).stdout).toBe(a)
  })

  test('the width follows the terminal: a 120-column pty gets 120-column lines; a 50-column one, 50', () => {
    const python = Bun.which('python3')
    if (skipFor('tool', 'help width on a terminal (python3 pty)', missingTool('python3')) || !python) return
    const onPty = (cols: number): string => {
      // the child sets its terminal's size, then runs `keyrack get --help` on it
      const script = [
        'import fcntl, os, pty, struct, sys, termios',
        'pid, fd = pty.fork()',
        'if pid == 0:',
        `    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 40, ${cols}, 0, 0))`,
        "    os.execv(sys.argv[1], [sys.argv[1], 'get', '--help'])",
        "out = b''",
        'while True:',
        '    try: chunk = os.read(fd, 65536)',
        '    except OSError: break',
        '    if not chunk: break',
        '    out += chunk',
        'os.waitpid(pid, 0)',
        'sys.stdout.write(out.decode())',
      ].join('\n')
      const r = spawnSync(python, ['-c', script, BIN], { env: sb.env(), encoding: 'utf8', timeout: 20_000 })
      return r.stdout.replace(/\r/g, '')
    }
    const wide = onPty(120).split('\n')
    const narrow = onPty(50).split('\n')
    const body = (lines: string[]) => lines.slice(0, lines.indexOf('examples:'))
    expect(Math.max(...body(wide).map((l) => l.length))).toBeGreaterThan(80)
    expect(Math.max(...body(wide).map((l) => l.length))).toBeLessThanOrEqual(120)
    expect(Math.max(...body(narrow).map((l) => l.length))).toBeLessThanOrEqual(50)
  })
})

describe('descriptions', () => {
  test('describe() splits summary, paragraphs and examples', () => {
    expect(describeText('sum\n\npara one\n\nexamples:\n  keyrack a\n  keyrack b   # why')).toEqual({ summary: 'sum', body: ['para one'], examples: ['keyrack a', 'keyrack b   # why'] })
  })
})
