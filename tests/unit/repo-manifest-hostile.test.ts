/**
 * Repo content is untrusted input (issue 8): the repo manifest reader against hostile files —
 * extends walked once per file, only regular files inside the git root owned by the user,
 * duplicates refused in every YAML spelling by both parsers alike, `env.sudo` refused — and
 * rhachet's manifests read as rhachet reads them where that does not widen access.
 * (FIFOs and /dev/zero would hang this test process on a broken build; the acceptance suite
 * drives those through the binary, under a timeout.)
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { KeyrackManifestInvalidError } from '../../src/domain/errors.ts'
import { parseSlug, toSlug } from '../../src/domain/names.ts'
import { allowlistFor, declaredEnvs, readRepoManifest } from '../../src/manifests/repo.ts'
import { parseFileFast, parseFileFull, plainKeyCount } from '../../src/manifests/repo-file.ts'
import { findWorksite } from '../../src/manifests/worksite.ts'

const root = mkdtempSync(join(tmpdir(), 'keyrack-hostile-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const isRoot = process.getuid?.() === 0
const NOBODY = 65534

let n = 0
/** a fresh worksite (with a .git) holding the given files */
function worksite(files: Record<string, string>): string {
  const dir = join(root, `w${n++}`)
  mkdirSync(join(dir, '.git'), { recursive: true })
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  return dir
}
const MAIN = '.agent/keyrack.yml'

function refusal(dir: string): KeyrackManifestInvalidError {
  try {
    readRepoManifest(dir)
  } catch (error) {
    expect(error).toBeInstanceOf(KeyrackManifestInvalidError)
    return error as KeyrackManifestInvalidError
  }
  throw new Error('expected the manifest to be refused')
}

