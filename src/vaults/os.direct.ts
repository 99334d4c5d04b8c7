/**
 * os.direct: plaintext secrets in direct.<owner>.json (0600), by the user's explicit choice.
 * No unlock is needed, which is the point (and the risk: any process of the user can read it).
 * It is its own index (the mech is stored beside each secret), so `get` reads it without the
 * host manifest or the inventory.
 */
import { statSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { KeyrackError, KeyrackVaultError } from '../domain/errors.ts'
import { HOME_FILE_BYTES } from '../domain/limits.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'
import { readHomeFile } from '../runtime/home.ts'
import type { IndexFreeVault } from './vault.ts'

/** slug → the secret and the mech it was stored for (so `get` needs no host manifest for it) */
export type DirectFile = Record<string, { secret: string; mech?: string }>

/** read without the session: `get` uses it before anything else is opened */
export function readDirectFile(ctx: Context): DirectFile {
  const file = paths.direct(ctx)
  let text: string
  try {
    // checked like every file of the keyrack home: yours, not a symlink, not writable by others
    const bytes = readHomeFile(ctx.home, file, HOME_FILE_BYTES.direct)
    if (bytes === null) return Object.create(null) as DirectFile
    text = bytes.toString('utf8')
  } catch (error) {
    if (error instanceof KeyrackError) throw error
    throw new KeyrackVaultError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, [
      `check its permissions: \`ls -l ${file}\``,
    ])
  }
  try {
    const data = JSON.parse(text) as unknown
    if (data && typeof data === 'object' && !Array.isArray(data)) return Object.assign(Object.create(null), data) as DirectFile
  } catch {
    // fall through: never echo the content, it holds secrets
  }
  throw new KeyrackVaultError(`${file} is not a valid os.direct file`, [
    `restore it from a backup, or move it aside (\`mv ${file} ${file}.bak\`) and set the keys again`,
  ])
}

function writeDirectFile(ctx: Context, data: DirectFile): void {
  writeFileAtomic(paths.direct(ctx), `${JSON.stringify(data, null, 2)}\n`)
}

export const osDirectVault: IndexFreeVault = {
  id: 'os.direct',
  protection: 'plaintext',
  description: `a plaintext file (0600): any process running as you can read it`,
  stores: ['secret'],
  where: (ctx) => paths.direct(ctx),
  async isAvailable(ctx) {
    const file = paths.direct(ctx)
    let mode: number
    try {
      mode = statSync(file).mode & 0o777
    } catch {
      return { available: true, detail: 'no keys stored in plaintext' }
    }
    if (mode & 0o077) return { available: false, reason: `${file} has mode ${mode.toString(8)}: others can read its plaintext secrets`, hint: [`chmod 600 ${file}`] }
    return { available: true, detail: `${file} (0600, plaintext)` }
  },
  async set({ ctx }, { slug, secret, mech }) {
    if (secret === undefined) throw new KeyrackVaultError('os.direct stores a secret, and none was given', [])
    const data = readDirectFile(ctx)
    data[slug] = { secret, mech }
    writeDirectFile(ctx, data)
    return { exid: null }
  },
  async get({ ctx }, { slug }) {
    return readDirectFile(ctx)[slug]?.secret ?? null
  },
  async del({ ctx }, { slug }) {
    const data = readDirectFile(ctx)
    if (!(slug in data)) return
    delete data[slug]
    writeDirectFile(ctx, data)
  },
  async lookup(ctx, slugs) {
    const found = new Map<string, { secret: string; mech?: string }>()
    if (slugs.length === 0) return found
    const data = readDirectFile(ctx)
    for (const slug of slugs) {
      const entry = data[slug]
      if (entry && typeof entry.secret === 'string') found.set(slug, { secret: entry.secret, ...(entry.mech ? { mech: entry.mech } : {}) })
    }
    return found
  },
}
export default osDirectVault
