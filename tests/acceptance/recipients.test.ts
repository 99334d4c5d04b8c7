/**
 * Backup recipients (issue 3), through the compiled binary and the real age CLI:
 *
 * - a backup key given to `init --recipient` or to `recipients add` decrypts everything the owner
 *   has (host manifest and each os.secure file) with `age -d -i backup.txt`;
 * - `recipients remove` re-encrypts, so the removed key opens nothing any more;
 * - the owner's own key cannot be removed;
 * - all or nothing: when one os.secure file does not open, add/remove refuse and change no file.
 */
import { afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, Sandbox } from '../helpers/harness.ts'
import { ageDecrypt, ageEncrypt, ageKeygen, hasTools, ownerFiles, snapshot, sshKeygen, tempFilesIn } from '../helpers/keys.ts'

// every test drives the compiled binary several times; a busy machine must not fail them
setDefaultTimeout(30_000)

const REPO_MANIFEST = 'org: acme\nenv.test:\n  - XAI_API_KEY\n  - OTHER_KEY\n'
const SECRETS = { XAI_API_KEY: 'xai-backup-secret-1', OTHER_KEY: 'other-backup-secret-2' }

let box: Sandbox
beforeAll(async () => {
  if (!existsSync(BIN)) await (await import('../../build.ts')).buildSingle()
}, 120_000)
afterEach(() => box?.cleanup())

/** an unattended owner with two os.secure keys */
function ownerWithKeys(initArgs: string[] = []): void {
  box.writeRepoManifest(REPO_MANIFEST)
  const init = box.run(['init', '--no-passphrase', ...initArgs])
  expect(init.stderr).not.toContain('error')
  expect(init.code).toBe(0)
  for (const [key, secret] of Object.entries(SECRETS) as [string, string][]) expect(box.set(key, 'test', secret).code).toBe(0)
  expect(ownerFiles(box)).toHaveLength(3)
}

/** every file of the owner opens with identity, and holds what it should */
function expectOpensEverything(identity: string): void {
  const [manifest, ...secure] = ownerFiles(box)
  const yaml = ageDecrypt(identity, manifest!)
  expect(yaml.stderr).toBe('')
  expect(yaml.stdout).toContain('acme.test.XAI_API_KEY:')
  expect(yaml.stdout).toContain('acme.test.OTHER_KEY:')
  expect(secure.map((f) => ageDecrypt(identity, f).stdout).sort()).toEqual(Object.values(SECRETS).sort())
}

function expectOpensNothing(identity: string): void {
  for (const file of ownerFiles(box)) {
    const r = ageDecrypt(identity, file)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('no identity matched')
  }
}

const listed = (): { recipient: string; own: boolean; type: string }[] => {
  const r = box.run(['recipients', 'list', '--json'])
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout).recipients
}