describe('extends is walked once per file', () => {
  // 16 files, not 60: a walk that is not memoised still ends here (after ~1,600 parses), and the
  // count of warnings shows it; the 60-file diamond runs through the binary under a timeout
  test('a diamond of files, each extending the next two, parses each file once', () => {
    const N = 16
    const files: Record<string, string> = { [MAIN]: 'org: acme\nextends:\n  - .agent/d0.yml\n' }
    for (let i = 0; i < N; i++) {
      const next = [i + 1, i + 2].filter((j) => j < N).map((j) => `  - .agent/d${j}.yml\n`).join('')
      // each file has one ignored field: its warning shows how often the file was parsed
      files[`.agent/d${i}.yml`] = `note: ${i}\nenv.test:\n  - K_${i}\n${next ? `extends:\n${next}` : ''}`
    }
    const m = readRepoManifest(worksite(files))
    expect(m.envs.get('test')!.map((s) => s.key).sort()).toEqual(Array.from({ length: N }, (_, i) => `K_${i}`).sort())
    expect(m.warnings).toHaveLength(N)
    expect(new Set(m.warnings).size).toBe(N)
  })

  test('a cycle through a diamond is still an error naming the chain', () => {
    const e = refusal(worksite({
      [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/a.yml\n  - .agent/b.yml\n',
      '.agent/a.yml': 'extends:\n  - .agent/c.yml\n',
      '.agent/b.yml': 'extends:\n  - .agent/c.yml\n',
      '.agent/c.yml': 'extends:\n  - .agent/a.yml\n',
    }))
    expect(e.message).toContain('`extends` forms a cycle: .agent/keyrack.yml → .agent/a.yml → .agent/c.yml → .agent/a.yml')
    expect(e.message).toStartWith('.agent/c.yml:2:5: ')
  })
})

describe('only regular files inside the git root', () => {
  test('a directory as the manifest or as an extends target is refused, naming it', () => {
    const dir = worksite({})
    mkdirSync(join(dir, MAIN), { recursive: true })
    expect(refusal(dir).message).toBe('the repo manifest .agent/keyrack.yml is a directory, not a regular file')
    const ext = worksite({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/x.yml\n' })
    mkdirSync(join(ext, '.agent/x.yml'))
    const e = refusal(ext)
    expect(e.message).toBe('.agent/keyrack.yml:4:5: `extends` names .agent/x.yml, which is a directory, not a regular file')
    expect(e.line).toBe(4)
  })

  test('a file over 1 MiB is refused without being parsed', () => {
    const dir = worksite({ [MAIN]: `org: acme\nenv.test:\n${'  - K\n'.repeat(200_000)}` })
    expect(refusal(dir).message).toBe('the repo manifest .agent/keyrack.yml is larger than 1 MiB')
  })

  test('a manifest, .agent/ or an extends target that resolves outside the git root is refused', () => {
    const outside = join(root, `outside-${n}.yml`)
    writeFileSync(outside, 'org: evil\nenv.test:\n  - STOLEN\n')
    const viaFile = worksite({})
    mkdirSync(join(viaFile, '.agent'))
    symlinkSync(outside, join(viaFile, MAIN))
    expect(refusal(viaFile).message).toContain('.agent/keyrack.yml resolves outside the git root')

    const outsideDir = join(root, `outside-dir-${n}`)
    mkdirSync(outsideDir)
    writeFileSync(join(outsideDir, 'keyrack.yml'), 'org: evil\nenv.test: []\n')
    const viaDir = worksite({})
    symlinkSync(outsideDir, join(viaDir, '.agent'))
    expect(refusal(viaDir).message).toContain('resolves outside the git root')

    const viaExtends = worksite({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/role.yml\n' })
    symlinkSync(outside, join(viaExtends, '.agent/role.yml'))
    const e = refusal(viaExtends)
    expect(e.message).toBe('.agent/keyrack.yml:4:5: `extends` names .agent/role.yml, which resolves outside the git root (a symlink leads out of the repo)')
  })

  test('a symlink that stays inside the repo is fine', () => {
    const dir = worksite({ 'config/keyrack.yml': 'org: acme\nenv.test:\n  - A\nextends:\n  - .agent/role.yml\n', 'roles/r.yml': 'env.test:\n  - B\n' })
    mkdirSync(join(dir, '.agent'), { recursive: true })
    symlinkSync('../config/keyrack.yml', join(dir, MAIN))
    symlinkSync('../roles/r.yml', join(dir, '.agent/role.yml'))
    expect(readRepoManifest(dir).envs.get('test')).toEqual([{ key: 'A' }, { key: 'B' }])
  })

  test('invalid UTF-8 is refused, not decoded into replacement characters', () => {
    const dir = worksite({})
    mkdirSync(join(dir, '.agent'))
    writeFileSync(join(dir, MAIN), Buffer.from([...Buffer.from('org: acme\nenv.test:\n  - A'), 0xff, 0x0a]))
    expect(refusal(dir).message).toBe('the repo manifest .agent/keyrack.yml is not valid UTF-8')
  })
})

describe.skipIf(!isRoot)('a repo owned by another user is refused (like git safe.directory)', () => {
  test('a planted .git above the working directory', () => {
    const shared = join(root, `shared-${n++}`)
    mkdirSync(join(shared, '.git'), { recursive: true })
    mkdirSync(join(shared, 'work'))
    chownSync(join(shared, '.git'), NOBODY, NOBODY)
    let error: unknown
    try {
      findWorksite(join(shared, 'work'), { HOME: join(root, 'no-home'), PATH: process.env.PATH })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(KeyrackManifestInvalidError)
    const e = error as KeyrackManifestInvalidError
    expect(e.message).toStartWith(`${join(shared, '.git')} is owned by uid ${NOBODY}, not by you (uid 0)`)
    expect(e.hint.join('\n')).toContain(`git config --global --add safe.directory ${shared}`)
  })

  test('a manifest owned by another user inside your repo', () => {
    const dir = worksite({ [MAIN]: 'org: acme\nenv.test: []\n' })
    chownSync(join(dir, MAIN), NOBODY, NOBODY)
    expect(refusal(dir).message).toContain(`.agent/keyrack.yml is owned by uid ${NOBODY}, not by you`)
  })

  test('your own repo is the worksite', () => {
    const dir = worksite({ [MAIN]: 'org: acme\nenv.test: []\n' })
    expect(findWorksite(join(dir, '.agent'))).toBe(dir)
    expect(readRepoManifest(dir).org).toBe('acme')
  })
})

describe('duplicate keys are refused in every YAML spelling, by both parsers alike', () => {
  const cases: Record<string, { yaml: string; line: number; column: number }> = {
    'an escaped key': { yaml: 'org: acme\nenv.test: []\n"env.t\\u0065st":\n  - STOLEN\n', line: 3, column: 1 },
    'a single-quoted key': { yaml: "org: acme\nenv.test: []\n'env.test':\n  - STOLEN\n", line: 3, column: 1 },
    'a flow map': { yaml: '{org: acme, env.test: [], env.test: [STOLEN]}\n', line: 1, column: 27 },
    'a `? key` entry': { yaml: 'org: acme\nenv.test: []\n? env.test\n: [STOLEN]\n', line: 3, column: 3 },
    'a duplicate mech inside one object': { yaml: 'org: acme\nenv.test:\n  - key: A\n    mech: EPHEMERAL_VIA_AWS_SSO\n    mech: PERMANENT_VIA_REPLICA\n', line: 5, column: 5 },
    'a duplicate mech in a flow object': { yaml: 'org: acme\nenv.test:\n  - {key: A, mech: EPHEMERAL_VIA_AWS_SSO, mech: PERMANENT_VIA_REPLICA}\n', line: 3, column: 43 },
    'a tagged key': { yaml: 'org: acme\nenv.test: []\n!!str env.test:\n  - STOLEN\n', line: 3, column: 7 },
    'the same org twice': { yaml: 'org: acme\norg: evil\nenv.test: []\n', line: 2, column: 1 },
  }
  for (const [name, { yaml, line, column }] of Object.entries(cases))
    test(name, () => {
      // Bun's parser alone resolves it silently (last wins)…
      expect(() => Bun.YAML.parse(yaml)).not.toThrow()
      // …so the fast path declines it, and the full path refuses it with its position
      expect(parseFileFast(yaml)).toBeNull()
      expect(() => parseFileFull(yaml, MAIN, MAIN)).toThrow(KeyrackManifestInvalidError)
      const e = refusal(worksite({ [MAIN]: yaml }))
      expect({ line: e.line, column: e.column }).toEqual({ line, column })
      expect(e.message).toStartWith(`${MAIN}:${line}:${column}: a mapping repeats a key`)
      // the line itself is never echoed
      expect(e.message).not.toContain('STOLEN')
      expect(e.message).not.toContain('PERMANENT_VIA_REPLICA}')
    })

  test('YAML merge keys are refused: Bun would expand them into keys nobody wrote out', () => {
    const yaml = 'org: acme\nenv.test: []\n<<: {env.prod: [STOLEN]}\n'
    expect(Bun.YAML.parse(yaml)).toHaveProperty(['env.prod'])
    expect(parseFileFast(yaml)).toBeNull()
    const e = refusal(worksite({ [MAIN]: yaml }))
    expect(e.message).toStartWith(`${MAIN}:3:1: YAML merge keys`)
  })

  test('differential: on generated plain manifests the fast path is the full path or declines', () => {
    // a small deterministic generator over the plain subset, with duplicates and odd indentation mixed in
    let seed = 42
    const rand = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % k)
    const keys = ['A', 'B', 'xai_key', 'aws.profile']
    const fields = ['key: A', 'key: B', 'mech: PERMANENT_VIA_REPLICA', 'grade: ephemeral', 'colour: red', 'reason: no short-lived tokens']
    let fastDecided = 0
    for (let i = 0; i < 400; i++) {
      const lines = ['org: acme']
      for (let s = 0, sections = 1 + rand(3); s < sections; s++) {
        lines.push(`${['env.test', 'env.prod', 'env.all', 'env.test'][rand(4)]}:${rand(8) === 0 ? ' []' : ''}`)
        for (let e = 0, entries = rand(4); e < entries; e++) {
          const indent = ' '.repeat([2, 2, 2, 0, 3][rand(5)]!)
          if (rand(2)) lines.push(`${indent}- ${keys[rand(keys.length)]}${rand(3) === 0 ? ': ephemeral' : ''}`)
          else {
            lines.push(`${indent}- ${fields[rand(2)]}`)
            for (let f = 0, more = rand(3); f < more; f++) lines.push(`${indent}${' '.repeat(2 + (rand(6) === 0 ? 1 : 0))}${fields[rand(fields.length)]}`)
          }
        }
      }
      const text = `${lines.join('\n')}\n`
      let full: unknown
      try {
        full = parseFileFull(text, MAIN, MAIN)
      } catch (error) {
        full = error instanceof KeyrackManifestInvalidError ? 'refused' : error
      }
      const fast = parseFileFast(text)
      if (fast === null) continue
      fastDecided++
      // whatever the fast path accepts, the full path accepts identically (positions aside)
      expect(full).not.toBe('refused')
      const strip = (p: { envs: unknown; org?: string; extends: unknown[] }) => ({ org: p.org, envs: p.envs, extends: (p.extends as { path: string }[]).map((x) => x.path) })
      expect({ text, ...strip(fast) }).toEqual({ text, ...strip(full as never) })
    }
    // the generator is not vacuous: the fast path decided a good share of the cases
    expect(fastDecided).toBeGreaterThan(50)
  })

  test('a plain file is decided on the fast path', () => {
    const text = 'org: acme\nenv.all:\n  - XAI_API_KEY\nenv.test:\n  - AWS_PROFILE: ephemeral # ok\n  - key: GITHUB_TOKEN\n    mech: EPHEMERAL_VIA_GITHUB_APP\n    reason: "short-lived"\nenv.prod: []\n'
    expect(plainKeyCount(text)).toBe(8)
    expect(parseFileFast(text)).not.toBeNull()
  })
})

describe('env.sudo in a repo manifest is refused', () => {
  for (const section of ['env.sudo', 'env.SUDO'])
    test(section, () => {
      const yaml = `org: acme\nenv.test: []\n${section}:\n  - ROOT_KEY\n`
      expect(parseFileFast(yaml)).toBeNull()
      const e = refusal(worksite({ [MAIN]: yaml }))
      expect(e.message).toStartWith(`${MAIN}:3:1: \`env.sudo\` cannot be in a repo manifest`)
      expect(e.message).toContain('keyrack get --key KEY --env sudo')
    })

  test('also in an extended file', () => {
    const e = refusal(worksite({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/role.yml\n', '.agent/role.yml': 'env.sudo:\n  - ROOT_KEY\n' }))
    expect(e.message).toStartWith('.agent/role.yml:1:1: `env.sudo`')
  })

  test('allowlistFor never lists a sudo slug, even for env.all keys', () => {
    const m = readRepoManifest(worksite({ [MAIN]: 'org: acme\nenv.all:\n  - A\nenv.test: []\n' }))
    expect(allowlistFor(m, 'sudo')).toEqual([])
  })
})

describe("rhachet's manifests, read as rhachet reads them where that does not widen access", () => {
  test("env names with _ and upper case; lower-case and dotted key names (rhachet's hydrateKeyrackRepoManifest takes any)", () => {
    const m = readRepoManifest(worksite({ [MAIN]: 'org: acme\nenv.Prep_Admin:\n  - xai_api_key\n  - aws.profile: ephemeral\n  - key: Mixed.Case_1\n' }))
    expect(declaredEnvs(m)).toEqual(['Prep_Admin'])
    expect(allowlistFor(m, 'Prep_Admin').map((k) => k.slugs[0])).toEqual(['acme.Prep_Admin.xai_api_key', 'acme.Prep_Admin.aws.profile', 'acme.Prep_Admin.Mixed.Case_1'])
  })

  test('a dotted key name survives the slug round trip (org and env never hold a dot)', () => {
    for (const parts of [{ org: 'acme', env: 'test', key: 'aws.profile' }, { org: '@all', env: 'sudo', key: 'a.b.c' }, { org: 'acme', env: 'Prep_Admin', key: 'XAI_API_KEY' }])
      expect(parseSlug(toSlug(parts))).toEqual(parts)
  })

  test('env.all in an extended file applies only to the envs that file declares', () => {
    const m = readRepoManifest(worksite({
      [MAIN]: 'org: acme\nenv.all:\n  - ROOT_ALL\nenv.test:\n  - A\nextends:\n  - .agent/role.yml\n',
      '.agent/role.yml': 'org: role\nenv.all:\n  - ROLE_ALL\nenv.prod:\n  - P\n  - key: ROLE_ALL\n    grade: ephemeral\n',
    }))
    expect(allowlistFor(m, 'test').map((k) => k.key)).toEqual(['A', 'ROOT_ALL'])
    expect(allowlistFor(m, 'prod').map((k) => [k.key, k.slugs])).toEqual([
      ['P', ['acme.prod.P', 'acme.all.P']],
      // the env's own entry wins over the same key's env.all entry
      ['ROLE_ALL', ['acme.prod.ROLE_ALL', 'acme.all.ROLE_ALL']],
      ['ROOT_ALL', ['acme.prod.ROOT_ALL', 'acme.all.ROOT_ALL']],
    ])
    expect(allowlistFor(m, 'prod').find((k) => k.key === 'ROLE_ALL')!.spec.grade).toEqual({ duration: 'ephemeral' })
    expect(allowlistFor(m, 'all').map((k) => k.key)).toEqual(['ROOT_ALL'])
  })

  test('an extended file with env.all and no env section is refused, as rhachet refuses it', () => {
    const e = refusal(worksite({ [MAIN]: 'org: acme\nenv.test: []\nextends:\n  - .agent/role.yml\n', '.agent/role.yml': 'env.all:\n  - ROLE_ALL\n' }))
    expect(e.message).toStartWith('.agent/role.yml:1:1: `env.all` needs at least one env-specific section')
  })

  test("rhachet's own repo manifest and its role keyrack (ehmpathy/rhachet .agent/keyrack.yml)", () => {
    const m = readRepoManifest(worksite({
      [MAIN]: 'org: ehmpathy\nextends:\n  - .agent/repo=.this/role=test/keyrack.yml\nenv.prod: []\nenv.prep:\n  - EHMPATHY_SEATURTLE_GITHUB_TOKEN\n  - XAI_API_KEY\n  - AWS_PROFILE\nenv.test: []\nenv.all: []\n',
      '.agent/repo=.this/role=test/keyrack.yml': 'org: ehmpathy\nenv.prod: null\nenv.test:\n  - OPENAI_API_KEY\n  - XAI_API_KEY\n  - ANTHROPIC_API_KEY\nenv.all: []\n',
    }))
    expect(declaredEnvs(m).sort()).toEqual(['prep', 'prod', 'test'])
    expect(allowlistFor(m, 'test').map((k) => k.key)).toEqual(['OPENAI_API_KEY', 'XAI_API_KEY', 'ANTHROPIC_API_KEY'])
    expect(m.warnings).toEqual([])
  })
})
