/**
 * The `ssh-ed25519` age recipient type, wire-compatible with the age reference implementation
 * (its agessh package) so files interoperate with `age -R ~/.ssh/id_ed25519.pub` and
 * `age -d -i ~/.ssh/id_ed25519`. typage has no SSH support; this plugs in through its public
 * Recipient/Identity interfaces.
 *
 * Stanza:  -> ssh-ed25519 <tag> <ephemeral X25519 share>
 *          <ChaCha20-Poly1305(wrapping key, zero nonce, file key)>
 *
 * - tag: first 4 bytes of SHA-256(ssh public key blob), so an identity can skip stanzas meant
 *   for other keys without touching its private key (and without asking for its passphrase).
 * - The Ed25519 public key is mapped to its X25519 (Montgomery) form; the X25519 secret is the
 *   first half of SHA-512(seed), the same scalar Ed25519 itself uses.
 * - The X25519 shared secret is multiplied once more by a "tweak" derived from the ssh key
 *   blob, which binds the exchange to the ssh key as a whole.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { mod, invert } from '@noble/curves/abstract/modular.js'
import { x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { Stanza, type Identity, type Recipient } from 'age-encryption'
import { KeyrackIdentityError } from '../domain/errors.ts'
import {
  ED25519_KEY_TYPE,
  OpensshPrivateKey,
  SshWireReader,
  unsupportedKeyTypeError,
} from './openssh-key.ts'

const LABEL = new TextEncoder().encode('age-encryption.org/v1/ssh-ed25519')
const FILE_KEY_LENGTH = 16
const WRAPPED_FILE_KEY_LENGTH = FILE_KEY_LENGTH + 16 // + Poly1305 tag
const ZERO_NONCE = new Uint8Array(12)
const CURVE25519_P = 2n ** 255n - 19n

/** key types an authorized_keys line can start with (OpenSSH's sshkey.c names) */
const SSH_KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-\S+|sk-(ssh-ed25519|ecdsa-sha2-\S+)@openssh\.com)(-cert-v01@openssh\.com)?$/

export interface SshEd25519PublicKey {
  /** the wire blob: string "ssh-ed25519" || string key; what the tag and tweak are computed over */
  blob: Uint8Array
  /** the 32-byte Ed25519 public key */
  key: Uint8Array
  /** free text after the key, e.g. "vlad@laptop"; may be empty */
  comment: string
}

/**
 * Whether a recipient string is an ssh public key line (any key type), as opposed to an age
 * `age1…` recipient. Callers route these to `parseSshPublicKey`, which explains unsupported types.
 */
export function isSshRecipient(s: string): boolean {
  const type = s.trim().split(/\s+/, 1)[0] ?? ''
  return SSH_KEY_TYPE.test(type)
}

/** Parses an authorized_keys line `ssh-ed25519 AAAA… comment` (no options prefix). */
export function parseSshPublicKey(line: string): SshEd25519PublicKey {
  const [type = '', encoded = '', ...comment] = line.trim().split(/\s+/)
  const what = type === '' ? 'an empty ssh public key' : `an ssh public key of type ${type}`
  const bad = () =>
    new KeyrackIdentityError(`${what} is malformed; expected "ssh-ed25519 AAAA… comment"`, [
      'copy the line from your .pub file, e.g. ~/.ssh/id_ed25519.pub',
    ])
  if (!SSH_KEY_TYPE.test(type)) throw bad()
  if (type !== ED25519_KEY_TYPE) throw unsupportedKeyTypeError(type, 'ssh public key')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) throw bad()
  const blob = new Uint8Array(Buffer.from(encoded, 'base64'))
  const r = new SshWireReader(blob, bad)
  if (r.text() !== ED25519_KEY_TYPE) throw bad()
  const key = r.string()
  if (key.length !== 32 || r.remaining !== 0) throw bad()
  return { blob, key: key.slice(), comment: comment.join(' ') }
}

/** base64 without padding, the encoding of age stanza arguments */
function encodeArg(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '')
}

