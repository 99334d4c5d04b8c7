/**
 * The vault registry: the one place that maps a vault id to its adapter. Each line loads its
 * adapter lazily, so a command loads only the vaults it uses (a daemon-served `get` loads none).
 * Adding a vault: one adapter file, one line below, one fixture in tests/contract/fixtures.ts.
 * The order is the order `fill` and `--help` offer them in: strongest, most portable first.
 */
import { KeyrackUsageError } from '../domain/errors.ts'
import { lazyRegistry, type Registry } from '../registry.ts'
import type { Vault } from './vault.ts'

const BUILTIN: Record<string, () => Promise<Vault>> = {
  'os.secure': () => import('./os.secure.ts').then((m) => m.default),
  'os.keychain': () => import('./os.keychain.ts').then((m) => m.default),
  'os.direct': () => import('./os.direct.ts').then((m) => m.default),
  'os.envvar': () => import('./os.envvar.ts').then((m) => m.default),
  'os.daemon': () => import('./os.daemon.ts').then((m) => m.default),
  'aws.config': () => import('./aws.config.ts').then((m) => m.default),
  'aws.params': () => import('./aws.params.ts').then((m) => m.default),
  '1password': () => import('./1password.ts').then((m) => m.default),
  'github.secrets': () => import('./github.secrets.ts').then((m) => m.default),
}

/** other names a vault answers to (rhachet's keyrack calls aws.config `aws.iam.sso`); records keep the id */
const ALIASES: Record<string, string> = { 'aws.iam.sso': 'aws.config' }

/** load(id) throws KeyrackUsageError naming the known vaults when the id is not one of them */
export type VaultRegistry = Registry<Vault>

/** a registry over these loaders (the SDK's `vaults` option and tests add to the built-ins this way) */
export const vaultRegistry = (loaders: Record<string, () => Promise<Vault>>): VaultRegistry => lazyRegistry(loaders, unknownVault, ALIASES)

export const builtinVaults: VaultRegistry = vaultRegistry(BUILTIN)
/** the built-in vault ids, in offer order */
export const VAULT_IDS = builtinVaults.ids

function unknownVault(id: string, ids: readonly string[]): KeyrackUsageError {
  const hint = [`use one of: ${ids.join(', ')} (e.g. \`--vault ${ids[0]}\`)`]
  return new KeyrackUsageError(`unknown vault '${id.length > 40 ? id.slice(0, 40) + '…' : id}'`, hint)
}
