/**
 * The repo manifest `.agent/keyrack.yml` (SPEC §5): the accepted forms, the allowlist it yields,
 * `extends` (recursive, root wins, cycles named), and validation errors that name
 * file:line:column, show a corrected example, and never echo a line's content.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { KeyrackManifestInvalidError } from '../../src/domain/errors.ts'
import { allowlistFor, declaredEnvs, readRepoManifest } from '../../src/manifests/repo.ts'
import { plainKeyCount } from '../../src/manifests/repo-file.ts'

const root = mkdtempSync(join(tmpdir(), 'keyrack-repo-manifest-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let n = 0
/** a fresh worksite with the given files (path relative to the worksite → content) */
function worksite(files: Record<string, string>): string {
  const dir = join(root, `w${n++}`)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  return dir
}
const MAIN = '.agent/keyrack.yml'
const read = (yaml: string) => readRepoManifest(worksite({ [MAIN]: yaml }))

function invalid(files: Record<string, string> | string): KeyrackManifestInvalidError {
  const dir = typeof files === 'string' ? worksite({ [MAIN]: files }) : worksite(files)
  try {
    readRepoManifest(dir)
  } catch (error) {
    expect(error).toBeInstanceOf(KeyrackManifestInvalidError)
    return error as KeyrackManifestInvalidError
  }
  throw new Error('expected the manifest to be rejected')
}

/** the error names file:line:column (in the message and as fields) and shows an example */
function expectAt(error: KeyrackManifestInvalidError, line: number, column: number, file = MAIN): void {
  expect(error.message.startsWith(`${file}:${line}:${column}: `)).toBe(true)
  expect(error.line).toBe(line)
  expect(error.column).toBe(column)
  expect(error.exitCode).toBe(7)
}
const expectExample = (error: KeyrackManifestInvalidError, needle: string) => {
  expect(error.hint.join('\n')).toContain('for example:')
  expect(error.hint.join('\n')).toContain(needle)
}

describe('accepted forms', () => {
  test('the SPEC §5 example (bare, shorthand grade, object form, empty env) parses unchanged', () => {
    const dir = worksite({
      [MAIN]: [
        'org: ehmpathy',
        'extends:',
        '  - .agent/repo=.this/role=test/keyrack.yml',
        'env.all:',
        '  - XAI_API_KEY',
        'env.prep:',
        '  - AWS_PROFILE: ephemeral',
        'env.test:',
        '  - key: AWS_PROFILE',
        '    mech: EPHEMERAL_VIA_AWS_SSO',
        '    grade: ephemeral',
        '    is-optional-if-has: AWS_ACCESS_KEY_ID',
        'env.prod: []',
        '',
      ].join('\n'),
      '.agent/repo=.this/role=test/keyrack.yml': 'env.test:\n  - OPENAI_API_KEY\n',
    })
    const m = readRepoManifest(dir)
    expect(m.org).toBe('ehmpathy')
    expect(m.file).toBe(join(dir, MAIN))
    expect(declaredEnvs(m).sort()).toEqual(['prep', 'prod', 'test'])
    expect(m.envs.get('all')).toEqual([{ key: 'XAI_API_KEY' }])
    expect(m.envs.get('prep')).toEqual([{ key: 'AWS_PROFILE', grade: { duration: 'ephemeral' } }])
    expect(m.envs.get('test')).toEqual([
      { key: 'AWS_PROFILE', mech: 'EPHEMERAL_VIA_AWS_SSO', grade: { duration: 'ephemeral' }, isOptionalIfHas: 'AWS_ACCESS_KEY_ID' },
      { key: 'OPENAI_API_KEY' },
    ])
    expect(m.envs.get('prod')).toEqual([])
  })

  test('two-word grades and a null shorthand', () => {
    const m = read('org: acme\nenv.test:\n  - A: "encrypted,ephemeral"\n  - B:\n  - key: C\n    grade: reference\n')
    expect(m.envs.get('test')).toEqual([
      { key: 'A', grade: { protection: 'encrypted', duration: 'ephemeral' } },
      { key: 'B' },
      { key: 'C', grade: { protection: 'reference' } },
    ])
  })

  test('custom env names matching the pattern are fine', () => {
    const m = read('org: acme\nenv.prep-admin:\n  - AWS_PROFILE\nenv.camp: []\n')
    expect(declaredEnvs(m).sort()).toEqual(['camp', 'prep-admin'])
  })

  test('allowlistFor: own keys first, then env.all keys; each looked up as org.env.KEY then org.all.KEY', () => {
    const m = read('org: acme\nenv.all:\n  - SHARED\n  - A\nenv.test:\n  - A\n  - B\nenv.prod:\n  - P\n')
    expect(allowlistFor(m, 'test').map((k) => [k.key, k.slugs])).toEqual([
      ['A', ['acme.test.A', 'acme.all.A']],
      ['B', ['acme.test.B', 'acme.all.B']],
      ['SHARED', ['acme.test.SHARED', 'acme.all.SHARED']],
    ])
    expect(allowlistFor(m, 'prod').map((k) => k.key)).toEqual(['P', 'SHARED', 'A'])
    // env.all on its own has no fallback
    expect(allowlistFor(m, 'all').map((k) => k.slugs)).toEqual([['acme.all.SHARED'], ['acme.all.A']])
    // an env the manifest does not declare allowlists only env.all keys, never the others
    expect(allowlistFor(m, 'prep').map((k) => k.key)).toEqual(['SHARED', 'A'])
  })
})

