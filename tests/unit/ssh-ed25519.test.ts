/**
 * Interop between our ssh-ed25519 recipient/identity (on typage) and the real `age` CLI, with
 * keys made by the real `ssh-keygen`. The CLIs are the reference: if both directions agree, the
 * wire format (tag, tweak, HKDF inputs, Montgomery conversion) is right.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption'
import { KeyrackIdentityError } from '../../src/domain/errors.ts'
import { parseOpensshPrivateKey } from '../../src/identity/openssh-key.ts'
import {
  SshEd25519Identity,
  SshEd25519Recipient,
  isSshRecipient,
  parseSshPublicKey,
  sshAgentOnlyError,
} from '../../src/identity/ssh-ed25519.ts'

const PASSPHRASE = 'secretpass'
const NO_MATCH = "no identity matched any of the file's recipients"

/** ssh-keygen's -Z aes256-gcm needs an OpenSSH built with it; Debian's is */
const gcmSupported = (() => {
  const r = spawnSync('ssh', ['-Q', 'cipher'], { encoding: 'utf8' })
  return r.status === 0 && r.stdout.split('\n').includes('aes256-gcm@openssh.com')
})()

let dir = ''
const path = (name: string) => join(dir, name)
const text = (name: string) => readFileSync(path(name), 'utf8')

