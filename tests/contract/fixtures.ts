/**
 * One fixture per registered vault: how the contract suite (./vaults.test.ts) gives that vault an
 * isolated place to work. A vault in the registry without a fixture here fails the suite, so a new
 * vault cannot skip the contract. A fixture returns the environment variables its vault needs —
 * e.g. PATH with a fake tool from tests/fakes/ first, or the address of a private dbus session —
 * and `stop` to undo what it started.
 */
import { parseSlug } from '../../src/domain/names.ts'

export interface VaultFixture {
  start(dir: string): Promise<{ env: Record<string, string | undefined>; stop?: () => Promise<void> }>
  /** a vault that reads its secret from elsewhere (os.envvar): put the secret where it will look */
  provide?(env: Record<string, string | undefined>, slug: string, secret: string): void
  /**
   * a vault that stores only references (`stores: ['exid']`): create an item holding `secret` in
   * the vault's (fake) backend and return the reference to it, e.g. `op://Private/item/field`
   */
  reference?(env: Record<string, string | undefined>, secret: string): Promise<string>
}

/** vaults that need nothing outside keyrack: just a temp home */
const builtin: VaultFixture = { start: async () => ({ env: {} }) }

export const fixtures: Record<string, VaultFixture> = {
  'os.secure': builtin,
  'os.direct': builtin,
  'os.envvar': {
    start: async () => ({ env: {} }),
    provide: (env, slug, secret) => void (env[parseSlug(slug).key] = secret),
  },
  // the daemon starts in the suite's own XDG_RUNTIME_DIR; the suite relocks (stops) it at the end
  'os.daemon': builtin,
}