describe('validation: file:line:column, a corrected example, the exit code', () => {
  test('a flat `keys:` map is rejected with the env.<name> form', () => {
    const e = invalid('org: acme\nkeys:\n  XAI_API_KEY: x\n')
    expectAt(e, 2, 1)
    expect(e.message).toContain('flat `keys:`')
    expectExample(e, 'env.test:')
  })

  test('an unknown top-level field is ignored with a warning naming file:line:column (as rhachet ignores it)', () => {
    const m = read('org: acme\nenv.test:\n  - A\ncolour: red\n')
    expect(m.envs.get('test')).toEqual([{ key: 'A' }])
    expect(m.warnings).toEqual(['.agent/keyrack.yml:4:1: unknown top-level field, ignored (fields are org, extends and env.<name> sections)'])
  })

  test('an unknown field in a key entry is ignored with a warning; the known fields still apply', () => {
    const m = read('org: acme\nenv.test:\n  - key: A\n    colour: red\n    mech: PERMANENT_VIA_REPLICA\n')
    expect(m.envs.get('test')).toEqual([{ key: 'A', mech: 'PERMANENT_VIA_REPLICA' }])
    expect(m.warnings).toHaveLength(1)
    expect(m.warnings[0]).toStartWith('.agent/keyrack.yml:4:5: env.test: unknown field in a key entry, ignored')
  })

  test('a file without unknown fields has no warnings', () => {
    expect(read('org: acme\nenv.test:\n  - A\n').warnings).toEqual([])
  })

  test('a bad key name (bare, shorthand, object form)', () => {
    expectAt(invalid('org: acme\nenv.test:\n  - bad-name\n'), 3, 5)
    expectAt(invalid('org: acme\nenv.test:\n  - 9LIVES: ephemeral\n'), 3, 5)
    const e = invalid('org: acme\nenv.test:\n  - key: not-a-key\n')
    expectAt(e, 3, 5)
    expect(e.message).toContain('key name')
    expectExample(e, 'key: AWS_PROFILE')
  })

  test('a duplicate key in one env', () => {
    const e = invalid('org: acme\nenv.test:\n  - A\n  - B\n  - A\n')
    expectAt(e, 5, 5)
    expect(e.message).toContain('A is listed twice')
    expectExample(e, '- A')
  })

  test('an unknown mech', () => {
    const e = invalid('org: acme\nenv.test:\n  - key: A\n    mech: MAGIC_MECH\n')
    expectAt(e, 4, 5)
    expect(e.message).toContain('unknown mech')
    expect(e.message).toContain('PERMANENT_VIA_REPLICA')
    expectExample(e, 'mech: EPHEMERAL_VIA_AWS_SSO')
  })

  test('a bad grade (shorthand and object form)', () => {
    const a = invalid('org: acme\nenv.test:\n  - A: shiny\n')
    expectAt(a, 3, 8)
    expect(a.message).toContain('grade of A is invalid')
    expectExample(a, 'A: encrypted,ephemeral')
    const b = invalid('org: acme\nenv.test:\n  - key: A\n    grade: encrypted,encrypted\n')
    expectAt(b, 4, 12)
    expectExample(b, 'grade: encrypted,ephemeral')
  })

  test('a bad env name', () => {
    const e = invalid('org: acme\nenv.prep.admin:\n  - A\n')
    expectAt(e, 2, 1)
    expect(e.message).toContain('invalid env name')
    expectExample(e, 'env.prep-admin:')
  })

  test('env.all alone needs an env-specific section', () => {
    const e = invalid('org: acme\nenv.all:\n  - A\n')
    expectAt(e, 2, 1)
    expect(e.message).toContain('`env.all` needs at least one env-specific section')
    expectExample(e, 'env.test: []')
  })

  test('org is required and must be a name', () => {
    expectAt(invalid('env.test:\n  - A\n'), 1, 1)
    expectAt(invalid('env.test:\n  - A\norg: "has space"\n'), 3, 6)
  })

  test('YAML syntax errors point at the broken line, not 1:1', () => {
    const e = invalid('org: acme\nenv.test:\n  - A\n  B: [\n')
    expect(e.line).toBeGreaterThan(1)
    expect(e.message).toMatch(new RegExp(`^\\.agent/keyrack\\.yml:${e.line}:${e.column}: YAML syntax error`))
  })

  test('a missing manifest names the file and how to create it', () => {
    const dir = worksite({ 'README.md': '' })
    expect(() => readRepoManifest(dir)).toThrow(KeyrackManifestInvalidError)
    try {
      readRepoManifest(dir)
    } catch (error) {
      expect((error as Error).message).toContain('.agent/keyrack.yml')
      expect((error as KeyrackManifestInvalidError).hint.join(' ')).toContain('keyrack init --repo')
    }
  })
})

