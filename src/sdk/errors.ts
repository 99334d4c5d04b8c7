import { KeyrackError } from '../domain/errors.ts'
import type { KeyReport } from './get.ts'

/**
 * `get` is all or nothing: when any allowlisted key is not granted, this carries the per-key
 * report (states and guidance, never a secret) and no key at all.
 */
export class KeyrackKeysUnavailableError extends KeyrackError {
  constructor(
    readonly report: Omit<KeyReport, 'grant'>[],
    /** what get warned about on the way (e.g. a daemon it could not trust), never a secret */
    readonly warnings: string[] = [],
  ) {
    const failing = report.filter((r) => r.state !== 'granted' && !r.optional)
    const blocked = failing.some((r) => r.state === 'blocked')
    super(
      `${failing.length} of ${report.length} key${report.length === 1 ? '' : 's'} not granted: ${failing.map((r) => `${r.key} (${r.state})`).join(', ')}`,
      { hint: [...new Set(failing.flatMap((r) => r.hint))], exit: blocked ? 'blocked' : 'keyUnavailable' },
    )
  }
}
