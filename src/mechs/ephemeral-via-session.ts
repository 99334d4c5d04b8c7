/**
 * EPHEMERAL_VIA_SESSION: nothing is stored — the secret is typed at unlock (or piped to `set`) and
 * lives only in the owner's daemon until the unlock ends (SPEC §8). For keys a human keeps in their
 * head or a password manager keyrack cannot reach. Only a vault that names it (the daemon's memory)
 * may hold it, so it can never land on a disk.
 */
import type { Mech } from './mech.ts'

export const ephemeralViaSessionMech: Mech = {
  id: 'EPHEMERAL_VIA_SESSION',
  duration: 'ephemeral',
  description: 'typed at each unlock and held only in your daemon until it ends; nothing on disk',
  source: 'secret',
  dedicated: true,
  typedAtUnlock: true,
  async toKey(_ctx, { source }) {
    return { secret: source }
  },
}
export default ephemeralViaSessionMech
