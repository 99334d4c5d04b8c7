/**
 * Skips that CI can see. A suite that cannot run here (no root, no second OS user, a missing
 * tool) is skipped, not failed, so a developer's laptop still runs the rest. But a skipped
 * security suite proves nothing, so each such skip prints one marker line on stderr:
 *
 *   keyrack-test-skip: needs=root suite="second-user daemon tests" reason="useradd … failed"
 *
 * `.ci/run` reads these lines: a `needs=root` skip while running as root, or a `needs=tool` skip
 * of a tool that `.ci/run` installs, fails the CI run (SPEC: tests that prove what they claim).
 */

/** root: needs uid 0 or a second OS user; tool: needs a program `.ci/run` / scripts/test-deps.sh install */
export type SkipNeed = 'root' | 'tool'

export const SKIP_MARKER = 'keyrack-test-skip:'

/**
 * Returns true when the suite must be skipped (`reason` is a string), after printing the marker;
 * false (and prints nothing) when it can run. Use as `describe.skipIf(skipFor(…))`.
 */
export function skipFor(need: SkipNeed, suite: string, reason: string | null | undefined | false): boolean {
  if (typeof reason !== 'string') return false
  console.warn(`${SKIP_MARKER} needs=${need} suite=${JSON.stringify(suite)} reason=${JSON.stringify(reason)}`)
  return true
}

/** the reason a program is missing from PATH, or null when it is there */
export function missingTool(...tools: string[]): string | null {
  const missing = tools.filter((tool) => Bun.which(tool) === null)
  return missing.length === 0 ? null : `not installed: ${missing.join(', ')}`
}
