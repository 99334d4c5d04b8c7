/**
 * OpenSSH private key files ("openssh-key-v1", the format `ssh-keygen` writes since 7.8),
 * as described in OpenSSH's PROTOCOL.key.
 *
 * The file has a cleartext public key next to an (optionally) encrypted private section.
 * Parsing is split in two on purpose: `parseOpensshPrivateKey` reads only the cleartext part,
 * so a caller can tell whether a key is the right one for a file *before* it asks the human for
 * a passphrase; `unlockEd25519` then decrypts the private section.
 *
 * Errors never quote the file's content: only its path, key type and cipher names.
 */
import { gcm, ctr } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
// @ts-expect-error bcrypt-pbkdf ships no type declarations; `bcryptPbkdf` below gives it a typed face
import bcryptPbkdfModule from 'bcrypt-pbkdf'
import { KeyrackIdentityError } from '../domain/errors.ts'

const AUTH_MAGIC = new TextEncoder().encode('openssh-key-v1\0')
const ARMOR_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----'
const ARMOR_END = '-----END OPENSSH PRIVATE KEY-----'
export const ED25519_KEY_TYPE = 'ssh-ed25519'
const ED25519_KEY_HINT = 'create an ed25519 key with: ssh-keygen -t ed25519'

/**
 * The ciphers keyrack can open. ssh-keygen's default is aes256-ctr; aes256-gcm is its other
 * common choice (`-Z aes256-gcm@openssh.com`). GCM's 16-byte tag sits *after* the private
 * section's length-prefixed string, not inside it (PROTOCOL.key / sshkey.c).
 */
interface CipherSpec {
  keyLength: number
  ivLength: number
  tagLength: number
  blockSize: number
  decrypt(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array): Uint8Array
}
const CIPHERS: Record<string, CipherSpec> = {
  'aes256-ctr': {
    keyLength: 32,
    ivLength: 16,
    tagLength: 0,
    blockSize: 16,
    decrypt: (key, iv, sealed) => ctr(key, iv).decrypt(sealed),
  },
  'aes256-gcm@openssh.com': {
    keyLength: 32,
    ivLength: 12,
    tagLength: 16,
    blockSize: 16,
    decrypt: (key, iv, sealed) => gcm(key, iv).decrypt(sealed),
  },
}
/** unencrypted private sections are padded to this block size */
const PLAIN_BLOCK_SIZE = 8

interface BcryptPbkdfModule {
  pbkdf(
    pass: Uint8Array,
    passLength: number,
    salt: Uint8Array,
    saltLength: number,
    key: Uint8Array,
    keyLength: number,
    rounds: number,
  ): number
}
const bcryptPbkdfLib = bcryptPbkdfModule as BcryptPbkdfModule

/** bcrypt_pbkdf as OpenSSH uses it; null when the library refuses the input (e.g. empty pass) */
function bcryptPbkdf(pass: Uint8Array, salt: Uint8Array, rounds: number, length: number): Uint8Array | null {
  const out = new Uint8Array(length)
  const rc = bcryptPbkdfLib.pbkdf(pass, pass.length, salt, salt.length, out, length, rounds)
  return rc === 0 ? out : null
}

/** Reads the SSH wire encoding (RFC 4251 §5): big-endian uint32 and length-prefixed strings. */
export class SshWireReader {
  private offset = 0
  constructor(
    private readonly bytes: Uint8Array,
    private readonly onMalformed: () => Error,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset
  }

  uint32(): number {
    if (this.remaining < 4) throw this.onMalformed()
    const b = this.bytes
    const o = this.offset
    this.offset += 4
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
  }

  raw(length: number): Uint8Array {
    if (length < 0 || this.remaining < length) throw this.onMalformed()
    const out = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    return out
  }

  string(): Uint8Array {
    return this.raw(this.uint32())
  }

  text(): string {
    return new TextDecoder('utf-8', { fatal: false }).decode(this.string())
  }

  rest(): Uint8Array {
    return this.raw(this.remaining)
  }
}

/** @param subject what is being read, e.g. "ssh key ~/.ssh/id_rsa" */
export function unsupportedKeyTypeError(keyType: string, subject: string): KeyrackIdentityError {
  return new KeyrackIdentityError(
    `${subject} is of type ${keyType}; only ssh-ed25519 is supported`,
    [ED25519_KEY_HINT],
  )
}

function malformed(path: string, what = 'is not a valid openssh private key'): () => KeyrackIdentityError {
  return () => new KeyrackIdentityError(`ssh key ${path} ${what}`, [ED25519_KEY_HINT])
}