/** strict inverse of encodeArg: rejects padding and non-canonical trailing bits, as age does */
function decodeArg(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) return null
  const bytes = new Uint8Array(Buffer.from(s, 'base64'))
  return encodeArg(bytes) === s ? bytes : null
}

/** stanza tag: lets identities recognise their stanzas without any secret */
function sshKeyTag(blob: Uint8Array): string {
  return encodeArg(sha256(blob).subarray(0, 4))
}

/**
 * Birational map from the Edwards y-coordinate to the Montgomery u-coordinate,
 * u = (1 + y) / (1 - y) mod p, on the key's bytes as the reference does (sign bit dropped, no
 * point decompression).
 */
function ed25519PublicKeyToX25519(key: Uint8Array): Uint8Array {
  const le = key.slice()
  le[31]! &= 0x7f
  const y = BigInt('0x' + Buffer.from(le.reverse()).toString('hex'))
  const denominator = mod(1n - y, CURVE25519_P)
  if (denominator === 0n) throw new KeyrackIdentityError('the ssh-ed25519 public key is not a valid point')
  const u = mod((1n + y) * invert(denominator, CURVE25519_P), CURVE25519_P)
  const out = new Uint8Array(32)
  for (let i = 0, v = u; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn)
  return out
}

/** X25519 that reports low-order points (noble throws) as a keyrack error */
function dh(scalar: Uint8Array, point: Uint8Array, what: string): Uint8Array {
  try {
    return x25519.scalarMult(scalar, point)
  } catch {
    throw new KeyrackIdentityError(`invalid ssh-ed25519 ${what}`)
  }
}

/**
 * The part of the derivation both sides share. `ephemeralShare` is the sender's X25519 public
 * key, `recipientX25519` the recipient's; `sharedSecret` is X25519 between one side's secret and
 * the other's public key.
 */
function wrappingKey(
  sshKeyBlob: Uint8Array,
  sharedSecret: Uint8Array,
  ephemeralShare: Uint8Array,
  recipientX25519: Uint8Array,
): Uint8Array {
  const tweak = hkdf(sha256, new Uint8Array(0), sshKeyBlob, LABEL, 32)
  const tweaked = dh(tweak, sharedSecret, 'shared secret')
  const salt = new Uint8Array(64)
  salt.set(ephemeralShare, 0)
  salt.set(recipientX25519, 32)
  const key = hkdf(sha256, tweaked, salt, LABEL, 32)
  tweaked.fill(0)
  return key
}

export class SshEd25519Recipient implements Recipient {
  readonly publicKey: SshEd25519PublicKey
  private readonly x25519Key: Uint8Array
  private readonly tag: string

  /** @param publicKey an authorized_keys line, or a key already parsed with parseSshPublicKey */
  constructor(publicKey: string | SshEd25519PublicKey) {
    this.publicKey = typeof publicKey === 'string' ? parseSshPublicKey(publicKey) : publicKey
    this.x25519Key = ed25519PublicKeyToX25519(this.publicKey.key)
    this.tag = sshKeyTag(this.publicKey.blob)
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const ephemeral = randomBytes(32)
    const share = x25519.scalarMultBase(ephemeral)
    const shared = dh(ephemeral, this.x25519Key, 'recipient key')
    ephemeral.fill(0)
    const key = wrappingKey(this.publicKey.blob, shared, share, this.x25519Key)
    shared.fill(0)
    const body = chacha20poly1305(key, ZERO_NONCE).encrypt(fileKey)
    key.fill(0)
    return [new Stanza([ED25519_KEY_TYPE, this.tag, encodeArg(share)], body)]
  }
}

interface X25519KeyPair {
  secret: Uint8Array
  publicKey: Uint8Array
}

export class SshEd25519Identity implements Identity {
  private readonly key: OpensshPrivateKey
  private readonly publicKey: SshEd25519PublicKey
  private readonly tag: string
  /** the unlocked X25519 key, kept for the identity's lifetime so one decrypt session asks once */
  private unlocked: Promise<X25519KeyPair> | null = null

