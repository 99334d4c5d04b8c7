/**
 * The vault registry: id → lazy loader, so a command loads only the adapters it uses.
 * Adding a vault is one file and one line here. A null-prototype object, so no inherited
 * name ('constructor', 'toString') can pass as a vault.
 */
import { KeyrackUsageError } from '../domain/errors.ts'
import type { Vault } from './vault.ts'

const loaders: Record<string, () => Promise<Vault>> = Object.assign(Object.create(null), {
  'os.direct': () => import('./os.direct.ts').then((m) => m.default),
  'os.secure': () => import('./os.secure.ts').then((m) => m.default),
})

/** vaults of SPEC §7 that this build does not carry yet, so users get a precise answer */
const PLANNED = ['os.keychain', '1password', 'aws.config', 'aws.iam.sso', 'os.envvar', 'aws.params', 'github.secrets']

export const VAULT_IDS = Object.keys(loaders)

export async function loadVault(id: string): Promise<Vault> {
  const loader = loaders[id]
  if (loader) return loader()
  if (PLANNED.includes(id))
    throw new KeyrackUsageError(`vault '${id}' is not available in this version of keyrack`, [
      `use one of: ${VAULT_IDS.join(', ')} (e.g. \`--vault os.secure\`)`,
    ])
  throw new KeyrackUsageError(`unknown vault '${id.length > 40 ? id.slice(0, 40) + '…' : id}'`, [
    `use one of: ${VAULT_IDS.join(', ')} (e.g. \`--vault os.secure\`)`,
  ])
}
