/**
 * SSH ed25519 keys as the owner's identity, and interop with the real `age` CLI (SPEC §6, issue 3),
 * through the compiled binary:
 *
 * - `init --via ssh` with a fresh `ssh-keygen -t ed25519` key, with and without a passphrase,
 *   then set / get / list round trips;
 * - the passphrase comes from `--passphrase-fd 3`; a wrong one is a clear error (exit 8), no stack;
 * - what keyrack wrote (host manifest, os.secure files) opens with `age -d -i <ssh key>`, and a
 *   secret that `age -R <key>.pub` encrypted opens with keyrack;
 * - rsa and ecdsa keys are refused at init with the types that work;
 * - X25519: the host manifest of a `--no-passphrase` owner opens with `age -d -i identity.<owner>.key`.
 */
import { afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, Sandbox, withoutShellStatus } from '../helpers/harness.ts'
import { ageDecrypt, ageEncrypt, hasTools, ownerFiles, sshKeygen } from '../helpers/keys.ts'

// every test drives the compiled binary several times; a busy machine must not fail them
setDefaultTimeout(30_000)

const REPO_MANIFEST = 'org: acme\nenv.test:\n  - XAI_API_KEY\n  - OTHER_KEY\n'
const setArgs = (key: string) => ['set', '--key', key, '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin']
const secureFile = (box: Sandbox, slug: string, owner = 'human') =>
  join(box.keyrackHome, 'secure', owner, `${createHash('sha256').update(slug).digest('hex')}.age`)
/** a stack trace line ("    at fn (file:1:2)") must never reach the user */
const STACK = /^\s+at .+[:(]/m

let box: Sandbox
beforeAll(async () => {
  if (!existsSync(BIN)) await (await import('../../build.ts')).buildSingle()
}, 120_000)
afterEach(() => box?.cleanup())

describe.skipIf(!hasTools)('an ssh-ed25519 key without a passphrase', () => {
  test('init --via ssh, then set, get and list round trip', () => {
    box = new Sandbox('keyrack-ssh')
    const key = sshKeygen(box, 'id_ed25519')
    box.writeRepoManifest(REPO_MANIFEST)

    const init = box.run(['init', '--via', 'ssh', '--pubkey', `${key}.pub`])
    expect(init.stderr).toContain('ssh-ed25519 identity')
    expect(init.code).toBe(0)
    const config = JSON.parse(readFileSync(join(box.keyrackHome, 'owner.human.json'), 'utf8'))
    expect(config).toMatchObject({ via: 'ssh', identityFile: key, passphrase: false })
    expect(config.recipient).toBe(readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' '))

    expect(box.run(setArgs('XAI_API_KEY'), { input: 'xai-plain-secret-1' }).code).toBe(0)
    expect(box.run(setArgs('OTHER_KEY'), { input: 'other-plain-secret-2' }).code).toBe(0)

    const one = box.run(['get', '--key', 'XAI_API_KEY', '--env', 'test', '--output', 'value'])
    expect(one.code).toBe(0)
    expect(one.stdout.trim()).toBe('xai-plain-secret-1')
    const all = box.run(['get', '--for', 'repo', '--env', 'test', '--output', 'exports'])
    expect(all.code).toBe(0)
    expect(all.stdout).toBe("export XAI_API_KEY='xai-plain-secret-1'\nexport OTHER_KEY='other-plain-secret-2'\n")

    const list = box.run(['list', '--json'])
    expect(list.code).toBe(0)
    expect(JSON.parse(list.stdout).keys.map((k: { slug: string }) => k.slug).sort()).toEqual(['acme.test.OTHER_KEY', 'acme.test.XAI_API_KEY'])
    expect(list.stdout).not.toContain('secret-')
  })

  test('what keyrack wrote opens with `age -d -i <ssh key>`, and what `age -R key.pub` wrote opens with keyrack', () => {
    box = new Sandbox('keyrack-ssh')
    const key = sshKeygen(box, 'id_ed25519')
    box.writeRepoManifest(REPO_MANIFEST)
    expect(box.run(['init', '--via', 'ssh', '--pubkey', `${key}.pub`]).code).toBe(0)
    expect(box.run(setArgs('XAI_API_KEY'), { input: 'xai-plain-secret-1' }).code).toBe(0)

    const [manifest, ...secure] = ownerFiles(box)
    const yaml = ageDecrypt(key, manifest!)
    expect(yaml.stderr).toBe('')
    expect(yaml.code).toBe(0)
    expect(yaml.stdout).toContain('owner:\n  name: human\n')
    expect(yaml.stdout).toMatch(/acme\.test\.XAI_API_KEY:\n\s+vault: os\.secure\n\s+mech: PERMANENT_VIA_REPLICA/)
    expect(secure).toEqual([secureFile(box, 'acme.test.XAI_API_KEY')])
    const secret = ageDecrypt(key, secure[0]!)
    expect(secret.code).toBe(0)
    expect(secret.stdout).toBe('xai-plain-secret-1')

    // the other direction: the age CLI writes the os.secure file of OTHER_KEY, keyrack reads it
    // (recorded in the host manifest by a keyrack set first, so only the ciphertext is the CLI's)
    expect(box.run(setArgs('OTHER_KEY'), { input: 'placeholder-secret' }).code).toBe(0)
    ageEncrypt(`${key}.pub`, 'written-by-age-cli', secureFile(box, 'acme.test.OTHER_KEY'))
    const got = box.run(['get', '--key', 'OTHER_KEY', '--env', 'test', '--output', 'value'])
    expect(got.stderr).toBe('')
    expect(got.stdout).toBe('written-by-age-cli\n')
  })

  test('--identity points at a private key whose name is not the pubkey without .pub', () => {
    box = new Sandbox('keyrack-ssh')
    const key = sshKeygen(box, 'robot_key')
    const pubCopy = join(box.dir, 'published.pub')
    writeFileSync(pubCopy, readFileSync(`${key}.pub`))
    const wrongPair = sshKeygen(box, 'other_key')
    const mismatch = box.run(['init', '--via', 'ssh', '--pubkey', pubCopy, '--identity', wrongPair])
    expect(mismatch.code).toBe(8)
    expect(mismatch.stderr).toContain('is not the private key of')

    const ok = box.run(['init', '--via', 'ssh', '--pubkey', pubCopy, '--identity', key])
    expect(ok.code).toBe(0)
    expect(box.run(['set', '--key', 'SOME_KEY', '--env', 'sudo', '--org', 'acme', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: 'robot-secret-3' }).code).toBe(0)
    const got = box.run(['get', '--key', 'SOME_KEY', '--env', 'sudo', '--org', 'acme', '--output', 'value'])
    expect(got.stdout).toBe('robot-secret-3\n')
  })
})

