/**
 * Secrets never leak (issue 2): plant unique secrets, run every command on success and failure
 * paths, and search every stderr, every stdout that was not a requested secret output, every
 * file under the sandbox (HOME, KEYRACK_HOME, TMPDIR, runtime dir) except the vault files, the
 * decrypted host manifest, and `ps` output / argv while `exec` runs a child.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { ensureBinary, Sandbox, type RunResult } from '../helpers/harness.ts'

// scrypt (passphrase identities) and process spawns are slow on a busy machine
setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const unique = (label: string) => `${label}-${randomBytes(12).toString('hex')}`
const S = {
  secure: unique('kr-leak-secure'),
  direct: unique('kr-leak-direct'),
  env: unique('kr-leak-env'),
  replaced: unique('kr-leak-replaced'),
  // a long-lived GitHub PAT shape the firewall refuses to store
  pat: `ghp_${randomBytes(18).toString('hex')}`,
  // pasted into the repo manifest by mistake
  pasted: unique('kr-leak-pasted'),
}
const ALL = Object.values(S)
/** the caller's environment for get/exec: one key only in the environment, one with a harmless token */
const CALLER_ENV = { FROM_ENV: S.env, GH_TOKEN: 'ghs_short-lived-installation-token' }
const SECURE = ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']
const DIRECT = ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']
const MANIFEST = 'org: acme\nenv.all:\n  - FROM_ENV\nenv.test:\n  - ALPHA\n  - BETA\n  - GH_TOKEN\nenv.prod:\n  - MISSING\n'

/** where a secret may legitimately be: the vault files, and the repo manifest we pasted into */
const isVaultFile = (f: string) => /\/secure\/[^/]+\/[0-9a-f]{64}\.age$/.test(f) || /\/direct\.[^/]+\.json$/.test(f)

