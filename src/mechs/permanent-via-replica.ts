/**
 * PERMANENT_VIA_REPLICA: the vault stores the key itself, which is handed out unchanged.
 * For long-lived keys with no short-lived alternative (most LLM API keys); the user must
 * choose it explicitly (there is no default mech) and the firewall still applies.
 */
import type { Mech } from './mech.ts'

export const permanentViaReplicaMech: Mech = {
  id: 'PERMANENT_VIA_REPLICA',
  duration: 'permanent',
  description: 'store the key itself; for long-lived keys that have no short-lived alternative',
  source: 'secret',
  async toKey(_ctx, { source }) {
    return { secret: source }
  },
}
export default permanentViaReplicaMech