describe.skipIf(!hasTools)('an ssh-ed25519 key with a passphrase', () => {
  const PASS = 'correct horse battery'

  test('the passphrase comes from --passphrase-fd 3; set, get --unlock and list round trip', () => {
    box = new Sandbox('keyrack-sshpass')
    const key = sshKeygen(box, 'id_ed25519', { passphrase: PASS })
    box.writeRepoManifest(REPO_MANIFEST)
    // init reads only the public half: no passphrase needed yet
    const init = box.run(['init', '--via', 'ssh', '--pubkey', `${key}.pub`])
    expect(init.code).toBe(0)
    expect(JSON.parse(readFileSync(join(box.keyrackHome, 'owner.human.json'), 'utf8')).passphrase).toBe(true)

    const fds = { 3: `${PASS}\n` }
    const set = box.run([...setArgs('XAI_API_KEY'), '--passphrase-fd', '3'], { input: 'xai-guarded-secret-1', fds })
    expect(set.stderr).toContain('round trip verified')
    expect(set.code).toBe(0)

    // without a passphrase source (no TTY, no fd) the key is locked, with the way to unlock
    const locked = box.run(['get', '--key', 'XAI_API_KEY', '--env', 'test', '--output', 'value'])
    expect(locked.code).toBe(4)
    expect(locked.stdout).toBe('')
    expect(locked.stderr).toContain('locked')

    const got = box.run(['get', '--key', 'XAI_API_KEY', '--env', 'test', '--output', 'value', '--unlock', '--passphrase-fd', '3'], { fds })
    expect(got.code).toBe(0)
    expect(got.stdout).toBe('xai-guarded-secret-1\n')

    const list = box.run(['list', '--json', '--passphrase-fd', '3'], { fds })
    expect(list.code).toBe(0)
    expect(JSON.parse(list.stdout).keys.map((k: { slug: string }) => k.slug)).toEqual(['acme.test.XAI_API_KEY'])

    for (const out of box.transcript) expect(out).not.toContain(PASS)
  }, 60_000) // bcrypt-pbkdf opens the ssh key once per command, by design slow

  test('a wrong passphrase is a clear error (exit 8), without a stack trace, and changes nothing', () => {
    box = new Sandbox('keyrack-sshpass')
    const key = sshKeygen(box, 'id_ed25519', { passphrase: PASS })
    box.writeRepoManifest(REPO_MANIFEST)
    expect(box.run(['init', '--via', 'ssh', '--pubkey', `${key}.pub`]).code).toBe(0)
    const before = readFileSync(ownerFiles(box)[0]!)

    for (const argv of [
      [...setArgs('XAI_API_KEY'), '--passphrase-fd', '3'],
      ['list', '--passphrase-fd', '3'],
    ]) {
      const r = box.run(argv, { input: 'xai-never-stored-1', fds: { 3: 'not the passphrase\n' } })
      expect(r.code).toBe(8)
      expect(r.stderr).toContain(`keyrack: error: wrong passphrase for ssh key ${key}`)
      expect(r.stderr).toContain('keyrack: hint:')
      expect(r.stderr).not.toMatch(STACK)
      expect(r.stderr).not.toContain('not the passphrase')
      expect(withoutShellStatus(r)).toBe('')
    }
    // a key that was never set needs no passphrase to be told absent (the inventory knows): get --unlock never asks
    const get = box.run(['get', '--key', 'XAI_API_KEY', '--env', 'test', '--unlock', '--passphrase-fd', '3'], { fds: { 3: 'not the passphrase\n' } })
    expect(get.code).toBe(4)
    expect(get.stderr).toMatch(/XAI_API_KEY +absent/)
    expect(readFileSync(ownerFiles(box)[0]!)).toEqual(before)
    expect(ownerFiles(box)).toHaveLength(1) // no os.secure file was left behind
  }, 60_000)
})

