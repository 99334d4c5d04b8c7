import { afterAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
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

  test('zsh and fish scripts name every command', () => {
    for (const shell of ['zsh', 'fish']) {
      const r = box.run(['completion', shell])
      expect(r.code).toBe(0)
      for (const name of ['init', 'set', 'get', 'exec', 'unlock', 'relock', 'status']) expect(r.stdout).toContain(name)
    }
  })

  test('an unknown shell is a usage error with the example', () => {
    const r = box.run(['completion', 'tcsh'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('keyrack completion bash')
  })
})