  /**
   * @param privateKeyText the content of an OpenSSH private key file
   * @param path where it came from; shown in errors
   * @param passphrase asked only when a file has a stanza for this key and the key is encrypted
   */
  constructor(
    privateKeyText: string,
    readonly path: string,
    private readonly passphrase?: () => Promise<string>,
  ) {
    this.key = OpensshPrivateKey.parse(privateKeyText, path)
    const r = new SshWireReader(this.key.publicKeyBlob, () => new KeyrackIdentityError(`ssh key ${path} is malformed`))
    r.text()
    const key = r.string()
    if (key.length !== 32 || r.remaining !== 0) throw new KeyrackIdentityError(`ssh key ${path} is malformed`)
    this.publicKey = { blob: this.key.publicKeyBlob, key: key.slice(), comment: '' }
    this.tag = sshKeyTag(this.key.publicKeyBlob)
  }

  /** the matching recipient, e.g. to re-encrypt to the same key */
  toRecipient(): SshEd25519Recipient {
    return new SshEd25519Recipient(this.publicKey)
  }

  /** the authorized_keys form of the public key (without comment) */
  get publicKeyLine(): string {
    return `${ED25519_KEY_TYPE} ${Buffer.from(this.publicKey.blob).toString('base64')}`
  }

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    // first pass: public data only, so a file for some other key never costs a passphrase prompt
    const ours: { share: Uint8Array; body: Uint8Array }[] = []
    for (const s of stanzas) {
      if (s.args[0] !== ED25519_KEY_TYPE) continue
      const share = s.args.length === 3 ? decodeArg(s.args[2]!) : null
      if (share === null || share.length !== 32) throw new KeyrackIdentityError('invalid ssh-ed25519 stanza')
      if (s.args[1] !== this.tag) continue
      // checked before unlocking, so a malformed stanza never costs a prompt either
      if (s.body.length !== WRAPPED_FILE_KEY_LENGTH) throw new KeyrackIdentityError('invalid ssh-ed25519 stanza')
      ours.push({ share, body: s.body })
    }
    if (ours.length === 0) return null

    const x = await this.unlock()
    // the reference stops at the first stanza with our tag: a failure there is an error, not a miss
    const { share, body } = ours[0]!
    const shared = dh(x.secret, share, 'ephemeral share')
    const key = wrappingKey(this.publicKey.blob, shared, share, x.publicKey)
    shared.fill(0)
    try {
      return chacha20poly1305(key, ZERO_NONCE).decrypt(body)
    } catch {
      throw new KeyrackIdentityError(
        `could not unwrap the file key with ssh key ${this.path}: the file is damaged or was tampered with`,
      )
    } finally {
      key.fill(0)
    }
  }

  private unlock(): Promise<X25519KeyPair> {
    if (this.unlocked === null) {
      this.unlocked = this.deriveX25519().catch((error: unknown) => {
        this.unlocked = null // a wrong passphrase must not stick: the caller may retry
        throw error
      })
    }
    return this.unlocked
  }

  private async deriveX25519(): Promise<X25519KeyPair> {
    let passphrase: string | undefined
    if (this.key.isEncrypted) {
      if (this.passphrase === undefined) {
        throw new KeyrackIdentityError(`ssh key ${this.path} is passphrase-protected and no passphrase was given`, [
          'run keyrack from a terminal so it can ask for the passphrase',
        ])
      }
      passphrase = await this.passphrase()
    }
    const { seed } = this.key.unlockEd25519(passphrase)
    const digest = sha512(seed)
    seed.fill(0)
    const secret = digest.slice(0, 32) // X25519 clamps it, as Ed25519 does
    digest.fill(0)
    return { secret, publicKey: x25519.scalarMultBase(secret) }
  }
}

/** for when only SSH_AUTH_SOCK is around: an agent signs, but age needs the key itself */
export function sshAgentOnlyError(): KeyrackIdentityError {
  return new KeyrackIdentityError(
    'ssh-agent can only sign, it cannot decrypt age files; pass --identity PATH to the private key',
    ['e.g. --identity ~/.ssh/id_ed25519'],
  )
}
