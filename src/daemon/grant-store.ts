/**
 * The daemon's in-memory grants (SPEC §10): one entry per slug, each with
 *
 * - an absolute expiry `expiresAt` (min(unlock duration, credential expiry), set by unlock), and
 * - an optional sliding idle timeout: every `get` pushes `idleExpiresAt` to now + idleTimeoutMs,
 *   never past `expiresAt` — gpg-agent's default-cache-ttl (idle) capped by max-cache-ttl.
 *
 * Time comes only from the injected `now()`, so tests move the clock instead of sleeping.
 * Expiry is checked on every read (a grant is never served late because a sweep timer ran
 * late) and by `sweep()`, which the server calls periodically to drop secrets promptly.
 *
 * Expired slugs are remembered (slug and time only, no secret) for `expiredMemoryMs`, so
 * `get` can answer `expired` ("unlock again") rather than `missing` ("never unlocked").
 * `relock` forgets a slug entirely: after a relock the key is simply locked.
 *
 * A renewable key (GitHub App tokens: an hour, inside an unlock of nine) also holds its `renewal`
 * (what its mech mints it again from) until the unlock's end `until`: the key itself still expires
 * at `expiresAt` and is never served after it, but the grant lives on, and `due()` names it for
 * renewal `beforeMs` ahead (or halfway through its life, when that is sooner). The store never
 * mints anything itself: the server's renewer (renew.ts) does, and hands the new key to
 * `renewed()` — or reports `renewFailed()`, which backs the next try off.
 *
 * Secrets are held as UTF-8 bytes and zero-filled when dropped. This is best effort, and
 * the limits are the runtime's: JS strings are immutable and cannot be wiped, so the string
 * parsed from a `put` frame, and the string built for each `get` reply, stay in the heap
 * until the garbage collector reuses that memory. Holding bytes keeps the long-lived copy
 * wipeable and the string copies short-lived.
 */
import type { Grade } from '../domain/grade.ts'
import { renewAt } from '../domain/grant.ts'
import type { GrantInput, GrantSummary, SlugState } from './protocol.ts'

export interface GrantStoreOptions {
  /** epoch ms clock; Date.now in production */
  now?: () => number
  /** how long an expired slug is still reported as `expired`; default 1 hour */
  expiredMemoryMs?: number
}

interface Entry {
  slug: string
  secret: Uint8Array
  /** env-var name → secret bytes, and when they end (never after expiresAt) */
  companions?: { secrets: Map<string, Uint8Array>; expiresAt?: number }
  grade: Grade
  mech: string
  vault: string
  /** when the key held now expires */
  expiresAt: number
  idleTimeoutMs?: number
  idleExpiresAt?: number
  renewal?: {
    secret: Uint8Array
    /** the end of the unlock: the grant's own end */
    until: number
    beforeMs: number
    /** when the key held now was received (its life starts here) */
    mintedAt: number
    /** renewals done, and failed tries since the last one */
    count: number
    failures: number
    /** no new try before this (after a failure) */
    retryAt: number
  }
}

/** a renewal the server should run: the mech, what it renews from, and the entry it is for */
export interface DueRenewal {
  slug: string
  mech: string
  renewal: string
  /** identifies the grant: a renewal for a grant replaced or dropped since is discarded */
  entry: object
}

