/**
 * os.envvar: keys that arrive in the caller's environment — CI secrets passed into a step, a
 * user's own exports. `set --vault os.envvar` records the intent only: no secret is stored
 * anywhere, and none is asked for. `get` reads the variable named like the key from the
 * environment keyrack runs in; the repo's allowlist and the firewall apply as to any key.
 * keyrack never writes an environment, and `unlock` never caches these (they are the caller's).
 */
import { parseSlug } from '../domain/names.ts'
import type { PassthroughVault } from './vault.ts'

export const osEnvvarVault: PassthroughVault = {
  id: 'os.envvar',
  protection: 'plaintext',
  description: "the caller's environment (CI secrets, your own exports); nothing is stored",
  stores: ['secret'],
  mechs: ['PERMANENT_VIA_REPLICA'],
  passthrough: true,
  where: () => 'the environment keyrack runs in',
  async isAvailable() {
    return { available: true }
  },
  async set() {
    return { exid: null }
  },
  async get({ ctx }, { slug }) {
    return ctx.env[parseSlug(slug).key] || null
  },
  async del() {
    // nothing was stored: the record in the host manifest is all there is
  },
}
export default osEnvvarVault
