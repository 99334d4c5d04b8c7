/**
 * Issue 2, from the compiled binary as a user: init (passphrase and --no-passphrase), init --repo,
 * list, del, owners and KEYRACK_HOME, and the bad-input rules (a clear `keyrack: error:` line, a
 * `keyrack: hint:` with the next command, a distinct exit code, and never a hang).
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { EXIT_CODES } from '../../src/domain/errors.ts'
import { readRepoManifest } from '../../src/manifests/repo.ts'
import { ensureBinary, modeOf, Sandbox, type RunResult, withoutShellStatus } from '../helpers/harness.ts'

// scrypt (passphrase identities) and process spawns are slow on a busy machine
setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const PASS = 'correct horse battery staple'
const MANIFEST = 'org: acme\nenv.all:\n  - SHARED\nenv.test:\n  - A_KEY\n  - B_KEY\nenv.prod:\n  - P_KEY\n'

/** the error line, the hint lines, and nothing on stdout */
function expectError(r: RunResult, code: number, error: string | RegExp, hint?: string | RegExp): void {
  expect({ code: r.code, stdout: withoutShellStatus(r) }).toEqual({ code, stdout: '' })
  const errorLine = r.stderr.split('\n').find((l) => l.startsWith('keyrack: error: '))
  expect(errorLine).toBeDefined()
  expect(r.stderr).toMatch(error)
  if (hint !== undefined) {
    // hints start at the first hint line (a hint may continue on indented lines, e.g. an example)
    const at = r.stderr.indexOf('keyrack: hint: ')
    expect(at).toBeGreaterThan(-1)
    expect(r.stderr.slice(at)).toMatch(hint)
  }
}

/** every file's bytes, but the audit log's (a refusal is recorded there: that is the one change expected) */
const snapshot = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && !/^audit\./.test(d.name))
      .map((d) => [join(d.parentPath, d.name), readFileSync(join(d.parentPath, d.name)).toString('base64')]),
  )

test('exit codes are distinct', () => {
  const codes = Object.values(EXIT_CODES)
  expect(new Set(codes).size).toBe(codes.length)
})

