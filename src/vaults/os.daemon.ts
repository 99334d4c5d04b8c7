/**
 * os.daemon: the owner's daemon's memory, for keys that must never touch a disk (SPEC §7, §10).
 * It serves only EPHEMERAL_VIA_SESSION: `set --vault os.daemon` puts the typed (or piped) secret
 * straight into the daemon for the unlock's TTL; when that ends the secret is gone, and the next
 * `unlock` asks for it again (the mech is typed at unlock). The host manifest records only that
 * the key exists and lives here — nothing of the secret is written anywhere, ever.
 *
 * Its "lock" is the daemon's expiry, so it is a LockableVault: `get` never reads it directly,
 * only what the daemon holds, and a key it no longer holds is `locked`, with the unlock command.
 */
import type { Context } from '../context.ts'
import { KeyrackVaultError } from '../domain/errors.ts'
import type { LockableVault } from './vault.ts'

const daemon = () => import('../daemon/owner.ts')

export const osDaemonVault: LockableVault = {
  id: 'os.daemon',
  // memory only, same user, per owner, with a TTL: encrypted-equivalent (SPEC §9)
  protection: 'encrypted',
  description: "your daemon's memory only: typed at each unlock, gone when it ends; nothing on disk",
  stores: ['secret'],
  mechs: ['EPHEMERAL_VIA_SESSION'],
  where: (ctx: Context) => `the memory of owner '${ctx.owner}''s daemon`,
  async isAvailable() {
    return { available: true }
  },
  async unlock() {
    // nothing to open: each key is typed (or still held)
  },
  async set({ ctx }, { slug, secret, mech, until }) {
    if (secret === undefined) throw new KeyrackVaultError('os.daemon holds a secret, and none was given', [])
    if (until === undefined) throw new KeyrackVaultError('os.daemon holds a key for a time, and none was given', [])
    const { putGrants } = await daemon()
    await putGrants(ctx, [{ slug, key: { secret, grade: { protection: 'encrypted', duration: 'ephemeral' } }, mech, vault: 'os.daemon', expiresAt: until }])
    return { exid: null }
  },
  async get({ ctx }, { slug }) {
    const { lookupDaemon } = await daemon()
    const answer = (await lookupDaemon(ctx, [slug])).get(slug)
    return answer?.state === 'granted' ? answer.grant.key.secret : null
  },
  async del({ ctx }, { slug }) {
    const { relockSlugs } = await daemon()
    await relockSlugs(ctx, [slug])
  },
}
export default osDaemonVault