describe.skipIf(!hasTools)('unsupported ssh key types', () => {
  for (const type of ['rsa', 'ecdsa']) {
    test(`init --via ssh with an ${type} key says which type works`, () => {
      box = new Sandbox('keyrack-sshtype')
      const key = sshKeygen(box, `id_${type}`, { type })
      const r = box.run(['init', '--via', 'ssh', '--pubkey', `${key}.pub`])
      expect(r.code).toBe(8)
      expect(r.stderr).toContain('only ssh-ed25519 is supported')
      expect(r.stderr).toContain('keyrack: hint:')
      expect(r.stderr).toContain('ssh-keygen -t ed25519')
      expect(r.stderr).not.toMatch(STACK)
      expect(existsSync(join(box.keyrackHome, 'owner.human.json'))).toBe(false)
      expect(existsSync(join(box.keyrackHome, 'host.human.yml.age'))).toBe(false)
    })
  }
})

describe.skipIf(!hasTools)('X25519 (keyrack-generated age identity)', () => {
  test('the host manifest and secrets of a --no-passphrase owner open with `age -d -i identity.<owner>.key`', () => {
    box = new Sandbox('keyrack-x25519')
    box.writeRepoManifest(REPO_MANIFEST)
    expect(box.initUnprotected().code).toBe(0)
    expect(box.run(setArgs('XAI_API_KEY'), { input: 'xai-x25519-secret-1' }).code).toBe(0)
    const identity = join(box.keyrackHome, 'identity.human.key')
    const [manifest, secure] = ownerFiles(box)
    const yaml = ageDecrypt(identity, manifest!)
    expect(yaml.code).toBe(0)
    expect(yaml.stdout).toContain('acme.test.XAI_API_KEY:')
    expect(ageDecrypt(identity, secure!).stdout).toBe('xai-x25519-secret-1')

    // and a file the age CLI encrypts to the owner's public key opens with keyrack
    const recipientsFile = join(box.dir, 'owner.pub')
    writeFileSync(recipientsFile, `${JSON.parse(readFileSync(join(box.keyrackHome, 'owner.human.json'), 'utf8')).recipient}\n`)
    ageEncrypt(recipientsFile, 'x25519-from-age-cli', secure!)
    expect(box.run(['get', '--key', 'XAI_API_KEY', '--env', 'test', '--output', 'value']).stdout).toBe('x25519-from-age-cli\n')
  })
})
