/**
 * Which keyrack release is the newest, for `keyrack doctor` (SPEC §13). No network unless asked:
 * `doctor --check-updates` asks GitHub's releases API (`$GITHUB_API_URL`, default
 * https://api.github.com, so GitHub Enterprise and tests point it elsewhere) and remembers the
 * answer in <keyrack home>/release-check.json; a plain `doctor` reads only that file.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Context } from '../context.ts'
import { HOME_FILE_BYTES } from '../domain/limits.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'
import { readHomeFile } from '../runtime/home.ts'

/** the GitHub repository releases come from (install.sh's default release URL names it too) */
export const RELEASE_REPO = 'ehmpathy/keyrack'
/** the one-line installer of the latest release (install.sh is attached to every release) */
export const INSTALL_COMMAND = `curl -fsSL https://github.com/${RELEASE_REPO}/releases/latest/download/install.sh | sh`

export interface ReleaseCheck {
  /** the latest release's tag, e.g. v0.2.0 */
  latest: string
  /** ISO time of the check */
  checkedAt: string
}

export const releaseCheckPath = (ctx: Context): string => join(ctx.home, 'release-check.json')

/** the answer of the last `--check-updates`, or null (never asked, or the file is unreadable) */
export function readReleaseCheck(ctx: Context): ReleaseCheck | null {
  const file = releaseCheckPath(ctx)
  if (!existsSync(file)) return null
  try {
    // a file of the keyrack home: checked like the others (a FIFO or a planted file is just ignored here)
    const bytes = readHomeFile(ctx.home, file, HOME_FILE_BYTES.small)
    if (bytes === null) return null
    const data = JSON.parse(bytes.toString('utf8')) as Partial<ReleaseCheck>
    if (typeof data.latest === 'string' && /^v?\d+\.\d+\.\d+/.test(data.latest) && typeof data.checkedAt === 'string')
      return { latest: data.latest, checkedAt: data.checkedAt }
  } catch {}
  return null
}

/** asks the releases API for the latest release (5 s timeout) and remembers it when the home exists */
export async function fetchLatestRelease(ctx: Context, fetchImpl: typeof fetch = fetch): Promise<ReleaseCheck> {
  const api = (ctx.env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '')
  const response = await fetchImpl(`${api}/repos/${RELEASE_REPO}/releases/latest`, {
    headers: { accept: 'application/vnd.github+json', 'user-agent': 'keyrack-doctor' },
    signal: AbortSignal.timeout(5000),
  })
  if (!response.ok) throw new Error(`${api} answered ${response.status}`)
  const tag = ((await response.json()) as { tag_name?: unknown }).tag_name
  if (typeof tag !== 'string' || !/^v?\d+\.\d+\.\d+/.test(tag)) throw new Error(`${api} sent no release tag`)
  const check = { latest: tag, checkedAt: new Date(ctx.now()).toISOString() }
  // doctor creates no keyrack home; the answer is kept only where one already exists
  if (existsSync(ctx.home)) writeFileAtomic(releaseCheckPath(ctx), `${JSON.stringify(check)}\n`)
  return check
}

/** semver order of the release part (x.y.z); a pre-release sorts before its release */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = '', pre] = v.replace(/^v/, '').split('-', 2)
    return { nums: core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre }
  }
  const x = parse(a)
  const y = parse(b)
  for (let i = 0; i < 3; i++) if ((x.nums[i] ?? 0) !== (y.nums[i] ?? 0)) return (x.nums[i] ?? 0) - (y.nums[i] ?? 0)
  if (x.pre === y.pre) return 0
  if (x.pre === undefined) return 1
  if (y.pre === undefined) return -1
  return x.pre < y.pre ? -1 : 1
}
