import { afterAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { commands } from '../../src/cli/commands/index.ts'
import { BIN, Sandbox } from '../helpers/harness.ts'

describe('keyrack completion', () => {
  const box = new Sandbox('completion')
  afterAll(() => box.cleanup())

  const complete = (words: string[]): string => {
    const script = `eval "$(${BIN} completion bash)"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _keyrack; echo "\${COMPREPLY[*]}"`
    return spawnSync('bash', ['-c', script], { env: box.env(), encoding: 'utf8' }).stdout.trim()
  }

  test('bash: commands, flags of a command, values of a flag', () => {
    expect(complete(['keyrack', 'unl']).split(' ')).toEqual(['unlock'])
    expect(complete(['keyrack', 'set', '--va']).split(' ')).toEqual(['--vault'])
    expect(complete(['keyrack', 'set', '--vault', 'os.s']).split(' ')).toEqual(['os.secure'])
    expect(complete(['keyrack', 'get', '--output', 'j']).split(' ')).toEqual(['json'])
  })

  test('bash, zsh and fish complete every command of the command table', () => {
    const every = Object.keys(commands).sort()
    expect(complete(['keyrack', '']).split(' ').filter((w) => !w.startsWith('-')).sort()).toEqual(every)
    for (const shell of ['zsh', 'fish']) {
      const r = box.run(['completion', shell])
      expect(r.code).toBe(0)
      // zsh: the first word's candidates (bash-style compgen list); fish: one `-a NAME` per command
      const named = shell === 'fish'
        ? [...r.stdout.matchAll(/__fish_use_subcommand' -a (\S+)/g)].map((m) => m[1]!)
        : (/COMP_CWORD" -eq 1 \]; then COMPREPLY=\( \$\(compgen -W "([^"]*)"/.exec(r.stdout)?.[1] ?? '').split(' ').filter((w) => !w.startsWith('-'))
      expect({ shell, commands: named.sort() }).toEqual({ shell, commands: every })
    }
  })

  test('an unknown shell is a usage error with the example', () => {
    const r = box.run(['completion', 'tcsh'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('keyrack completion bash')
  })
})