describe('extends', () => {
  test('merged recursively; the including file wins', () => {
    const dir = worksite({
      [MAIN]: 'org: acme\nextends:\n  - .agent/a.yml\nenv.test:\n  - key: A\n    grade: encrypted\n',
      '.agent/a.yml': 'extends:\n  - .agent/b.yml\nenv.test:\n  - key: A\n    grade: plaintext\n  - B\nenv.prod:\n  - P\n',
      '.agent/b.yml': 'org: other\nenv.test:\n  - B: ephemeral\n  - C\n',
    })
    const m = readRepoManifest(dir)
    expect(m.org).toBe('acme')
    expect(m.envs.get('test')).toEqual([{ key: 'A', grade: { protection: 'encrypted' } }, { key: 'B' }, { key: 'C' }])
    expect(m.envs.get('prod')).toEqual([{ key: 'P' }])
  })

  test('a cycle is an error naming the chain, with the extends entry position', () => {
    const e = invalid({
      [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/a.yml\n',
      '.agent/a.yml': 'extends:\n  - .agent/b.yml\n',
      '.agent/b.yml': 'extends:\n  - .agent/keyrack.yml\n',
    })
    expect(e.message).toContain('cycle')
    expect(e.message).toContain('.agent/keyrack.yml → .agent/a.yml → .agent/b.yml → .agent/keyrack.yml')
    expect(e.message).toMatch(/^\.agent\/b\.yml:2:5: /)
  })

  test('a self-extend is a cycle too', () => {
    const e = invalid({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/keyrack.yml\n' })
    expect(e.message).toContain('cycle')
    expectAt(e, 4, 5)
  })

  test('errors inside an extended file name that file', () => {
    const e = invalid({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/x.yml\n', '.agent/x.yml': 'env.test:\n  - bad-name\n' })
    expectAt(e, 2, 5, '.agent/x.yml')
  })

  test('a missing extended file points at the entry that names it', () => {
    const e = invalid({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/gone.yml\n' })
    expectAt(e, 4, 5)
    expect(e.message).toContain('.agent/gone.yml')
  })

  test('extends may not leave the git root', () => {
    const e = invalid({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - ../outside.yml\n' })
    expect(e.message).toContain('inside the git root')
  })
})

describe('never echoes a line (it might hold a pasted secret)', () => {
  const SECRET = 'sk-live-7f3a9c1e5b2d4f6a8c0e'
  const cases: Record<string, string> = {
    'as a bare entry': `org: acme\nenv.test:\n  - ${SECRET}\n`,
    'as a grade': `org: acme\nenv.test:\n  - XAI_API_KEY: ${SECRET}\n`,
    'in a flat keys map': `org: acme\nkeys:\n  XAI_API_KEY: ${SECRET}\n`,
    'as an object field value': `org: acme\nenv.test:\n  - key: XAI_API_KEY\n    mech: ${SECRET}\n`,
    'as a key value': `org: acme\nenv.test:\n  - key: ${SECRET}\n`,
    'as the org': `org: ${SECRET}/x\nenv.test: []\n`,
    'as an env name': `org: acme\nenv.${SECRET.toUpperCase()}!: []\n`,
    'in a syntax error': `org: acme\nenv.test:\n  - XAI_API_KEY\n  ${SECRET}\n`,
    'in a syntax error (unclosed quote)': `org: acme\nenv.test:\n  - "${SECRET}\n`,
    'as an extends path': `org: acme\nenv.test: []\nextends:\n  - ${SECRET}\n`,
  }
  // ignored fields: the warning names file:line:column, never the field
  const ignored: Record<string, string> = {
    'as a top-level field': `org: acme\nenv.test: []\n${SECRET}: 1\n`,
    'as an object field': `org: acme\nenv.test:\n  - key: XAI_API_KEY\n    ${SECRET}: 1\n`,
  }
  for (const [name, yaml] of Object.entries(ignored))
    test(name, () => {
      const m = read(yaml)
      expect(m.warnings).toHaveLength(1)
      expect(m.warnings.join('\n').toLowerCase()).not.toContain(SECRET)
    })
  for (const [name, yaml] of Object.entries(cases))
    test(name, () => {
      const e = invalid(yaml)
      // compared case-insensitively: the secret may sit upper-cased in a name
      expect(e.message.toLowerCase()).not.toContain(SECRET)
      expect(e.hint.join('\n').toLowerCase()).not.toContain(SECRET)
      expect(String(e.stack).toLowerCase()).not.toContain(SECRET)
      expect(e.line).toBeGreaterThan(0)
    })
})

describe('fast path (Bun.YAML) and full path agree', () => {
  test('the plain subset counts its keys; anything else is left to the full path', () => {
    expect(plainKeyCount('org: a\nenv.test: []\nenv.test: []\n')).toBe(3)
    expect(plainKeyCount('org: a\nenv.test:\n  - key: A\n    mech: X\n  - B: ephemeral # c\n  - C\n')).toBe(5)
    expect(plainKeyCount('org: a\nnote: |\n  org: b\n')).toBeNull()
    expect(plainKeyCount('org: a\n"env.test": []\n')).toBeNull()
    expect(plainKeyCount('org: a\nenv.test: {a: 1}\n')).toBeNull()
    expect(plainKeyCount('org: a\n? env.test\n: []\n')).toBeNull()
    expect(plainKeyCount('org: a\n<<: *x\n')).toBeNull()
    expect(plainKeyCount('org: a\n---\norg: b\n')).toBeNull()
  })

  test('a duplicate field inside one entry is an error with its line (not last-wins)', () => {
    const error = invalid('org: acme\nenv.test:\n  - key: A_KEY\n    key: B_KEY\n')
    expect(error.line).toBe(4)
  })

  test('a duplicate env section is an error with its line', () => {
    const error = invalid('org: acme\nenv.test: []\nenv.test:\n  - A_KEY\n')
    expect(error.line).toBe(3)
  })
})

describe('GitHub App narrowing on a key (repositories, permission-*)', () => {
  const yaml = (...entry: string[]) => ['org: acme', 'env.test:', '  - key: GITHUB_TOKEN', '    mech: EPHEMERAL_VIA_GITHUB_APP', ...entry.map((l) => `    ${l}`)].join('\n')

  test('a block list of repositories and permission-<name> fields, read by the fast and the full parser alike', () => {
    const plain = yaml('repositories:', '  - widgets', '  - gadgets', 'permission-contents: write', 'permission-pull-requests: read')
    const spec = read(plain).envs.get('test')![0]!
    expect(spec).toEqual({ key: 'GITHUB_TOKEN', mech: 'EPHEMERAL_VIA_GITHUB_APP', repositories: ['widgets', 'gadgets'], permissions: { contents: 'write', pull_requests: 'read' } })
    // a flow list goes through the full parser: same answer
    const flow = read(yaml('repositories: [widgets, gadgets]', 'permission-contents: write', 'permission-pull-requests: read')).envs.get('test')![0]!
    expect(flow).toEqual(spec)
    expect(plainKeyCount(plain)).not.toBeNull()
    expect(read(plain).warnings).toEqual([])
  })

  test('a permission level other than read/write/admin, or a repository with its owner, is an error at its line', () => {
    const badLevel = invalid(yaml('permission-contents: everything'))
    expectAt(badLevel, 5, 26)
    expect(badLevel.message).toContain('`permission-contents` must be one of read, write, admin')
    expect(badLevel.message).not.toContain('everything')
    const withOwner = invalid(yaml('repositories:', '  - acme/widgets'))
    expectAt(withOwner, 5, 5)
    expect(withOwner.message).toContain('`repositories` must be a list of repository names')
  })
})
