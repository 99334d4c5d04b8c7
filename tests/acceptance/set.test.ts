/**
 * `keyrack set` from the compiled binary: os.secure / os.direct round trips, no default mech,
 * bad input, the never-degrade rule, and files that fail to decrypt or parse are never
 * overwritten (the error names them).
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, modeOf, Sandbox, type RunResult } from '../helpers/harness.ts'

// scrypt (passphrase identities) and process spawns are slow on a busy machine
setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const SECURE = ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']
const DIRECT = ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']
const MANIFEST = [
  'org: acme',
  'env.all:',
  '  - SHARED',
  'env.test:',
  '  - A_KEY',
  '  - B_KEY',
  '  - MOVED',
  '  - KEPT',
  '  - key: SSO_PROFILE',
  '    mech: EPHEMERAL_VIA_AWS_SSO',
  '  - key: MUST_ENCRYPT',
  '    grade: encrypted',
  '',
].join('\n')

function expectError(r: RunResult, code: number, error: RegExp, hint?: RegExp): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: '' })
  expect(r.stderr).toMatch(/^keyrack: error: /m)
  expect(r.stderr).toMatch(error)
  if (hint) expect(r.stderr.slice(r.stderr.indexOf('keyrack: hint: '))).toMatch(hint)
}

const secureFile = (sb: Sandbox, slug: string) => join(sb.keyrackHome, 'secure', 'human', `${createHash('sha256').update(slug).digest('hex')}.age`)
const directFile = (sb: Sandbox) => join(sb.keyrackHome, 'direct.human.json')
const value = (sb: Sandbox, key: string, env = 'test') => sb.run(['get', '--key', key, '--env', env, '--output', 'value'])
const listed = (sb: Sandbox) => JSON.parse(sb.run(['list', '--json']).stdout).keys as { slug: string; vault: string; createdAt: string; updatedAt: string }[]

describe('set', () => {
  const sb = new Sandbox('kr-set')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })

  test('os.secure: stores encrypted (0600 file in a 0700 dir), records the entry, round trip verified', () => {
    const r = sb.set('A_KEY', 'test', 'secure-secret-a')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe('keyrack: set acme.test.A_KEY in os.secure via PERMANENT_VIA_REPLICA (grade encrypted,permanent); round trip verified\n')
    const file = secureFile(sb, 'acme.test.A_KEY')
    expect(modeOf(file)).toBe(0o600)
    expect(modeOf(join(sb.keyrackHome, 'secure', 'human'))).toBe(0o700)
    expect(modeOf(join(sb.keyrackHome, 'secure'))).toBe(0o700)
    expect(readFileSync(file).includes('secure-secret-a')).toBe(false)
    expect(existsSync(directFile(sb))).toBe(false)
    expect(value(sb, 'A_KEY')).toMatchObject({ code: 0, stdout: 'secure-secret-a\n' })
    expect(listed(sb).map((k) => [k.slug, k.vault])).toEqual([['acme.test.A_KEY', 'os.secure']])
  })

  test('os.direct: stores plaintext in direct.<owner>.json (0600) and warns that it is plaintext', () => {
    const r = sb.set('B_KEY', 'test', 'direct-secret-b', DIRECT)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`keyrack: warning: os.direct stores B_KEY in plaintext in ${directFile(sb)}`)
    expect(r.stderr).toContain('round trip verified')
    expect(modeOf(directFile(sb))).toBe(0o600)
    expect(JSON.parse(readFileSync(directFile(sb), 'utf8'))['acme.test.B_KEY'].secret).toBe('direct-secret-b')
    expect(value(sb, 'B_KEY')).toMatchObject({ code: 0, stdout: 'direct-secret-b\n' })
  })

  test('a secret with newlines, quotes and unicode comes back byte for byte (one trailing newline is dropped)', () => {
    const secret = `line one\nline "two" 'three' $HOME \`id\` \\ ü€ 🔑`
    expect(sb.set('SHARED', 'all', `${secret}\n`).code).toBe(0)
    expect(value(sb, 'SHARED', 'all').stdout).toBe(`${secret}\n`)
  })

  test('re-set keeps createdAt and moves updatedAt', async () => {
    const before = listed(sb).find((k) => k.slug === 'acme.test.A_KEY')!
    await Bun.sleep(5)
    expect(sb.set('A_KEY', 'test', 'secure-secret-a2').code).toBe(0)
    const after = listed(sb).find((k) => k.slug === 'acme.test.A_KEY')!
    expect(after.createdAt).toBe(before.createdAt)
    expect(after.updatedAt > before.updatedAt).toBe(true)
    expect(value(sb, 'A_KEY').stdout).toBe('secure-secret-a2\n')
  })

  test('no default mech: without --mech it stops and explains the choice; nothing stored', () => {
    const r = sb.run(['set', '--key', 'KEPT', '--env', 'test', '--vault', 'os.secure', '--secret-stdin'], { input: 'nope' })
    expectError(r, 2, /no mech chosen: keyrack has no default mech/, /keyrack set --key KEPT --env test --vault os\.secure --mech PERMANENT_VIA_REPLICA/)
    expect(r.stderr).toContain('available mechs: PERMANENT_VIA_REPLICA')
    expect(listed(sb).some((k) => k.slug.endsWith('.KEPT'))).toBe(false)
  })

  test("the repo manifest's mech requirement guides set, and a different mech is refused", () => {
    // the manifest's mech is used when --mech is absent, and names the one vault that holds it
    const r = sb.run(['set', '--key', 'SSO_PROFILE', '--env', 'test', '--vault', 'os.secure', '--secret-stdin'], { input: 'p' })
    expectError(r, 2, /mech EPHEMERAL_VIA_AWS_SSO cannot take its source from vault os\.secure/, /use one of: --vault aws\.config/)
    const wrong = sb.set('SSO_PROFILE', 'test', 'p')
    expectError(wrong, 5, /requires mech EPHEMERAL_VIA_AWS_SSO for SSO_PROFILE/, /--mech EPHEMERAL_VIA_AWS_SSO/)
  })

  test("the repo manifest's grade requirement refuses a plaintext vault", () => {
    const r = sb.set('MUST_ENCRYPT', 'test', 'x', DIRECT)
    expectError(r, 5, /requires grade encrypted for MUST_ENCRYPT/, /--vault os\.secure/)
    expect(existsSync(directFile(sb)) && readFileSync(directFile(sb), 'utf8').includes('MUST_ENCRYPT')).toBe(false)
  })

  test('unknown vaults and mechs', () => {
    expectError(sb.set('KEPT', 'test', 'x', ['--vault', 'os.nowhere', '--mech', 'PERMANENT_VIA_REPLICA']), 2, /unknown vault 'os\.nowhere'/, /--vault os\.secure/)
    expectError(sb.set('KEPT', 'test', 'x', ['--vault', 'os.secure', '--mech', 'MAGIC']), 2, /unknown mech 'MAGIC'/, /--mech PERMANENT_VIA_REPLICA/)
  })

  test('bad KEY, env and owner names; missing flags', () => {
    expectError(sb.set('not-a-key', 'test', 'x'), 2, /the 'not-a-key' key name is invalid/, /--key XAI_API_KEY/)
    expectError(sb.set('KEPT', '9test', 'x'), 2, /the '9test' env name is invalid/, /--env test/)
    expectError(sb.set('KEPT', 'test', 'x', [...SECURE, '--owner', '9lives']), 2, /owner name is invalid/)
    expectError(sb.run(['set', '--env', 'test', ...SECURE, '--secret-stdin']), 2, /`set` needs `--key`/, /keyrack set --key XAI_API_KEY/)
    expectError(sb.run(['set', '--key', 'KEPT', ...SECURE, '--secret-stdin']), 2, /`set` needs `--env`/, /keyrack set --key KEPT --env test/)
    expectError(sb.run(['set', '--key', 'KEPT', '--env', 'test', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin']), 2, /`set` needs `--vault`/, /--vault os\.secure/)
  })

  test('no TTY and no --secret-stdin: exit 2 with the hint, at once, even with stdin left open', async () => {
    const { done } = sb.spawn(['set', '--key', 'KEPT', '--env', 'test', ...SECURE], { keepStdinOpen: true, timeoutMs: 10_000 })
    const r = await done
    expect(r.signal).toBeNull()
    expectError(r, 2, /no terminal to type the secret in, and no `--secret-stdin`/, /--secret-stdin/)
  })

  test('an empty secret is refused', () => {
    expectError(sb.set('KEPT', 'test', ''), 2, /the secret is empty/)
  })

  test('outside a repo, set needs --org; --org @all stores a machine-wide key', () => {
    const outside = join(sb.dir, 'outside')
    mkdirSync(outside, { recursive: true })
    const r = sb.run(['set', '--key', 'MACHINE', '--env', 'test', ...SECURE, '--secret-stdin'], { input: 'm', cwd: outside })
    expectError(r, 2, /`set` needs `--org`/, /--org @all/)
    const ok = sb.run(['set', '--key', 'MACHINE', '--env', 'test', '--org', '@all', ...SECURE, '--secret-stdin'], { input: 'machine-wide', cwd: outside })
    expect(ok.code).toBe(0)
    expect(sb.run(['get', '--key', 'MACHINE', '--env', 'test', '--org', '@all', '--output', 'value'], { cwd: outside }).stdout).toBe('machine-wide\n')
  })
})

describe('never degrade', () => {
  const sb = new Sandbox('kr-degrade')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })

  test('an os.secure key cannot be re-set into os.direct (exit 5); nothing is written to direct.<owner>.json', () => {
    expect(sb.set('KEPT', 'test', 'kept-encrypted').code).toBe(0)
    // a plaintext file already in use must stay byte-identical; an absent one must stay absent
    for (const prepare of [() => undefined, () => expect(sb.set('B_KEY', 'test', 'other-plain', DIRECT).code).toBe(0)]) {
      prepare()
      const before = existsSync(directFile(sb)) ? readFileSync(directFile(sb)) : null
      for (const secret of ['kept-encrypted', 'a-new-plaintext-value']) {
        const r = sb.set('KEPT', 'test', secret, DIRECT)
        expectError(r, 5, /refusing to move acme\.test\.KEPT from encrypted,permanent \(os\.secure\) to plaintext,permanent \(os\.direct\): keyrack never lowers a key's protection/, /keyrack set --key KEPT --env test --vault os\.secure/)
        expect(r.stderr).toContain('keyrack del --key KEPT --env test')
        expect(r.stderr).not.toContain(secret)
      }
      const after = existsSync(directFile(sb)) ? readFileSync(directFile(sb)) : null
      expect(after).toEqual(before)
    }
    expect(readFileSync(directFile(sb), 'utf8')).not.toContain('KEPT')
    expect(listed(sb).find((k) => k.slug === 'acme.test.KEPT')!.vault).toBe('os.secure')
    expect(value(sb, 'KEPT').stdout).toBe('kept-encrypted\n')
    // no temp file left behind by the refused writes
    expect(readdirSync(sb.keyrackHome).filter((f) => f.includes('.tmp-'))).toEqual([])
  })

  test('moving os.direct → os.secure removes the plaintext copy', () => {
    expect(sb.set('MOVED', 'test', 'was-plaintext', DIRECT).code).toBe(0)
    expect(readFileSync(directFile(sb), 'utf8')).toContain('was-plaintext')
    const r = sb.set('MOVED', 'test', 'now-encrypted')
    expect(r.code).toBe(0)
    const direct = readFileSync(directFile(sb), 'utf8')
    expect(direct).not.toContain('was-plaintext')
    expect(direct).not.toContain('acme.test.MOVED')
    expect(existsSync(secureFile(sb, 'acme.test.MOVED'))).toBe(true)
    expect(value(sb, 'MOVED').stdout).toBe('now-encrypted\n')
    // and it cannot be moved back
    expect(sb.set('MOVED', 'test', 'now-encrypted', DIRECT).code).toBe(5)
  })

  test('after an explicit del, a new plaintext key may be stored on purpose', () => {
    expect(sb.run(['del', '--key', 'KEPT', '--env', 'test']).code).toBe(0)
    expect(sb.set('KEPT', 'test', 'fresh-plain', DIRECT).code).toBe(0)
    expect(value(sb, 'KEPT').stdout).toBe('fresh-plain\n')
  })
})

describe('files that fail to decrypt or parse are never overwritten', () => {
  let sb: Sandbox
  const hostFile = () => join(sb.keyrackHome, 'host.human.yml.age')
  beforeAll(() => {
    sb = new Sandbox('kr-corrupt')
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    expect(sb.set('A_KEY', 'test', 'before-corruption').code).toBe(0)
  })
  afterAll(() => sb.cleanup())

  const tempFiles = () => sb.files(sb.keyrackHome).filter((f) => f.includes('.tmp-'))

  test('a host manifest that fails to decrypt: set stops, names the file, leaves its bytes unchanged', () => {
    const garbage = Buffer.from('age-encryption.org/v1\n-> X25519 not-really\ngarbage\n--- x\n\u0000\u0001\u0002')
    writeFileSync(hostFile(), garbage)
    for (const extra of [SECURE, DIRECT]) {
      const r = sb.set('B_KEY', 'test', 'after-corruption', extra)
      expect(r.code).not.toBe(0)
      expect(r.stderr).toMatch(/^keyrack: error: cannot decrypt .*host\.human\.yml\.age/m)
      expect(r.stderr).toContain(hostFile())
      expect(readFileSync(hostFile())).toEqual(garbage)
    }
    for (const args of [['list'], ['del', '--key', 'A_KEY', '--env', 'test']]) {
      const r = sb.run(args)
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain(hostFile())
    }
    expect(readFileSync(hostFile())).toEqual(garbage)
    expect(existsSync(secureFile(sb, 'acme.test.B_KEY'))).toBe(false)
    expect(existsSync(directFile(sb))).toBe(false)
    expect(tempFiles()).toEqual([])
  })

  test('a host manifest that decrypts but does not parse: exit 7, named, bytes unchanged', async () => {
    const { Encrypter } = await import('age-encryption')
    const { recipient } = JSON.parse(readFileSync(join(sb.keyrackHome, 'owner.human.json'), 'utf8'))
    for (const text of ['keys: [unclosed\n', 'owner:\n  name: human\n  recipients: []\nkeys:\n  x: 1\n']) {
      const e = new Encrypter()
      e.addRecipient(recipient)
      const bytes = Buffer.from(await e.encrypt(text))
      writeFileSync(hostFile(), bytes)
      const r = sb.set('B_KEY', 'test', 'after-corruption')
      expectError(r, 7, /host manifest .*host\.human\.yml\.age/, /keyrack will not overwrite it/)
      expect(readFileSync(hostFile())).toEqual(bytes)
    }
    expect(tempFiles()).toEqual([])
  })

  test('a direct file that does not parse: set --vault os.direct stops, names it, bytes unchanged', () => {
    const fresh = new Sandbox('kr-corrupt-direct')
    try {
      expect(fresh.initUnprotected().code).toBe(0)
      fresh.writeRepoManifest(MANIFEST)
      const file = directFile(fresh)
      const garbage = '{"acme.test.B_KEY": {"secret": "half-writ'
      writeFileSync(file, garbage, { mode: 0o600 })
      const hostBefore = readFileSync(join(fresh.keyrackHome, 'host.human.yml.age'))
      const r = fresh.set('B_KEY', 'test', 'new-direct', DIRECT)
      expectError(r, 6, new RegExp(`${file.replaceAll('.', '\\.')} is not a valid os\\.direct file`), /restore it from a backup/)
      expect(r.stderr).not.toContain('half-writ')
      expect(readFileSync(file, 'utf8')).toBe(garbage)
      expect(readFileSync(join(fresh.keyrackHome, 'host.human.yml.age'))).toEqual(hostBefore)
      // get reads the direct file first: it names it too, and never echoes its content
      const g = fresh.run(['get', '--for', 'repo', '--env', 'test'])
      expect(g.code).toBe(6)
      expect(g.stderr).toContain(file)
      expect(g.stderr).not.toContain('half-writ')
    } finally {
      fresh.cleanup()
    }
  })
})