/** Names the PEM block so legacy formats get an answer better than "malformed". */
function classifyForeignArmor(text: string, path: string): KeyrackIdentityError {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1]
  if (label === undefined) {
    if (/^\s*(ssh-|ecdsa-|sk-)\S+\s+AAAA/.test(text)) {
      return new KeyrackIdentityError(`ssh key ${path} is a public key; pass the private key file`, [
        `drop the .pub suffix, e.g. --identity ${path.replace(/\.pub$/, '')}`,
      ])
    }
    return malformed(path)()
  }
  const legacyType: Record<string, string> = {
    'RSA PRIVATE KEY': 'ssh-rsa',
    'DSA PRIVATE KEY': 'ssh-dss',
    'EC PRIVATE KEY': 'ecdsa-sha2-*',
  }
  const keyType = legacyType[label]
  if (keyType !== undefined) return unsupportedKeyTypeError(keyType, `ssh key ${path}`)
  // PKCS#8 ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY") could hold any algorithm; ssh-keygen writes
  // ed25519 keys in the openssh format, so asking for that is the useful answer
  return new KeyrackIdentityError(
    `ssh key ${path} is a pem "${label.toLowerCase()}" file; only openssh-format ssh-ed25519 keys are supported`,
    [ED25519_KEY_HINT],
  )
}

