import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { BIN, Sandbox, withoutShellStatus } from '../helpers/harness.ts'

describe('keyrack source', () => {
  const box = new Sandbox('source')
  beforeAll(() => {
    expect(box.initUnprotected().code).toBe(0)
    box.writeRepoManifest('org: acme\nenv.test:\n  - API_KEY\n  - OTHER_KEY\n')
    expect(box.set('API_KEY', 'test', "it's a $ecret").code).toBe(0)
  })
  afterAll(() => box.cleanup())

  test('strict (default): nothing on stdout, exit 4, the missing key named', () => {
    const r = box.run(['source', '--env', 'test'])
    expect(r.code).toBe(4)
    expect(withoutShellStatus(r)).toBe('')
    expect(r.stderr).toContain('OTHER_KEY')
  })

  test('lenient: exports the granted key, warns about the missing one, eval-able', () => {
    const r = box.run(['source', '--env', 'test', '--lenient'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('keyrack: warning: OTHER_KEY: absent')
    const shell = spawnSync('sh', ['-c', `eval "$(${BIN} source --env test --lenient 2>/dev/null)"; printf %s "$API_KEY"`], { cwd: box.repo, env: box.env(), encoding: 'utf8' })
    expect(shell.stdout).toBe("it's a $ecret")
  })

  test('a blocked key is never exported, even lenient', () => {
    const r = box.run(['source', '--env', 'test', '--lenient'], { env: { OTHER_KEY: 'AKIAIOSFODNN7EXAMPLE' } })
    expect(r.stdout).not.toContain('AKIA')
    expect(r.stderr).toContain('OTHER_KEY: blocked')
  })

  test('--strict and --lenient together is a usage error', () => {
    expect(box.run(['source', '--env', 'test', '--strict', '--lenient']).code).toBe(2)
  })
})
