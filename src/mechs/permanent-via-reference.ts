/**
 * PERMANENT_VIA_REFERENCE: the vault stores only a pointer (an `op://vault/item/field`
 * reference, …) and resolves it at each unlock; the key handed out is what the pointer resolves
 * to (SPEC §8). Any vault that can hold a reference (`stores` includes `exid`) serves it: the
 * vault's `get` does the resolving, so this mech passes the resolved secret through unchanged.
 * `set` takes the pointer with `--exid` and proves it resolves before recording it.
 */
import type { Mech } from './mech.ts'

export const permanentViaReferenceMech: Mech = {
  id: 'PERMANENT_VIA_REFERENCE',
  duration: 'permanent',
  description: 'store only a pointer (e.g. an op:// reference) that the vault resolves at each unlock',
  source: 'exid',
  async toKey(_ctx, { source }) {
    return { secret: source }
  },
}
export default permanentViaReferenceMech