/** the grant's end: its key's expiry, or for a renewed key the unlock's end */
const endOf = (entry: Entry): number => entry.renewal?.until ?? entry.expiresAt

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class GrantStore {
  private readonly entries = new Map<string, Entry>()
  private readonly expired = new Map<string, { expiredAt: number; forgetAt: number }>()
  private readonly now: () => number
  private readonly expiredMemoryMs: number

  constructor(options: GrantStoreOptions = {}) {
    this.now = options.now ?? Date.now
    this.expiredMemoryMs = options.expiredMemoryMs ?? 60 * 60 * 1000
  }

  /** live grants (after dropping any that have expired by now) */
  get size(): number {
    this.sweep()
    return this.entries.size
  }

  /**
   * Store grants, replacing any held for the same slug. A grant whose expiry is already past
   * is not stored (it is remembered as expired). Returns how many were stored.
   */
  put(inputs: readonly GrantInput[]): number {
    const now = this.now()
    let stored = 0
    for (const input of inputs) {
      this.drop(input.slug)
      this.expired.delete(input.slug)
      if (input.expiresAt <= now) {
        this.rememberExpired(input.slug, input.expiresAt, now)
        continue
      }
      const entry: Entry = {
        slug: input.slug,
        secret: encoder.encode(input.key.secret),
        grade: { protection: input.key.grade.protection, duration: input.key.grade.duration },
        mech: input.mech,
        vault: input.vault,
        expiresAt: input.expiresAt,
      }
      if (input.companions) {
        const ends = Math.min(input.companions.expiresAt ?? input.expiresAt, input.expiresAt)
        entry.companions = { secrets: new Map(Object.entries(input.companions.secrets).map(([k, v]) => [k, encoder.encode(v)])), expiresAt: ends }
      }
      // renewing only matters while the unlock outlasts the key
      if (input.renewal && input.renewal.until > input.expiresAt)
        entry.renewal = { secret: encoder.encode(input.renewal.secret), until: input.renewal.until, beforeMs: input.renewal.beforeMs, mintedAt: now, count: 0, failures: 0, retryAt: 0 }
      if (input.idleTimeoutMs !== undefined) {
        entry.idleTimeoutMs = input.idleTimeoutMs
        entry.idleExpiresAt = Math.min(now + input.idleTimeoutMs, endOf(entry))
      }
      this.entries.set(input.slug, entry)
      stored++
    }
    return stored
  }

  /** the state of each slug, in order; a granted slug's idle deadline is pushed out */
  get(slugs: readonly string[]): SlugState[] {
    this.sweep()
    const now = this.now()
    return slugs.map((slug): SlugState => {
      const entry = this.entries.get(slug)
      // a renewed grant whose key ran out before a renewal came (offline, asleep): expired, not served
      if (entry && entry.expiresAt <= now) return { slug, state: 'expired', expiredAt: entry.expiresAt }
      if (entry) {
        if (entry.idleTimeoutMs !== undefined) entry.idleExpiresAt = Math.min(now + entry.idleTimeoutMs, endOf(entry))
        const state: SlugState = {
          slug,
          state: 'granted',
          grant: {
            slug,
            key: { secret: decoder.decode(entry.secret), grade: { ...entry.grade } },
            mech: entry.mech,
            vault: entry.vault,
            expiresAt: entry.expiresAt,
          },
          expiresAt: entry.expiresAt,
        }
        if (entry.idleExpiresAt !== undefined) state.idleExpiresAt = entry.idleExpiresAt
        if (entry.companions) {
          const ends = entry.companions.expiresAt
          if (ends === undefined || ends > now)
            state.grant.companions = { secrets: Object.fromEntries([...entry.companions.secrets].map(([k, v]) => [k, decoder.decode(v)])), ...(ends !== undefined ? { expiresAt: ends } : {}) }
          else {
            // they ran out before the key did: wipe them now, serve the key alone and say so
            this.dropCompanions(entry)
            state.companionsExpiredAt = ends
          }
        }
        if (entry.renewal) state.renewsUntil = entry.renewal.until
        return state
      }
      const expired = this.expired.get(slug)
      if (expired) return { slug, state: 'expired', expiredAt: expired.expiredAt }
      return { slug, state: 'missing' }
    })
  }

  /** every live grant without its secret, sorted by slug */
  list(): GrantSummary[] {
    this.sweep()
    return [...this.entries.values()]
      .sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0))
      .map((entry) => {
        const summary: GrantSummary = {
          slug: entry.slug,
          grade: { ...entry.grade },
          mech: entry.mech,
          vault: entry.vault,
          expiresAt: entry.expiresAt,
        }
        if (entry.idleExpiresAt !== undefined) summary.idleExpiresAt = entry.idleExpiresAt
        if (entry.companions) summary.companions = { keys: [...entry.companions.secrets.keys()], ...(entry.companions.expiresAt !== undefined ? { expiresAt: entry.companions.expiresAt } : {}) }
        if (entry.renewal) Object.assign(summary, { renewsUntil: entry.renewal.until, renewals: entry.renewal.count })
        return summary
      })
  }

  /** drop the given slugs (or all); returns how many live grants were removed */
  relock(slugs?: readonly string[]): number {
    this.sweep()
    let removed = 0
    for (const slug of slugs ?? [...this.entries.keys()]) {
      if (this.drop(slug)) removed++
      this.expired.delete(slug)
    }
    if (!slugs) this.expired.clear()
    return removed
  }

  /**
   * The renewals to run now (of `slugs`, or of every grant): keys due for renewal (or already
   * expired) whose grant lasts beyond them, not backed off after a failure, not in `running`.
   */
  due(running: { has(slug: string): boolean }, slugs?: readonly string[]): DueRenewal[] {
    const now = this.now()
    const due: DueRenewal[] = []
    for (const slug of slugs ?? this.entries.keys()) {
      const entry = this.entries.get(slug)
      const renewal = entry?.renewal
      if (!entry || !renewal || running.has(slug) || now < renewal.retryAt || entry.expiresAt >= renewal.until) continue
      // a grant past its end (not swept yet) is never renewed
      if (now >= Math.min(renewal.until, entry.idleExpiresAt ?? Infinity)) continue
      if (now >= renewAt(renewal.mintedAt, entry.expiresAt, renewal.beforeMs)) due.push({ slug, mech: entry.mech, renewal: decoder.decode(renewal.secret), entry })
    }
    return due
  }

  /** a renewed grant whose key has run out, waiting for its renewal */
  ranOut(slug: string): boolean {
    const entry = this.entries.get(slug)
    return entry?.renewal !== undefined && entry.expiresAt <= this.now()
  }

  /** the key a due renewal minted replaces the old one (never past the grant's end); false when the grant is gone or replaced */
  renewed(due: DueRenewal, key: { secret: string; expiresAt?: number }): boolean {
    const entry = this.entries.get(due.slug)
    if (!entry || entry !== due.entry || !entry.renewal) return false
    const now = this.now()
    entry.secret.fill(0)
    entry.secret = encoder.encode(key.secret)
    entry.expiresAt = Math.min(key.expiresAt ?? entry.renewal.until, entry.renewal.until)
    Object.assign(entry.renewal, { mintedAt: now, failures: 0, retryAt: 0, count: entry.renewal.count + 1 })
    this.expired.delete(due.slug)
    return true
  }

  /**
   * A renewal failed (offline, GitHub down): try again after a while that grows with each failure,
   * 5 s to 5 min, and never later than a quarter of the key's remaining life
   */
  renewFailed(due: DueRenewal): void {
    const entry = this.entries.get(due.slug)
    if (!entry || entry !== due.entry || !entry.renewal) return
    const now = this.now()
    entry.renewal.failures++
    const backoff = Math.min(5 * 60_000, 5_000 * 2 ** Math.min(entry.renewal.failures - 1, 6))
    const left = entry.expiresAt - now
    entry.renewal.retryAt = now + (left > 0 ? Math.max(1_000, Math.min(backoff, left / 4)) : backoff)
  }

  /** drop expired grants (overwriting their secret bytes) and forget old expiry notes; returns how many were dropped */
  sweep(): number {
    const now = this.now()
    let dropped = 0
    for (const entry of [...this.entries.values()]) {
      const deadline = entry.idleExpiresAt === undefined ? endOf(entry) : Math.min(endOf(entry), entry.idleExpiresAt)
      if (deadline <= now) {
        this.drop(entry.slug)
        this.rememberExpired(entry.slug, deadline, now)
        dropped++
      } else if (entry.companions?.expiresAt !== undefined && entry.companions.expiresAt <= now) this.dropCompanions(entry)
    }
    for (const [slug, note] of this.expired) if (note.forgetAt <= now) this.expired.delete(slug)
    return dropped
  }

  /** the earliest moment a grant expires, for scheduling; undefined when empty */
  nextDeadline(): number | undefined {
    let next: number | undefined
    for (const entry of this.entries.values()) {
      // live companions end first: wipe them on time too
      const companions = entry.companions?.secrets.size ? (entry.companions.expiresAt ?? Infinity) : Infinity
      const deadline = Math.min(endOf(entry), entry.idleExpiresAt ?? Infinity, companions)
      if (next === undefined || deadline < next) next = deadline
    }
    return next
  }

  /** drop everything, overwriting secrets (daemon shutdown) */
  clear(): void {
    for (const slug of [...this.entries.keys()]) this.drop(slug)
    this.expired.clear()
  }

  /** wipes a grant's companions, keeping the note of when they ended */
  private dropCompanions(entry: Entry): void {
    if (!entry.companions) return
    for (const bytes of entry.companions.secrets.values()) bytes.fill(0)
    entry.companions.secrets.clear()
  }

  private drop(slug: string): boolean {
    const entry = this.entries.get(slug)
    if (!entry) return false
    entry.secret.fill(0)
    entry.secret = new Uint8Array(0)
    this.dropCompanions(entry)
    if (entry.renewal) {
      entry.renewal.secret.fill(0)
      entry.renewal.secret = new Uint8Array(0)
    }
    this.entries.delete(slug)
    return true
  }

  private rememberExpired(slug: string, expiredAt: number, now: number): void {
    this.expired.set(slug, { expiredAt, forgetAt: now + this.expiredMemoryMs })
  }
}
