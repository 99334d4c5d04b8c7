/**
 * Grades and the never-degrade rule (SPEC §9).
 *
 * protection ranks reference > encrypted > plaintext: how well the stored source is guarded.
 * duration ranks transient > ephemeral > permanent: how short-lived the credential is.
 * A key may be cached or re-vaulted only where both are at least as strong.
 */
export type Protection = 'reference' | 'encrypted' | 'plaintext'
export type Duration = 'permanent' | 'ephemeral' | 'transient'
export interface Grade {
  protection: Protection
  duration: Duration
}

export const PROTECTIONS: readonly Protection[] = ['plaintext', 'encrypted', 'reference']
export const DURATIONS: readonly Duration[] = ['permanent', 'ephemeral', 'transient']

const protectionRank = (p: Protection): number => PROTECTIONS.indexOf(p)
const durationRank = (d: Duration): number => DURATIONS.indexOf(d)

/**
 * May a key of grade `source` be held at a place of grade `target`?
 * The one check used wherever a key could be copied or cached: set (re-vaulting a slug),
 * unlock (the daemon counts as encrypted), and any future cache.
 */
export function canHold(target: Grade, source: Grade): boolean {
  return (
    protectionRank(target.protection) >= Math.min(protectionRank(source.protection), protectionRank('encrypted')) &&
    durationRank(target.duration) >= durationRank(source.duration)
  )
}

/**
 * Does `actual` meet a repo manifest's minimum grade requirement?
 * A missing field in `required` means any value is fine.
 */
export function meetsGrade(actual: Grade, required: Partial<Grade>): boolean {
  if (required.protection && protectionRank(actual.protection) < protectionRank(required.protection)) return false
  if (required.duration && durationRank(actual.duration) < durationRank(required.duration)) return false
  return true
}

export function formatGrade(grade: Grade): string {
  return `${grade.protection},${grade.duration}`
}
