/**
 * os.secure: one age file per slug under secure/<owner>/, encrypted to the owner's recipients.
 * File names are sha256(slug) so the directory listing does not reveal which keys exist.
 * Needs no external tool: it works on every OS and in containers.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { paths, type Context } from '../context.ts'
import { KeyrackVaultError } from '../domain/errors.ts'
import { encryptTo } from '../identity/age-file.ts'
import { slugHash } from '../manifests/inventory.ts'
import { HOME_FILE_BYTES } from '../domain/limits.ts'
import { removeFileIfExists, writeFileAtomic } from '../runtime/fs-atomic.ts'
import { readHomeFile } from '../runtime/home.ts'
import type { ReencryptableVault } from './vault.ts'

export function secureFile(ctx: Context, slug: string): string {
  return join(paths.secureDir(ctx), `${slugHash(slug)}.age`)
}

/** os.secure files are named sha256(slug).age; temps and anything else in the directory are not ours */
const SECURE_FILE = /^[0-9a-f]{64}\.age$/

export const osSecureVault: ReencryptableVault = {
  id: 'os.secure',
  protection: 'encrypted',
  description: 'an age-encrypted file per key, to your identity and backup keys; works everywhere',
  stores: ['secret'],
  where: (ctx) => paths.secureDir(ctx),
  async isAvailable() {
    return { available: true }
  },
  async set(session, { slug, secret }) {
    if (secret === undefined) throw new KeyrackVaultError('os.secure stores a secret, and none was given', [])
    const ciphertext = await encryptTo(await session.recipients(), secret)
    writeFileAtomic(secureFile(session.ctx, slug), ciphertext)
    return { exid: null }
  },
  async get(session, { slug }) {
    const file = secureFile(session.ctx, slug)
    let bytes: Buffer | null
    // checked like every file of the keyrack home: yours, not a symlink, not writable by others
    bytes = readHomeFile(session.ctx.home, file, HOME_FILE_BYTES.secureFile)
    return bytes === null ? null : session.decrypt(bytes, file)
  },
  async del(session, { slug }) {
    removeFileIfExists(secureFile(session.ctx, slug))
  },
  encryptedFiles(ctx) {
    const dir = paths.secureDir(ctx)
    try {
      return readdirSync(dir).filter((name) => SECURE_FILE.test(name)).sort().map((name) => join(dir, name))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw new KeyrackVaultError(`cannot list ${dir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}; nothing was changed`, [
        `check its permissions: \`ls -ld ${dir}\``,
      ])
    }
  },
}
export default osSecureVault
