/**
 * os.secure: one age file per slug under secure/<owner>/, encrypted to the owner's recipients.
 * File names are sha256(slug) so the directory listing does not reveal which keys exist.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { paths, type Context } from '../context.ts'
import { encryptTo } from '../identity/age-file.ts'
import { removeFileIfExists, writeFileAtomic } from '../runtime/fs-atomic.ts'
import type { Vault } from './vault.ts'

export function secureFile(ctx: Context, slug: string): string {
  return join(paths.secureDir(ctx), `${createHash('sha256').update(slug).digest('hex')}.age`)
}

export const osSecureVault: Vault = {
  id: 'os.secure',
  protection: 'encrypted',
  needsIdentity: true,
  async set(session, { slug, secret }) {
    const ciphertext = await encryptTo(await session.recipients(), secret)
    writeFileAtomic(secureFile(session.ctx, slug), ciphertext)
    return { exid: null }
  },
  async get(session, { slug }) {
    const file = secureFile(session.ctx, slug)
    let bytes: Buffer
    try {
      bytes = readFileSync(file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
    return session.decrypt(bytes, file)
  },
  async del(session, { slug }) {
    removeFileIfExists(secureFile(session.ctx, slug))
  },
}
export default osSecureVault