describe.skipIf(!hasTools)('backup recipients', () => {
  test('a backup key from `init --recipient` decrypts the host manifest and every secret', () => {
    box = new Sandbox('keyrack-recipients')
    const backup = ageKeygen(box, 'backup.txt')
    ownerWithKeys(['--recipient', backup.recipient])
    expectOpensEverything(backup.file)
    expect(listed()).toEqual([
      { recipient: expect.stringMatching(/^age1/), own: true, type: 'age' },
      { recipient: backup.recipient, own: false, type: 'age' },
    ])
    const table = box.run(['recipients', 'list'])
    expect(table.stdout).toMatch(new RegExp(`^backup\\s+${backup.recipient}$`, 'm'))
  })

  test('`recipients add` re-encrypts everything to an age key and an ssh key; adding again changes nothing', () => {
    box = new Sandbox('keyrack-recipients')
    ownerWithKeys()
    const backup = ageKeygen(box, 'backup.txt')
    const sshBackup = sshKeygen(box, 'id_backup')
    expectOpensNothing(backup.file)

    const add = box.run(['recipients', 'add', backup.recipient, `${sshBackup}.pub`])
    expect(add.stderr).toContain('added 2 recipients; re-encrypted 3 files')
    expect(add.code).toBe(0)
    expectOpensEverything(backup.file)
    expectOpensEverything(sshBackup)
    expect(listed().map((r) => [r.type, r.own])).toEqual([['age', true], ['age', false], ['ssh-ed25519', false]])
    // the owner's own identity still opens everything
    expect(box.run(['get', '--for', 'repo', '--env', 'test']).stdout).toBe(`export XAI_API_KEY='${SECRETS.XAI_API_KEY}'\nexport OTHER_KEY='${SECRETS.OTHER_KEY}'\n`)

    const before = snapshot(ownerFiles(box))
    const again = box.run(['recipients', 'add', backup.recipient])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain('already a recipient; nothing was changed')
    expect(snapshot(ownerFiles(box))).toEqual(before)

    // a private key file is refused with the command that prints its public half
    const privateFile = box.run(['recipients', 'add', backup.file])
    expect(privateFile.code).toBe(2)
    expect(privateFile.stderr).toContain('holds a private key')
    expect(privateFile.stderr).toContain('age-keygen -y')
    expect(privateFile.stderr).not.toContain('AGE-SECRET-KEY')
    const junk = box.run(['recipients', 'add', 'not-a-key'])
    expect(junk.code).toBe(2)
  })

  test('`recipients remove` re-encrypts so the removed key opens nothing; the other backup still opens everything', () => {
    box = new Sandbox('keyrack-recipients')
    const kept = ageKeygen(box, 'kept.txt')
    const dropped = ageKeygen(box, 'dropped.txt')
    ownerWithKeys(['--recipient', kept.recipient, '--recipient', dropped.recipient])
    expectOpensEverything(dropped.file)

    const r = box.run(['recipients', 'remove', dropped.recipient])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('removed 1 recipient; re-encrypted 3 files')
    expect(r.stderr).toContain('rotate the secrets')
    expectOpensNothing(dropped.file)
    expectOpensEverything(kept.file)
    expect(listed().map((x) => x.recipient)).not.toContain(dropped.recipient)
    expect(box.run(['get', '--key', 'XAI_API_KEY', '--env', 'test', '--output', 'value']).stdout).toBe(`${SECRETS.XAI_API_KEY}\n`)

    const absent = box.run(['recipients', 'remove', dropped.recipient])
    expect(absent.code).toBe(2)
    expect(absent.stderr).toContain('not a recipient')
    expect(absent.stderr).toContain('keyrack recipients list')
  })

  test("the owner's own key cannot be removed", () => {
    box = new Sandbox('keyrack-recipients')
    ownerWithKeys()
    const own = JSON.parse(readFileSync(join(box.keyrackHome, 'owner.human.json'), 'utf8')).recipient as string
    const before = snapshot(ownerFiles(box))
    const r = box.run(['recipients', 'remove', own])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("keyrack: error: that is the own key of owner 'human'")
    expect(r.stderr).toContain('keyrack: hint: only backup keys can be removed; see them with `keyrack recipients list`')
    expect(snapshot(ownerFiles(box))).toEqual(before)
  })

  test('a passphrase-protected identity: add needs the passphrase (locked without it)', () => {
    box = new Sandbox('keyrack-recipients')
    box.writeRepoManifest(REPO_MANIFEST)
    const fds = { 3: 'owner passphrase\n' }
    expect(box.run(['init', '--passphrase-fd', '3'], { fds }).code).toBe(0)
    expect(box.run(['set', '--key', 'XAI_API_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { input: SECRETS.XAI_API_KEY, fds }).code).toBe(0)
    const backup = ageKeygen(box, 'backup.txt')
    const locked = box.run(['recipients', 'add', backup.recipient])
    expect(locked.code).toBe(4)
    expect(locked.stderr).toContain('--passphrase-fd')
    expectOpensNothing(backup.file)
    const ok = box.run(['recipients', 'add', backup.recipient, '--passphrase-fd', '3'], { fds })
    expect(ok.code).toBe(0)
    expect(ageDecrypt(backup.file, ownerFiles(box)[1]!).stdout).toBe(SECRETS.XAI_API_KEY)
  }, 60_000) // scrypt opens the identity once per command, by design slow
})

describe.skipIf(!hasTools)('all or nothing', () => {
  const damages: [string, (file: string) => void][] = [
    ['is corrupt', (file) => writeFileSync(file, 'age-encryption.org/v1\n-> X25519 garbage\nnot a stanza\n--- nope\n')],
    ["is encrypted to someone else's key", (file) => {
      const stranger = ageKeygen(box, 'stranger.txt')
      const recipients = join(box.dir, 'stranger.pub')
      writeFileSync(recipients, `${stranger.recipient}\n`)
      ageEncrypt(recipients, 'a stranger secret', file)
    }],
  ]
  for (const [what, damage] of damages) {
    test(`when one os.secure file ${what}, add and remove refuse and change no file`, () => {
      box = new Sandbox('keyrack-atomic')
      const old = ageKeygen(box, 'old-backup.txt')
      ownerWithKeys(['--recipient', old.recipient])
      const files = ownerFiles(box)
      // damage the last secure file, so the first one has already been decrypted when it fails
      damage(files[2]!)
      const before = snapshot(files)
      const secureDir = join(box.keyrackHome, 'secure', 'human')

      const fresh = ageKeygen(box, 'new-backup.txt')
      const add = box.run(['recipients', 'add', fresh.recipient])
      expect(add.code).toBe(8)
      expect(add.stderr).toContain(`cannot decrypt ${files[2]}`)
      expect(add.stderr).toContain('nothing was changed')
      expect(snapshot(ownerFiles(box))).toEqual(before)
      expect(tempFilesIn(secureDir)).toEqual([])
      expect(tempFilesIn(box.keyrackHome)).toEqual([])
      expectOpensNothingOf(fresh.file, files)

      const remove = box.run(['recipients', 'remove', old.recipient])
      expect(remove.code).toBe(8)
      expect(snapshot(ownerFiles(box))).toEqual(before)
      // the key that was to be removed still opens every intact file: nothing was half-done
      expect(ageDecrypt(old.file, files[0]!).code).toBe(0)
      expect(ageDecrypt(old.file, files[1]!).code).toBe(0)
      expect(listed().map((r) => r.recipient)).toContain(old.recipient)
    })
  }

  function expectOpensNothingOf(identity: string, files: string[]): void {
    for (const file of files) expect(ageDecrypt(identity, file).code).not.toBe(0)
  }
})
