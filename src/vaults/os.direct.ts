/**
 * os.direct: plaintext secrets in direct.<owner>.json (0600), by the user's explicit choice.
 * No unlock is needed, which is the point (and the risk: any process of the user can read it).
 */
import { readFileSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { KeyrackVaultError } from '../domain/errors.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'
import type { Vault } from './vault.ts'

/** slug → the secret and the mech it was stored for (so `get` needs no host manifest for it) */
export type DirectFile = Record<string, { secret: string; mech?: string }>

/** read without the session: `get` uses it before anything else is opened */
export function readDirectFile(ctx: Context): DirectFile {
  const file = paths.direct(ctx)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new KeyrackVaultError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, [
      `check its permissions: \`ls -l ${file}\``,
    ])
  }
  try {
    const data = JSON.parse(text) as unknown
    if (data && typeof data === 'object' && !Array.isArray(data)) return data as DirectFile
  } catch {
    // fall through: never echo the content, it holds secrets
  }
  throw new KeyrackVaultError(`${file} is not a valid os.direct file`, [
    `restore it from a backup, or move it aside (\`mv ${file} ${file}.bak\`) and set the keys again`,
  ])
}

export const osDirectVault: Vault = {
  id: 'os.direct',
  protection: 'plaintext',
  needsIdentity: false,
  async set({ ctx }, { slug, secret, mech }) {
    const data = readDirectFile(ctx)
    data[slug] = { secret, mech }
    writeFileAtomic(paths.direct(ctx), `${JSON.stringify(data, null, 2)}\n`)
    return { exid: null }
  },
  async get({ ctx }, { slug }) {
    return readDirectFile(ctx)[slug]?.secret ?? null
  },
  async del({ ctx }, { slug }) {
    const data = readDirectFile(ctx)
    if (!(slug in data)) return
    delete data[slug]
    writeFileAtomic(paths.direct(ctx), `${JSON.stringify(data, null, 2)}\n`)
  },
}
export default osDirectVault
