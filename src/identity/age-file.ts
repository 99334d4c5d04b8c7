/**
 * Encrypt and decrypt age files (typage) for an owner's recipients/identity. Recipients may be
 * native X25519 (`age1…`) or SSH ed25519 (`ssh-ed25519 AAAA…`), which typage does not know, so
 * they are wrapped in our own Recipient implementation.
 */
import type { Identity, Recipient } from 'age-encryption'
import { KeyrackIdentityError } from '../domain/errors.ts'

export type AgeIdentity = string | Identity

async function toRecipient(recipient: string): Promise<string | Recipient> {
  if (recipient.startsWith('age1')) return recipient
  if (recipient.startsWith('ssh-')) {
    const { SshEd25519Recipient } = await import('./ssh-ed25519.ts')
    return new SshEd25519Recipient(recipient)
  }
  throw new KeyrackIdentityError('a recipient is neither an age (age1…) nor an ssh-ed25519 public key', [
    'list the recipients with `keyrack recipients list` and remove the bad one',
  ])
}

export async function encryptTo(recipients: readonly string[], plaintext: string | Uint8Array): Promise<Uint8Array> {
  if (recipients.length === 0)
    throw new KeyrackIdentityError('the owner has no recipients to encrypt to', ['run `keyrack init` to create an identity'])
  const { Encrypter } = await import('age-encryption')
  const encrypter = new Encrypter()
  for (const recipient of recipients) encrypter.addRecipient(await toRecipient(recipient))
  return encrypter.encrypt(plaintext)
}

/** decrypts one file; errors name the file, never its content */
export type FileDecrypter = (ciphertext: Uint8Array, file: string) => Promise<string>

/**
 * A decrypter for many files with one identity: the identity is parsed (and its public key
 * derived) once, not per file — unlock decrypts a file per key.
 */
export async function createFileDecrypter(identity: AgeIdentity): Promise<FileDecrypter> {
  const { Decrypter } = await import('age-encryption')
  const decrypter = new Decrypter()
  decrypter.addIdentity(identity)
  return async (ciphertext, file) => {
    try {
      return await decrypter.decrypt(ciphertext, 'text')
    } catch (error) {
      if (error instanceof KeyrackIdentityError) throw error
      const reason = error instanceof Error ? error.message : 'unknown error'
      if (/no identity matched/.test(reason))
        throw new KeyrackIdentityError(`cannot decrypt ${file}: no identity matched any of its recipients`, [
          'this file was encrypted to another key; check `--owner` and that the identity in owner.<owner>.json is the one the file was written for',
        ])
      throw new KeyrackIdentityError(`cannot decrypt ${file}: the file is damaged or was tampered with (${reason})`, [
        `restore ${file} from a backup; keyrack will not overwrite it`,
      ])
    }
  }
}

/** decrypts one file (see createFileDecrypter for many) */
export async function decryptWith(identity: AgeIdentity, ciphertext: Uint8Array, file: string): Promise<string> {
  return (await createFileDecrypter(identity))(ciphertext, file)
}

export async function encryptWithPassphrase(passphrase: string, plaintext: string): Promise<Uint8Array> {
  const { Encrypter } = await import('age-encryption')
  const encrypter = new Encrypter()
  encrypter.setPassphrase(passphrase)
  return encrypter.encrypt(plaintext)
}

/** returns null on a wrong passphrase so the caller can say which identity it was */
export async function decryptWithPassphrase(passphrase: string, ciphertext: Uint8Array): Promise<string | null> {
  const { Decrypter } = await import('age-encryption')
  const decrypter = new Decrypter()
  decrypter.addPassphrase(passphrase)
  try {
    return await decrypter.decrypt(ciphertext, 'text')
  } catch {
    return null
  }
}
