/**
 * "did you mean …?": the closest known name to a mistyped one (a flag, a command, a key name).
 * Optimal string alignment distance, so one swapped pair of neighbours (`outptu` → `output`)
 * counts as one typo, as people make them.
 */

/** edits (insert, delete, substitute, swap neighbours) from a to b */
export function typoDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i < rows; i++)
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
    }
  return d[a.length]![b.length]!
}

/**
 * The candidate a typo most likely meant, or undefined when none is close: within a third of the
 * name's length in edits (at least one), ignoring case; or one the typed name is a prefix of
 * (`--out` → `--output`). Ties go to the candidate listed first.
 */
export function closest(typed: string, candidates: Iterable<string>): string | undefined {
  const t = typed.toLowerCase()
  let best: { name: string; distance: number } | undefined
  for (const name of candidates) {
    const n = name.toLowerCase()
    if (n === t) return name
    const distance = t.length >= 2 && n.startsWith(t) ? 1 : typoDistance(t, n)
    const allowed = Math.max(1, Math.floor(Math.max(t.length, n.length) / 3))
    if (distance <= allowed && (!best || distance < best.distance)) best = { name, distance }
  }
  return best?.name
}
