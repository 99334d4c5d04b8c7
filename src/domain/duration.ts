/** unlock durations: `9h`, `30m`, `90s`, `2d`, or `session` (until logout; capped by the daemon's lifetime) */
import { KeyrackUsageError } from './errors.ts'

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
/** `session` still gets an absolute cap: the daemon exits at logout, and never lives past this */
export const SESSION_CAP_MS = 7 * UNITS.d!

export function parseDuration(text: string, flag = '--duration'): number {
  if (text === 'session') return SESSION_CAP_MS
  const match = /^(\d+)([smhd])$/.exec(text.trim())
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : NaN
  if (!Number.isFinite(ms) || ms <= 0 || ms > SESSION_CAP_MS)
    throw new KeyrackUsageError(`${flag} takes a duration such as 9h, 30m or 90s (at most 7d), or \`session\``, [`e.g. \`${flag} 9h\``])
  return ms
}

export function formatRemaining(ms: number): string {
  if (ms <= 0) return 'expired'
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor((ms % 3_600_000) / 60_000)
  const s = Math.floor((ms % 60_000) / 1000)
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`
}
