/**
 * Every size limit keyrack enforces, in one place. `set` refuses what `unlock` or the daemon
 * could not carry later, `unlock` skips (by name) a stored key that breaks one, the daemon's
 * protocol rejects the same, and file reads are capped by what keyrack itself could have
 * written. One table, so the layers can never disagree again (a 70 KB secret used to be stored
 * fine and then break every unlock).
 */
import { Buffer } from 'node:buffer'
import { KeyrackUsageError } from './errors.ts'

export const LIMITS = {
  /** a slug `<org>.<env>.<KEY>`, in characters (all ASCII by the name patterns) */
  slugLength: 256,
  /** one secret, in UTF-8 bytes: far above any API key, token or PEM private key */
  secretBytes: 64 * 1024,
  /** grants one `unlock` hands to the daemon (and one `put` frame carries) */
  keysPerUnlock: 1000,
  /** one protocol frame, in bytes, newline excluded */
  frameBytes: 1024 * 1024,
  /** one reply frame the client accepts (a `get` of many grants); the client asks in batches below it */
  replyBytes: 64 * 1024 * 1024,
  /** slugs per `get` request the client sends; keeps a reply of large secrets well under replyBytes */
  slugsPerGet: 128,
} as const

/**
 * The daemon's memory budget against a flood from its own user (another user never gets past
 * the 0700 directory and the peer-uid check): at most `connections` open at once, each buffering
 * at most one frame (LIMITS.frameBytes) plus `outboxBytes` of unread replies, and all of them
 * together at most `bufferedBytes`. A connection that would exceed a budget is closed.
 */
export const DAEMON_BUDGET = {
  connections: 64,
  outboxBytes: 8 * 1024 * 1024,
  bufferedBytes: 32 * 1024 * 1024,
} as const

/** the most bytes keyrack reads from each file of its home (a larger one is refused, not read) */
export const HOME_FILE_BYTES = {
  /** owner.<owner>.json, identity.<owner>.{age,key}, the lock file */
  small: 64 * 1024,
  /** host.<owner>.yml.age: ~200 bytes per key, so room for tens of thousands of keys */
  hostManifest: 16 * 1024 * 1024,
  /** direct.<owner>.json: many secrets of up to LIMITS.secretBytes each */
  direct: 64 * 1024 * 1024,
  /** secure/<owner>/<sha256>.age: one secret plus the age header and armour */
  secureFile: 1024 * 1024,
} as const

export const utf8Length = (text: string): number => Buffer.byteLength(text, 'utf8')

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} bytes`
}

/** @throws KeyrackUsageError when a slug is longer than the daemon takes (before any secret is asked for) */
export function assertSlugFits(slug: string): string {
  if (slug.length <= LIMITS.slugLength) return slug
  throw new KeyrackUsageError(`the slug ${slug.slice(0, 60)}… is ${slug.length} characters, longer than the ${LIMITS.slugLength} keyrack takes`, [
    'use a shorter org, env or key name',
  ])
}

/** why the daemon cannot hold a slug (longer than it takes), or null */
export function slugProblem(slug: string): string | null {
  return slug.length > LIMITS.slugLength ? `its slug is ${slug.length} characters, longer than the ${LIMITS.slugLength} the daemon takes` : null
}

/** @throws KeyrackUsageError when one unlock would hand the daemon more keys than it takes at once */
export function assertUnlockSize(env: string, keys: number): void {
  if (keys <= LIMITS.keysPerUnlock) return
  throw new KeyrackUsageError(`env ${env} allowlists ${keys} keys, more than the ${LIMITS.keysPerUnlock} one unlock takes`, [
    `unlock them in parts with \`keyrack unlock --key KEY --env ${env}\`, or split the env in .agent/keyrack.yml`,
  ])
}