function run(cmd: string, args: string[], input?: Uint8Array | string): Buffer {
  const r = spawnSync(cmd, args, { input, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.toString()}`)
  return r.stdout
}

function sshKeygen(name: string, ...extra: string[]): void {
  run('ssh-keygen', ['-q', '-C', `${name}@test`, '-f', path(name), ...extra])
}

/** a counting passphrase callback, to prove when (and whether) the human is asked */
function prompt(answer = PASSPHRASE) {
  const ask = async () => {
    ask.calls++
    return answer
  }
  ask.calls = 0
  return ask
}

async function encryptTo(recipient: SshEd25519Recipient | string, plaintext: string): Promise<Uint8Array> {
  const e = new Encrypter()
  e.addRecipient(recipient)
  return e.encrypt(plaintext)
}

async function decryptWith(identity: SshEd25519Identity | string, file: Uint8Array): Promise<string> {
  const d = new Decrypter()
  d.addIdentity(identity)
  return d.decrypt(file, 'text')
}

/** what the CLI writes for `age -R <key>.pub` */
function ageCliEncrypt(recipientFlag: '-R' | '-r', recipient: string, plaintext: string): Uint8Array {
  return new Uint8Array(run('age', [recipientFlag, recipient], plaintext))
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyrack-ssh-'))
  sshKeygen('plain', '-t', 'ed25519', '-N', '')
  sshKeygen('other', '-t', 'ed25519', '-N', '')
  sshKeygen('ctr', '-t', 'ed25519', '-N', PASSPHRASE) // ssh-keygen's default cipher is aes256-ctr
  if (gcmSupported) sshKeygen('gcm', '-t', 'ed25519', '-N', PASSPHRASE, '-Z', 'aes256-gcm@openssh.com')
  sshKeygen('rsa', '-t', 'rsa', '-b', '1024', '-N', '')
  sshKeygen('rsa-pem', '-t', 'rsa', '-b', '1024', '-N', '', '-m', 'PEM')
  sshKeygen('ecdsa', '-t', 'ecdsa', '-N', '')
})

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

describe('key files as ssh-keygen writes them', () => {
  test('the cleartext part names the cipher without the passphrase', () => {
    expect(parseOpensshPrivateKey(text('plain'), 'plain').cipherName).toBe('none')
    expect(parseOpensshPrivateKey(text('ctr'), 'ctr').cipherName).toBe('aes256-ctr')
    if (gcmSupported) expect(parseOpensshPrivateKey(text('gcm'), 'gcm').cipherName).toBe('aes256-gcm@openssh.com')
  })

  test('the identity reports the same public key as the .pub file', () => {
    const identity = new SshEd25519Identity(text('ctr'), path('ctr'), prompt())
    expect(text('ctr.pub').startsWith(identity.publicKeyLine + ' ')).toBe(true)
  })
})

describe('our recipient -> age CLI', () => {
  test('age -d -i <ssh key> decrypts a file typage wrote to SshEd25519Recipient', async () => {
    const file = await encryptTo(new SshEd25519Recipient(text('plain.pub')), 'owner manifest')
    writeFileSync(path('to-plain.age'), file)
    expect(run('age', ['-d', '-i', path('plain'), path('to-plain.age')]).toString()).toBe('owner manifest')
  })

  test('the stanza has the reference shape: tag from the key blob, 32-byte share, 32-byte body', async () => {
    const recipient = new SshEd25519Recipient(text('plain.pub'))
    const [stanza] = await recipient.wrapFileKey(new Uint8Array(16))
    const blob = parseSshPublicKey(text('plain.pub')).blob
    const tag = Buffer.from(new Bun.CryptoHasher('sha256').update(blob).digest().subarray(0, 4))
      .toString('base64')
      .replace(/=+$/, '')
    expect(stanza!.args[0]).toBe('ssh-ed25519')
    expect(stanza!.args[1]).toBe(tag)
    expect(Buffer.from(stanza!.args[2]!, 'base64')).toHaveLength(32)
    expect(stanza!.body).toHaveLength(32)
  })
})

describe('age CLI -> our identity', () => {
  test('unencrypted key', async () => {
    const file = ageCliEncrypt('-R', path('plain.pub'), 'from the cli')
    const ask = prompt()
    expect(await decryptWith(new SshEd25519Identity(text('plain'), path('plain'), ask), file)).toBe('from the cli')
    expect(ask.calls).toBe(0)
  })

  test('passphrase key, aes256-ctr: asks once, even for two files', async () => {
    const ask = prompt()
    const identity = new SshEd25519Identity(text('ctr'), path('ctr'), ask)
    expect(await decryptWith(identity, ageCliEncrypt('-R', path('ctr.pub'), 'one'))).toBe('one')
    expect(await decryptWith(identity, ageCliEncrypt('-R', path('ctr.pub'), 'two'))).toBe('two')
    expect(ask.calls).toBe(1)
  })

  test.skipIf(!gcmSupported)('passphrase key, aes256-gcm@openssh.com', async () => {
    const ask = prompt()
    const file = ageCliEncrypt('-R', path('gcm.pub'), 'gcm sealed')
    expect(await decryptWith(new SshEd25519Identity(text('gcm'), path('gcm'), ask), file)).toBe('gcm sealed')
    expect(ask.calls).toBe(1)
  })

  test('a file for several recipients: ours is found among the others', async () => {
    const recipients = `${text('other.pub')}${text('plain.pub')}`
    writeFileSync(path('both.pub'), recipients)
    const file = ageCliEncrypt('-R', path('both.pub'), 'shared')
    expect(await decryptWith(new SshEd25519Identity(text('plain'), path('plain')), file)).toBe('shared')
  })
})

describe('native X25519 against the CLI (typage built-ins, not the hybrid PQ default)', () => {
  test('age-keygen identity -> typage decrypts', async () => {
    run('age-keygen', ['-o', path('x25519.txt')])
    const secret = text('x25519.txt')
      .split('\n')
      .find((l) => l.startsWith('AGE-SECRET-KEY-1'))!
    const file = ageCliEncrypt('-r', await identityToRecipient(secret), 'x25519 from cli')
    expect(await decryptWith(secret, file)).toBe('x25519 from cli')
  })

  test('typage X25519 recipient -> age -d -i decrypts', async () => {
    const secret = await generateX25519Identity()
    writeFileSync(path('typage-x25519.txt'), secret + '\n', { mode: 0o600 })
    writeFileSync(path('to-x25519.age'), await encryptTo(await identityToRecipient(secret), 'x25519 from typage'))
    const out = run('age', ['-d', '-i', path('typage-x25519.txt'), path('to-x25519.age')])
    expect(out.toString()).toBe('x25519 from typage')
  })
})

describe('failures', () => {
  test('a file for another key: typage reports no match, and the passphrase is never asked', async () => {
    const file = ageCliEncrypt('-R', path('other.pub'), 'not yours')
    const ask = prompt()
    const identity = new SshEd25519Identity(text('ctr'), path('ctr'), ask)
    await expect(decryptWith(identity, file)).rejects.toThrow(NO_MATCH)
    expect(ask.calls).toBe(0)
  })

  test('tampered payload fails', async () => {
    const file = ageCliEncrypt('-R', path('plain.pub'), 'integrity matters')
    file[file.length - 1]! ^= 0x01
    await expect(decryptWith(new SshEd25519Identity(text('plain'), path('plain')), file)).rejects.toThrow()
  })

  test('tampered stanza body fails with an identity error', async () => {
    const file = await encryptTo(new SshEd25519Recipient(text('plain.pub')), 'integrity matters')
    const lines = Buffer.from(file).toString('latin1').split('\n')
    const body = lines[2]! // after "age-encryption.org/v1" and "-> ssh-ed25519 …"
    lines[2] = (body[0] === 'A' ? 'B' : 'A') + body.slice(1)
    const tampered = new Uint8Array(Buffer.from(lines.join('\n'), 'latin1'))
    const err = await decryptWith(new SshEd25519Identity(text('plain'), path('plain')), tampered).catch((e) => e)
    expect(err).toBeInstanceOf(KeyrackIdentityError)
    expect(err.message).toContain('tampered')
  })

  for (const key of ['ctr', 'gcm'] as const) {
    test.skipIf(key === 'gcm' && !gcmSupported)(`wrong passphrase (${key}) -> a clean KeyrackIdentityError`, async () => {
      const file = ageCliEncrypt('-R', path(`${key}.pub`), 'locked')
      const wrong = 'not-the-passphrase'
      const err = await decryptWith(new SshEd25519Identity(text(key), path(key), prompt(wrong)), file).catch((e) => e)
      expect(err).toBeInstanceOf(KeyrackIdentityError)
      expect(err.message).toBe(`wrong passphrase for ssh key ${path(key)}`)
      expect(err.stack).toBe(`KeyrackIdentityError: ${err.message}`)
      const everything = [err.message, err.stack, ...err.hint].join('\n')
      expect(everything).not.toContain(wrong)
      expect(everything).not.toContain(PASSPHRASE)
    })
  }

  test('a wrong passphrase is not cached: the next attempt asks again', async () => {
    const file = ageCliEncrypt('-R', path('ctr.pub'), 'retry')
    const answers = ['nope', PASSPHRASE]
    const identity = new SshEd25519Identity(text('ctr'), path('ctr'), async () => answers.shift()!)
    await expect(decryptWith(identity, file)).rejects.toBeInstanceOf(KeyrackIdentityError)
    expect(await decryptWith(identity, file)).toBe('retry')
  })

  test('an encrypted key without a passphrase callback says so', async () => {
    const file = ageCliEncrypt('-R', path('ctr.pub'), 'locked')
    await expect(decryptWith(new SshEd25519Identity(text('ctr'), path('ctr')), file)).rejects.toThrow(
      'is passphrase-protected',
    )
  })
})

describe('unsupported keys get a clear answer', () => {
  const onlyEd25519 = (f: () => unknown, type: string) => {
    let err: unknown
    try {
      f()
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(KeyrackIdentityError)
    const e = err as KeyrackIdentityError
    expect(e.message).toContain(type)
    expect(e.message).toContain('only ssh-ed25519 is supported')
    expect(e.hint.join('\n')).toContain('ssh-keygen -t ed25519')
  }

  test('rsa and ecdsa private keys (openssh format)', () => {
    onlyEd25519(() => new SshEd25519Identity(text('rsa'), path('rsa')), 'ssh-rsa')
    onlyEd25519(() => new SshEd25519Identity(text('ecdsa'), path('ecdsa')), 'ecdsa-sha2-nistp256')
  })

  test('legacy pem rsa private key', () => {
    expect(text('rsa-pem')).toContain('BEGIN RSA PRIVATE KEY')
    onlyEd25519(() => new SshEd25519Identity(text('rsa-pem'), path('rsa-pem')), 'ssh-rsa')
  })

  test('rsa, ecdsa and security-key public keys as recipients', () => {
    onlyEd25519(() => new SshEd25519Recipient(text('rsa.pub')), 'ssh-rsa')
    onlyEd25519(() => new SshEd25519Recipient(text('ecdsa.pub')), 'ecdsa-sha2-nistp256')
    // security keys cannot be made without hardware; the type token alone decides
    for (const type of ['sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com']) {
      onlyEd25519(() => parseSshPublicKey(`${type} AAAA key@test`), type)
    }
  })

  test('a .pub file passed as the private key', () => {
    expect(() => new SshEd25519Identity(text('plain.pub'), path('plain.pub'))).toThrow('is a public key')
  })

  test('garbage recipient lines are malformed, not unsupported', () => {
    expect(() => parseSshPublicKey('ssh-ed25519 !!!')).toThrow('malformed')
    expect(() => parseSshPublicKey('hello world')).toThrow(KeyrackIdentityError)
  })
})

describe('helpers', () => {
  test('isSshRecipient tells ssh lines from age recipients', () => {
    expect(isSshRecipient(text('plain.pub'))).toBe(true)
    expect(isSshRecipient(text('rsa.pub'))).toBe(true)
    expect(isSshRecipient('age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq')).toBe(false)
    expect(isSshRecipient('')).toBe(false)
  })

  test('parseSshPublicKey keeps the comment', () => {
    expect(parseSshPublicKey(text('plain.pub')).comment).toBe('plain@test')
  })

  test('sshAgentOnlyError explains why the agent is not enough', () => {
    const err = sshAgentOnlyError()
    expect(err).toBeInstanceOf(KeyrackIdentityError)
    expect(err.message).toBe(
      'ssh-agent can only sign, it cannot decrypt age files; pass --identity PATH to the private key',
    )
  })
})