describe('init with a passphrase-protected age identity', () => {
  const sb = new Sandbox('kr-init-pass')
  afterAll(() => sb.cleanup())
  const home = sb.keyrackHome
  const pass = { fds: { 3: `${PASS}\n` } }

  test('without a TTY and without passphrase input, init fails with a hint instead of hanging', async () => {
    // stdin stays open and never says anything: a prompt here would wait forever
    const { done } = sb.spawn(['init'], { keepStdinOpen: true, timeoutMs: 10_000 })
    const r = await done
    expect(r.signal).toBeNull()
    expectError(r, 2, /a passphrase is needed/, /--no-passphrase/)
    expect(r.stderr).toContain('--passphrase-stdin')
    expect(existsSync(join(home, 'host.human.yml.age'))).toBe(false)
    expect(existsSync(join(home, 'owner.human.json'))).toBe(false)
  })

  test('--passphrase-fd 3 creates the identity and the host manifest, files 0600 in a 0700 dir', () => {
    const r = sb.run(['init', '--passphrase-fd', '3'], pass)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/keyrack: public key: age1[0-9a-z]{58}\n/)
    expect(r.stderr).toContain(`host manifest: ${join(home, 'host.human.yml.age')}`)
    expect(r.stderr).not.toContain('warning')
    for (const f of ['host.human.yml.age', 'identity.human.age', 'owner.human.json']) expect(modeOf(join(home, f))).toBe(0o600)
    expect(modeOf(home)).toBe(0o700)
    // the identity is stored encrypted with the passphrase (age scrypt), never in the clear
    const identity = readFileSync(join(home, 'identity.human.age'), 'utf8')
    expect(identity).not.toContain('AGE-SECRET-KEY')
    expect(identity.startsWith('age-encryption.org/v1\n-> scrypt ')).toBe(true)
    expect(existsSync(join(home, 'identity.human.key'))).toBe(false)
    expect(JSON.parse(readFileSync(join(home, 'owner.human.json'), 'utf8'))).toMatchObject({ via: 'age', passphrase: true })
    // the host manifest is age-encrypted
    expect(readFileSync(join(home, 'host.human.yml.age'), 'utf8').startsWith('age-encryption.org/v1\n-> X25519 ')).toBe(true)
  })

  test('init refuses to overwrite an existing keyrack (no file changes)', () => {
    const before = snapshot(home)
    for (const args of [['init', '--no-passphrase'], ['init', '--passphrase-fd', '3']]) {
      const r = sb.run(args, pass)
      expectError(r, 2, /owner 'human' already has a keyrack/, /keyrack list/)
    }
    expect(snapshot(home)).toEqual(before)
  })

  test('set with the right passphrase on fd 3 and the secret on stdin', () => {
    sb.writeRepoManifest(MANIFEST)
    const r = sb.run(['set', '--key', 'A_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { ...pass, input: 'a-secret' })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('set acme.test.A_KEY in os.secure via PERMANENT_VIA_REPLICA')
    expect(r.stderr).toContain('round trip verified')
  })

  test('get without a daemon reports a key behind a protected identity as locked, with the unlock command', () => {
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'])
    expectError(r, 4, /keyrack: +A_KEY +locked/, /ask a human to run `keyrack unlock --for repo --env test`/)
    const one = sb.run(['get', '--key', 'A_KEY', '--env', 'test'])
    expectError(one, 4, /A_KEY \(locked\)/, /keyrack unlock --for repo --env test/)
  })

  test('a wrong passphrase on list and on set: exit 8 with a clear message, nothing changed', () => {
    const before = snapshot(home)
    const wrong = { fds: { 3: 'not the passphrase\n' } }
    const list = sb.run(['list', '--passphrase-fd', '3'], wrong)
    expectError(list, 8, /wrong passphrase for the identity of owner 'human'/, /try again/)
    const set = sb.run(['set', '--key', 'B_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { ...wrong, input: 'b-secret' })
    expectError(set, 8, /wrong passphrase for the identity of owner 'human'/)
    expect(snapshot(home)).toEqual(before)
    const refused = JSON.parse(sb.run(['audit', '--json']).stdout).at(-1)
    expect(refused).toMatchObject({ command: 'set', outcome: 'refused', slugs: ['B_KEY'] })
  })

  test('list with no passphrase input and no TTY: locked with a hint, not a hang', async () => {
    const { done } = sb.spawn(['list'], { keepStdinOpen: true, timeoutMs: 10_000 })
    const r = await done
    expectError(r, 4, /passphrase-protected and no passphrase can be asked for here/, /--passphrase-fd 3/)
  })

  test('list with the right passphrase shows the entry', () => {
    const r = sb.run(['list', '--passphrase-fd', '3'], pass)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/acme\.test\.A_KEY\s+os\.secure\s+PERMANENT_VIA_REPLICA\s+encrypted,permanent/)
    expect(r.stdout).not.toContain('a-secret')
  })
})

describe('init --no-passphrase, owners and KEYRACK_HOME', () => {
  const sb = new Sandbox('kr-init-nopass')
  afterAll(() => sb.cleanup())
  const home = sb.keyrackHome

  test('--no-passphrase warns that the identity is unprotected, and works without input', () => {
    const r = sb.initUnprotected()
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/keyrack: warning: the identity is stored unprotected/)
    expect(modeOf(join(home, 'identity.human.key'))).toBe(0o600)
    expect(modeOf(join(home, 'host.human.yml.age'))).toBe(0o600)
    expect(JSON.parse(readFileSync(join(home, 'owner.human.json'), 'utf8'))).toMatchObject({ passphrase: false })
    expect(sb.run(['list']).code).toBe(0)
  })

  test('--owner makes a separate keyrack; KEYRACK_OWNER selects it', () => {
    const r = sb.initUnprotected('seaturtle')
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('--owner seaturtle')
    for (const f of ['host.seaturtle.yml.age', 'owner.seaturtle.json', 'identity.seaturtle.key']) expect(existsSync(join(home, f))).toBe(true)
    sb.writeRepoManifest(MANIFEST)
    expect(sb.set('A_KEY', 'test', 'turtle-secret', ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--owner', 'seaturtle']).code).toBe(0)
    const turtle = sb.run(['list', '--json'], { env: { KEYRACK_OWNER: 'seaturtle' } })
    expect(JSON.parse(turtle.stdout).keys.map((k: { slug: string }) => k.slug)).toEqual(['acme.test.A_KEY'])
    // the human owner never sees it
    expect(JSON.parse(sb.run(['list', '--json']).stdout).keys).toEqual([])
    const get = sb.run(['get', '--key', 'A_KEY', '--env', 'test', '--output', 'value', '--owner', 'seaturtle'])
    expect(get).toMatchObject({ code: 0, stdout: 'turtle-secret\n' })
    expect(sb.run(['get', '--key', 'A_KEY', '--env', 'test']).code).toBe(4)
  })

  test('KEYRACK_HOME overrides the root', () => {
    const custom = join(sb.dir, 'custom-root')
    const r = sb.run(['init', '--no-passphrase', '--owner', 'robot'], { env: { KEYRACK_HOME: custom } })
    expect(r.code).toBe(0)
    expect(existsSync(join(custom, 'host.robot.yml.age'))).toBe(true)
    expect(existsSync(join(home, 'host.robot.yml.age'))).toBe(false)
    expect(modeOf(custom)).toBe(0o700)
  })

  test('bad owner names and identity kinds are usage errors', () => {
    expectError(sb.run(['init', '--no-passphrase', '--owner', 'Bad!Owner']), 2, /owner name is invalid/, /--owner human/)
    expectError(sb.run(['list'], { env: { KEYRACK_OWNER: 'UPPER' } }), 2, /owner name is invalid/)
    expectError(sb.run(['init', '--via', 'gpg']), 2, /unknown identity kind/, /--via age/)
  })

  test('an owner that was never initialized: exit 8 and the init command', () => {
    expectError(sb.run(['list', '--owner', 'nobody']), 8, /owner 'nobody' has no keyrack yet/, /keyrack init --owner nobody/)
    expectError(sb.set('A_KEY', 'test', 'x', ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--owner', 'nobody']), 8, /has no keyrack yet/, /keyrack init --owner nobody/)
  })
})

describe('a missing host manifest', () => {
  const sb = new Sandbox('kr-missing-host')
  afterAll(() => sb.cleanup())
  const home = sb.keyrackHome

  test('set and list stop with exit 8, naming the file, and guide to a way out that works', () => {
    expect(sb.initUnprotected().code).toBe(0)
    const host = join(home, 'host.human.yml.age')
    const { rmSync, renameSync } = require('node:fs') as typeof import('node:fs')
    rmSync(host)
    sb.writeRepoManifest(MANIFEST)
    const runs = [sb.run(['list']), sb.set('A_KEY', 'test', 'x'), sb.run(['get', '--for', 'repo', '--env', 'test']), sb.run(['del', '--key', 'A_KEY', '--env', 'test'])]
    for (const r of runs) {
      expectError(r, 8, new RegExp(`owner 'human' has no host manifest \\(${host.replaceAll('.', '\\.')}\\)`), /restore .* from a backup/)
      expect(r.stderr).toContain('owner.human.json')
    }
    expect(existsSync(host)).toBe(false)
    // following the hint only half-way (the identity is still there) must not destroy the identity
    const identity = join(home, 'identity.human.key')
    const before = readFileSync(identity)
    renameSync(join(home, 'owner.human.json'), join(sb.dir, 'owner.human.json.bak'))
    expectError(sb.run(['init', '--no-passphrase']), 2, /an identity of owner 'human' already exists .*keyrack will not overwrite it/, /mv .*identity\.human\.key/)
    expect(readFileSync(identity)).toEqual(before)
    // following it fully starts over
    renameSync(identity, `${identity}.bak`)
    expect(sb.run(['init', '--no-passphrase']).code).toBe(0)
    expect(sb.run(['list']).code).toBe(0)
  })
})

describe('init --repo', () => {
  const sb = new Sandbox('kr-init-repo')
  afterAll(() => sb.cleanup())
  const file = join(sb.repo, '.agent', 'keyrack.yml')

  test('writes a commented starter .agent/keyrack.yml at the git root, which parses', () => {
    const sub = join(sb.repo, 'pkg', 'deep')
    mkdirSync(sub, { recursive: true })
    const r = sb.run(['init', '--repo', '--org', 'acme'], { cwd: sub })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`wrote ${file}`)
    const text = readFileSync(file, 'utf8')
    expect(text).toMatch(/^# /)
    expect(text).toContain('org: acme')
    const manifest = readRepoManifest(sb.repo)
    expect(manifest.org).toBe('acme')
    expect([...manifest.envs.keys()].sort()).toEqual(['all', 'test'])
    // and keyrack itself accepts it: nothing is allowlisted yet, so get returns nothing
    sb.initUnprotected()
    expect(sb.run(['get', '--for', 'repo', '--env', 'test'])).toMatchObject({ code: 0, stdout: '' })
  })

  test('refuses to overwrite the file', () => {
    const before = readFileSync(file, 'utf8')
    expectError(sb.run(['init', '--repo']), 2, /already exists; keyrack will not overwrite it/)
    expect(readFileSync(file, 'utf8')).toBe(before)
  })

  test('without --org: the org is the git remote\'s owner, and the starter names its envs', () => {
    const other = new Sandbox('kr-init-repo2')
    try {
      spawnSync('git', ['remote', 'add', 'origin', 'git@github.com:Acme/widgets.git'], { cwd: other.repo })
      const r = other.run(['init', '--repo'])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('org acme (the owner of git remote origin)')
      expect(r.stderr).toContain('envs: test, and env.all')
      expect(r.stderr).toContain('keyrack set --key XAI_API_KEY --env test --vault os.secure --mech PERMANENT_VIA_REPLICA')
      expect(readRepoManifest(other.repo).org).toBe('acme')
    } finally {
      other.cleanup()
    }
  })

  test('without --org and without a remote, off a terminal: exit 2 with the exact command, nothing written', () => {
    const other = new Sandbox('kr-init-repo3')
    try {
      expectError(other.run(['init', '--repo']), 2, /no org for the repo manifest/, /keyrack init --repo --org <org>/)
      expect(existsSync(join(other.repo, '.agent', 'keyrack.yml'))).toBe(false)
      // a local-path remote names no owner either
      spawnSync('git', ['remote', 'add', 'origin', '/srv/git/widgets.git'], { cwd: other.repo })
      expect(other.run(['init', '--repo']).code).toBe(2)
    } finally {
      other.cleanup()
    }
  })

  test('outside a git repo: a usage error with a hint', () => {
    const outside = join(sb.dir, 'not-a-repo')
    mkdirSync(outside, { recursive: true })
    expectError(sb.run(['init', '--repo'], { cwd: outside }), 2, /is not inside a git repo/, /git init/)
  })
})

describe('list and del', () => {
  const sb = new Sandbox('kr-list-del')
  afterAll(() => sb.cleanup())
  const secureFile = (slug: string) => join(sb.keyrackHome, 'secure', 'human', `${createHash('sha256').update(slug).digest('hex')}.age`)
  const direct = join(sb.keyrackHome, 'direct.human.json')

  beforeAll(() => {
    sb.initUnprotected()
    sb.writeRepoManifest(MANIFEST)
    expect(sb.set('A_KEY', 'test', 'list-secret-a').code).toBe(0)
    expect(sb.set('B_KEY', 'test', 'list-secret-b', ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']).code).toBe(0)
  })

  test('list shows vault, mech, grade and timestamps, never a secret', () => {
    const r = sb.run(['list'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^SLUG\s+VAULT\s+MECH\s+GRADE\s+UPDATED\n/)
    expect(r.stdout).toMatch(/acme\.test\.A_KEY\s+os\.secure\s+PERMANENT_VIA_REPLICA\s+encrypted,permanent\s+\d{4}-\d\d-\d\dT/)
    expect(r.stdout).toMatch(/acme\.test\.B_KEY\s+os\.direct\s+PERMANENT_VIA_REPLICA\s+plaintext,permanent/)
    expect(r.stdout + r.stderr).not.toContain('list-secret')
    const json = sb.run(['list', '--json'])
    expect(json.code).toBe(0)
    expect(json.stdout).not.toContain('list-secret')
    const parsed = JSON.parse(json.stdout)
    expect(parsed.owner).toBe('human')
    expect(parsed.keys).toHaveLength(2)
    expect(parsed.keys[0]).toMatchObject({ slug: 'acme.test.A_KEY', org: 'acme', env: 'test', key: 'A_KEY', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', grade: { protection: 'encrypted', duration: 'permanent' } })
    expect(Object.keys(parsed.keys[0]).sort()).toEqual(['createdAt', 'env', 'exid', 'grade', 'key', 'mech', 'org', 'slug', 'updatedAt', 'vault'])
  })

  test('del removes the entry and the stored secret file (os.secure)', () => {
    expect(existsSync(secureFile('acme.test.A_KEY'))).toBe(true)
    const r = sb.run(['del', '--key', 'A_KEY', '--env', 'test'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('removed acme.test.A_KEY')
    expect(existsSync(secureFile('acme.test.A_KEY'))).toBe(false)
    expect(sb.run(['list']).stdout).not.toContain('A_KEY')
    expectError(sb.run(['get', '--key', 'A_KEY', '--env', 'test']), 4, /A_KEY \(absent\)/, /keyrack set --key A_KEY --env test/)
  })

  test('del removes the entry and the plaintext copy (os.direct)', () => {
    expect(readFileSync(direct, 'utf8')).toContain('list-secret-b')
    expect(sb.run(['del', '--key', 'B_KEY', '--env', 'test']).code).toBe(0)
    expect(readFileSync(direct, 'utf8')).not.toContain('list-secret-b')
    expect(readFileSync(direct, 'utf8')).not.toContain('B_KEY')
    expect(JSON.parse(sb.run(['list', '--json']).stdout).keys).toEqual([])
    expect(sb.run(['list']).stderr).toContain('has no keys yet')
  })

  test('del of a key that is not there: exit 4 and where to look', () => {
    expectError(sb.run(['del', '--key', 'A_KEY', '--env', 'test']), 4, /acme\.test\.A_KEY is not in the host manifest/, /keyrack list/)
  })

  test('del needs --key and --env, and an org outside a repo', () => {
    expectError(sb.run(['del', '--key', 'A_KEY']), 2, /needs `--key` and `--env`/, /keyrack del --key XAI_API_KEY --env test/)
    const outside = join(sb.dir, 'elsewhere')
    mkdirSync(outside, { recursive: true })
    expectError(sb.run(['del', '--key', 'A_KEY', '--env', 'test'], { cwd: outside }), 2, /needs `--org`/, /--org <org>/)
  })
})

describe('bad input: clear error, exact next command, distinct exit code', () => {
  const sb = new Sandbox('kr-bad-input')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    sb.initUnprotected()
  })

  test('an unknown command', () => {
    expectError(sb.run(['gett']), 2, /unknown command `gett`/, /did you mean `keyrack get`/)
    expectError(sb.run(['zzz']), 2, /unknown command `zzz`/, /commands: .*get/)
  })

  test('get without --for or --key', () => {
    expectError(sb.run(['get', '--env', 'test']), 2, /say which keys/, /keyrack get --for repo --env test/)
  })

  test('get --for anything-but-repo', () => {
    expectError(sb.run(['get', '--for', 'org', '--env', 'test']), 2, /only takes `repo`/)
  })

  test('get --for repo outside a git repo', () => {
    const outside = join(sb.dir, 'outside')
    mkdirSync(outside, { recursive: true })
    expectError(sb.run(['get', '--for', 'repo', '--env', 'test'], { cwd: outside }), 2, /needs a git repo/, /keyrack get --key KEY --env ENV/)
    expectError(sb.run(['exec', '--for', 'repo', '--env', 'test', '--', 'true'], { cwd: outside }), 2, /needs a git repo/)
  })

  test('get --for repo in a repo without a manifest', () => {
    expectError(sb.run(['get', '--for', 'repo', '--env', 'test']), 2, /this repo has no keyrack manifest/, /keyrack init --repo/)
  })

  test('an invalid repo manifest: exit 7 naming file:line:column', () => {
    sb.writeRepoManifest('org: acme\nkeys:\n  A: b\n')
    expectError(sb.run(['get', '--for', 'repo', '--env', 'test']), 7, /keyrack: error: \.agent\/keyrack\.yml:2:1: a flat `keys:` map/, /env\.test:/)
    expectError(sb.run(['get', '--key', 'A', '--env', 'test']), 7, /\.agent\/keyrack\.yml:2:1/)
  })

  test('get with a bad env or key name', () => {
    sb.writeRepoManifest(MANIFEST)
    expectError(sb.run(['get', '--for', 'repo', '--env', 'te.st']), 2, /env name is invalid/, /--env test/)
    expectError(sb.run(['get', '--key', 'a-key', '--env', 'test']), 2, /key name is invalid/, /--key XAI_API_KEY/)
    expectError(sb.run(['get', '--key', 'A_KEY']), 2, /`--key` needs `--env`/, /keyrack get --key A_KEY --env test/)
  })

  test('get with an unknown output format', () => {
    expectError(sb.run(['get', '--for', 'repo', '--env', 'test', '--output', 'yaml']), 2, /unknown output format/, /--output exports/)
  })

  test('get --for repo with several envs and no --env says which', () => {
    expectError(sb.run(['get', '--for', 'repo']), 2, /say which env/, /keyrack get --for repo --env test/)
  })
})