describe('secrets never leak', () => {
  const sb = new Sandbox('kr-leak')
  afterAll(() => sb.cleanup())
  const stderrs: { args: string[]; stderr: string }[] = []
  /** outputs that are not a requested secret output (everything but get/exec stdout) */
  const quietStdouts: { args: string[]; stdout: string }[] = []
  const run = (args: string[], options: Parameters<Sandbox['run']>[1] = {}, stdoutMayHoldSecrets = false): RunResult => {
    const r = sb.run(args, options)
    stderrs.push({ args, stderr: r.stderr })
    if (!stdoutMayHoldSecrets) quietStdouts.push({ args, stdout: r.stdout })
    return r
  }
  const set = (key: string, env: string, secret: string, extra = SECURE, options = {}) =>
    run(['set', '--key', key, '--env', env, ...extra, '--secret-stdin'], { input: secret, ...options })

  beforeAll(() => {
    expect(run(['init', '--no-passphrase']).code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })

  test('every command, success and failure paths', () => {
    const codes: Record<string, number> = {}
    const note = (name: string, r: RunResult) => (codes[name] = r.code)
    // set: success in both vaults, a replaced value, and every refusal with the secret on stdin
    note('set secure', set('ALPHA', 'test', S.replaced))
    note('set secure again', set('ALPHA', 'test', S.secure))
    note('set direct', set('BETA', 'test', S.direct, DIRECT))
    note('set degrade', set('ALPHA', 'test', S.secure, DIRECT))
    note('set unknown vault', set('ALPHA', 'test', S.secure, ['--vault', 'os.nope', '--mech', 'PERMANENT_VIA_REPLICA']))
    note('set unknown mech', set('ALPHA', 'test', S.secure, ['--vault', 'os.secure', '--mech', 'NOPE']))
    note('set no mech', set('ALPHA', 'test', S.secure, ['--vault', 'os.secure']))
    note('set bad key', set('al-pha', 'test', S.secure))
    note('set firewall', set('GH_TOKEN', 'test', S.pat))
    note('set no stdin flag', run(['set', '--key', 'ALPHA', '--env', 'test', ...SECURE], { input: S.secure }))
    note('set bad owner', set('ALPHA', 'test', S.secure, [...SECURE, '--owner', 'nobody']))
    // get: every format, success and failure
    const env = CALLER_ENV
    for (const output of ['exports', 'json', 'table']) note(`get ${output}`, run(['get', '--for', 'repo', '--env', 'test', '--output', output], { env }, output !== 'table'))
    note('get value', run(['get', '--key', 'ALPHA', '--env', 'test', '--output', 'value'], {}, true))
    note('get absent', run(['get', '--for', 'repo', '--env', 'prod'], { env }))
    note('get missing (all or nothing)', run(['get', '--for', 'repo', '--env', 'test']))
    note('get not allowlisted', run(['get', '--key', 'NOT_LISTED', '--env', 'test']))
    note('get value of several', run(['get', '--for', 'repo', '--env', 'test', '--output', 'value'], { env }))
    // exec
    note('exec ok', run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'test -n "$ALPHA"'], { env }))
    note('exec child fails', run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'exit 3'], { env }))
    note('exec refused', run(['exec', '--for', 'repo', '--env', 'prod', '--', 'true'], { env }))
    note('exec not found', run(['exec', '--for', 'repo', '--env', 'test', '--', 'no-such-cmd-kr'], { env }))
    // list, del
    note('list', run(['list']))
    note('list json', run(['list', '--json']))
    note('del ok', run(['del', '--key', 'BETA', '--env', 'test']))
    note('del absent', run(['del', '--key', 'BETA', '--env', 'test']))
    note('set direct again', set('BETA', 'test', S.direct, DIRECT))

    expect(codes).toEqual({
      'set secure': 0, 'set secure again': 0, 'set direct': 0, 'set degrade': 5, 'set unknown vault': 2, 'set unknown mech': 2,
      'set no mech': 2, 'set bad key': 2, 'set firewall': 5, 'set no stdin flag': 2, 'set bad owner': 8,
      'get exports': 0, 'get json': 0, 'get table': 0, 'get value': 0, 'get absent': 4, 'get missing (all or nothing)': 4,
      'get not allowlisted': 3, 'get value of several': 2, 'exec ok': 0, 'exec child fails': 3, 'exec refused': 4, 'exec not found': 127,
      list: 0, 'list json': 0, 'del ok': 0, 'del absent': 4, 'set direct again': 0,
    })
    // the requested outputs do carry the secrets (so the searches below are meaningful)
    expect(sb.run(['get', '--for', 'repo', '--env', 'test', '--output', 'json'], { env }).stdout).toContain(S.secure)
  })

  test('a pasted secret in a broken repo manifest is never echoed', () => {
    sb.writeRepoManifest(`${MANIFEST}  ${S.pasted}\n`)
    expect(run(['get', '--for', 'repo', '--env', 'test']).code).toBe(7)
    sb.writeRepoManifest(MANIFEST.replace('  - BETA\n', `  - BETA: ${S.pasted}\n`))
    expect(run(['get', '--key', 'ALPHA', '--env', 'test']).code).toBe(7)
    expect(set('ALPHA', 'test', S.secure).code).toBe(7)
    sb.writeRepoManifest(MANIFEST)
  })

  test('no stderr, and no stdout but the requested outputs, holds a secret', () => {
    expect(stderrs.length).toBeGreaterThan(25)
    for (const { args, stderr } of stderrs) for (const secret of ALL) expect({ args, leaked: stderr.includes(secret) }).toEqual({ args, leaked: false })
    for (const { args, stdout } of quietStdouts) for (const secret of ALL) expect({ args, leaked: stdout.includes(secret) }).toEqual({ args, leaked: false })
  })

  test('no file outside the vault files holds a secret (HOME, KEYRACK_HOME, TMPDIR, runtime dir)', () => {
    const files = sb.files()
    expect(files.some(isVaultFile)).toBe(true)
    expect(files.some((f) => f.endsWith('host.human.yml.age'))).toBe(true)
    for (const secret of ALL) {
      const found = sb.filesContaining(secret, (f) => isVaultFile(f))
      expect({ secret: secret.slice(0, 14), found }).toEqual({ secret: secret.slice(0, 14), found: [] })
    }
    // the plaintext vault holds only what was put there on purpose
    const direct = readFileSync(join(sb.keyrackHome, 'direct.human.json'), 'utf8')
    for (const secret of [S.secure, S.replaced, S.pat, S.env]) expect(direct).not.toContain(secret)
  })

  test('the decrypted host manifest holds metadata only', async () => {
    const { Decrypter } = await import('age-encryption')
    const identity = readFileSync(join(sb.keyrackHome, 'identity.human.key'), 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!
    const d = new Decrypter()
    d.addIdentity(identity)
    const text = await d.decrypt(readFileSync(join(sb.keyrackHome, 'host.human.yml.age')), 'text')
    expect(text).toContain('acme.test.ALPHA')
    for (const secret of ALL) expect(text).not.toContain(secret)
  })

  test('while exec runs a child, no secret is in any argv (ps) and the child holds it only in its environment', async () => {
    const ready = join(sb.dir, 'ps-child-ready')
    const { proc, done } = sb.spawn(
      ['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', `touch "${ready}"; exec sleep 10`],
      { env: CALLER_ENV, timeoutMs: 20_000 },
    )
    try {
      for (let i = 0; i < 100 && !existsSync(ready) && proc.exitCode === null; i++) await Bun.sleep(25)
      expect(existsSync(ready)).toBe(true)
      const ps = spawnSync('ps', ['-eo', 'pid,args', '-ww'], { encoding: 'utf8' }).stdout
      expect(ps).toContain('sleep 10')
      for (const secret of ALL) expect(ps.includes(secret)).toBe(false)
      const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8')
      expect(cmdline).toContain('exec')
      for (const secret of ALL) expect(cmdline.includes(secret)).toBe(false)
      // keyrack's own environment is the caller's: it never exports the secrets to itself
      const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8')
      expect(environ.includes(S.secure)).toBe(false)
      expect(environ.includes(S.direct)).toBe(false)
    } finally {
      proc.kill('SIGTERM')
      await done
    }
    // nothing left behind by the exec either
    for (const secret of ALL) expect(sb.filesContaining(secret, isVaultFile)).toEqual([])
  })

  test('a failing set against a broken host manifest leaks nothing either', () => {
    const host = join(sb.keyrackHome, 'host.human.yml.age')
    writeFileSync(host, 'not age')
    const r = set('ALPHA', 'test', S.secure)
    expect(r.code).toBe(8)
    for (const secret of ALL) expect(r.stderr.includes(secret)).toBe(false)
    for (const secret of ALL) expect(sb.filesContaining(secret, isVaultFile)).toEqual([])
  })
})