function decodeArmor(text: string, path: string): Uint8Array {
  const begin = text.indexOf(ARMOR_BEGIN)
  if (begin === -1) throw classifyForeignArmor(text, path)
  const end = text.indexOf(ARMOR_END, begin)
  if (end === -1) throw malformed(path)()
  const body = text.slice(begin + ARMOR_BEGIN.length, end).replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw malformed(path)()
  return new Uint8Array(Buffer.from(body, 'base64'))
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

export interface Ed25519KeyPair {
  /** the 32-byte RFC 8032 seed; callers must zero it when done */
  seed: Uint8Array
  publicKey: Uint8Array
}

interface KdfParams {
  salt: Uint8Array
  rounds: number
}

export class OpensshPrivateKey {
  private constructor(
    /** where the key came from; used in messages only */
    readonly path: string,
    readonly keyType: string,
    /** the public key's wire blob (what authorized_keys base64-encodes) */
    readonly publicKeyBlob: Uint8Array,
    readonly cipherName: string,
    private readonly kdf: KdfParams | null,
    private readonly sealedPrivateSection: Uint8Array,
  ) {}

  get isEncrypted(): boolean {
    return this.cipherName !== 'none'
  }

  /**
   * Reads the cleartext part of an openssh-key-v1 file. Throws KeyrackIdentityError for other
   * formats, for more than one key, and for ciphers/KDFs keyrack cannot open, so that a key that
   * could never be unlocked fails when it is configured rather than at the first decrypt.
   */
  static parse(text: string, path: string): OpensshPrivateKey {
    const bytes = decodeArmor(text, path)
    const bad = malformed(path)
    if (bytes.length < AUTH_MAGIC.length || !bytesEqual(bytes.subarray(0, AUTH_MAGIC.length), AUTH_MAGIC)) {
      throw bad()
    }
    const r = new SshWireReader(bytes.subarray(AUTH_MAGIC.length), bad)
    const cipherName = r.text()
    const kdfName = r.text()
    const kdfOptions = r.string()
    const keyCount = r.uint32()
    if (keyCount !== 1) throw malformed(path, `holds ${keyCount} keys; keyrack reads files with exactly one`)()
    const publicKeyBlob = r.string()
    const keyType = new SshWireReader(publicKeyBlob, bad).text()
    if (keyType !== ED25519_KEY_TYPE) throw unsupportedKeyTypeError(keyType, `ssh key ${path}`)

    const cipher = CIPHERS[cipherName]
    if (cipherName !== 'none' && cipher === undefined) {
      throw new KeyrackIdentityError(
        `ssh key ${path} is encrypted with ${cipherName}; keyrack supports aes256-ctr and aes256-gcm@openssh.com`,
        [`re-encrypt it with: ssh-keygen -p -Z aes256-ctr -f ${path}`],
      )
    }
    let kdf: KdfParams | null = null
    if (cipherName === 'none') {
      if (kdfName !== 'none') throw bad()
    } else {
      if (kdfName !== 'bcrypt') {
        throw new KeyrackIdentityError(`ssh key ${path} uses key derivation ${kdfName}; keyrack supports bcrypt`, [
          `re-encrypt it with: ssh-keygen -p -f ${path}`,
        ])
      }
      const k = new SshWireReader(kdfOptions, bad)
      kdf = { salt: k.string(), rounds: k.uint32() }
      if (k.remaining !== 0 || kdf.rounds === 0) throw bad()
    }

    // the private section's length excludes an AEAD tag, which follows it
    const sectionLength = r.uint32()
    const tagLength = cipher?.tagLength ?? 0
    const sealed = r.raw(sectionLength + tagLength)
    const blockSize = cipher?.blockSize ?? PLAIN_BLOCK_SIZE
    if (r.remaining !== 0 || sectionLength % blockSize !== 0) throw bad()
    return new OpensshPrivateKey(path, keyType, publicKeyBlob, cipherName, kdf, sealed)
  }

  /**
   * Decrypts (when needed) and checks the private section. `passphrase` is ignored for
   * unencrypted keys. A wrong passphrase is detected by OpenSSH's "checkint" pair (two copies
   * of one random uint32 at the start of the section) or, for GCM, by the tag.
   */
  unlockEd25519(passphrase: string | undefined): Ed25519KeyPair {
    const section = this.openPrivateSection(passphrase)
    try {
      return this.readEd25519(section)
    } finally {
      section.fill(0)
    }
  }

  private openPrivateSection(passphrase: string | undefined): Uint8Array {
    const cipher = CIPHERS[this.cipherName]
    if (cipher === undefined || this.kdf === null) return this.sealedPrivateSection.slice()
    if (passphrase === undefined) {
      throw new KeyrackIdentityError(`ssh key ${this.path} is passphrase-protected and no passphrase was given`, [
        'run keyrack from a terminal so it can ask for the passphrase',
      ])
    }
    const wrong = () =>
      new KeyrackIdentityError(`wrong passphrase for ssh key ${this.path}`, [
        `check the passphrase with: ssh-keygen -y -f ${this.path}`,
      ])
    const pass = new TextEncoder().encode(passphrase)
    const keyAndIv = bcryptPbkdf(pass, this.kdf.salt, this.kdf.rounds, cipher.keyLength + cipher.ivLength)
    pass.fill(0)
    // OpenSSH refuses an empty passphrase for an encrypted key the same way
    if (keyAndIv === null) throw wrong()
    try {
      const key = keyAndIv.subarray(0, cipher.keyLength)
      const iv = keyAndIv.subarray(cipher.keyLength)
      let section: Uint8Array
      try {
        section = cipher.decrypt(key, iv, this.sealedPrivateSection)
      } catch {
        throw wrong() // only GCM can throw here: its tag did not verify
      }
      const r = new SshWireReader(section, malformed(this.path))
      if (r.uint32() !== r.uint32()) {
        section.fill(0)
        throw wrong()
      }
      return section
    } finally {
      keyAndIv.fill(0)
    }
  }

  private readEd25519(section: Uint8Array): Ed25519KeyPair {
    const bad = malformed(this.path)
    const r = new SshWireReader(section, bad)
    const check1 = r.uint32()
    const check2 = r.uint32()
    if (check1 !== check2) throw bad() // unencrypted keys reach here without the passphrase check
    if (r.text() !== this.keyType) throw bad()
    const publicKey = r.string()
    const secret = r.string() // RFC 8032 seed || public key, as OpenSSH stores it
    r.string() // comment: not needed, and not ours to echo
    const padding = r.rest()
    for (let i = 0; i < padding.length; i++) if (padding[i] !== i + 1) throw bad()

    const blobKey = new SshWireReader(this.publicKeyBlob, bad)
    blobKey.text()
    const publicFromBlob = blobKey.string()
    if (publicKey.length !== 32 || secret.length !== 64 || !bytesEqual(publicKey, publicFromBlob)) throw bad()
    if (!bytesEqual(secret.subarray(32), publicKey)) throw bad()
    const seed = secret.slice(0, 32)
    // the cleartext public key is what stanzas are matched against; make sure the secret belongs to it
    if (!bytesEqual(ed25519.getPublicKey(seed), publicKey)) {
      seed.fill(0)
      throw malformed(this.path, 'is corrupt: its private key does not match its public key')()
    }
    return { seed, publicKey: publicKey.slice() }
  }
}

export function parseOpensshPrivateKey(text: string, path: string): OpensshPrivateKey {
  return OpensshPrivateKey.parse(text, path)
}
