/**
 * The daemon's renewals (SPEC §9: a grant never outlives its credential; issue 11: a GitHub App
 * key serves a live token for a whole unlock). The grant store says which keys are due
 * (grant-store.ts `due`); the renewer mints each again through its mech and hands the new key
 * back. It runs from the server's watch tick (once a second, on the wall clock, so a laptop that
 * slept renews within a second of waking) and before a `get` that asks for a key that has run out.
 *
 * The mech registry — and whatever a mech imports (octokit) — is loaded on the first renewal
 * only: a daemon serving `get` from memory never loads it.
 */
import type { Context } from '../context.ts'
import type { DueRenewal, GrantStore } from './grant-store.ts'

/** mints a key again from a renewal; the default loads the mech from the registry */
export type Remint = (request: { slug: string; mech: string; renewal: string }) => Promise<{ secret: string; expiresAt?: number }>

/** how long a `get` waits for the renewal of a key that has run out before answering `expired` */
const GET_WAIT_MS = 8_000

export class Renewer {
  private readonly running = new Map<string, Promise<void>>()

  constructor(
    private readonly store: GrantStore,
    private readonly remint: Remint,
  ) {}

  /** starts every renewal that is due (the watch tick) */
  tick(): void {
    for (const due of this.store.due(this.running)) this.start(due)
  }

  /**
   * Before a `get` of these slugs: starts what is due, and waits (at most GET_WAIT_MS) for the
   * renewals of keys that have already run out, so the get serves their new key. Returns at once
   * when nothing asked for has run out: the hot path awaits nothing.
   */
  beforeGet(slugs: readonly string[], expired: (slug: string) => boolean): Promise<void> | undefined {
    for (const due of this.store.due(this.running, slugs)) this.start(due)
    const waits = slugs.filter(expired).flatMap((slug) => this.running.get(slug) ?? [])
    if (waits.length === 0) return undefined
    let timer: Timer | undefined
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, GET_WAIT_MS)))
    return Promise.race([Promise.all(waits).then(() => undefined), timeout]).finally(() => clearTimeout(timer))
  }

  /** renewals in flight (tests, status) */
  get inFlight(): number {
    return this.running.size
  }

  private start(due: DueRenewal): void {
    const run = this.remint({ slug: due.slug, mech: due.mech, renewal: due.renewal })
      .then(
        (key) => void this.store.renewed(due, key),
        () => this.store.renewFailed(due),
      )
      .finally(() => this.running.delete(due.slug))
    this.running.set(due.slug, run)
  }
}

/**
 * The daemon's own re-mint: the mech from the built-in registry, with a context that has nothing
 * of the caller's (the daemon's environment was cleaned; a renewal carries what it needs).
 */
export function remintWithMechs(owner: string): Remint {
  return async ({ slug, mech, renewal }) => {
    const [{ builtinMechs }, { isRenewable }, { createContext }] = await Promise.all([
      import('../mechs/index.ts'),
      import('../mechs/mech.ts'),
      import('../context.ts'),
    ])
    const adapter = await builtinMechs.load(mech)
    if (!isRenewable(adapter)) throw new Error(`mech ${mech} cannot renew`)
    const ctx: Context = createContext({ owner, cwd: '/', environment: { HOME: process.env.HOME } })
    const key = await adapter.renew(ctx, { slug, renewal })
    return key.expiresAt === undefined ? { secret: key.secret } : { secret: key.secret, expiresAt: key.expiresAt }
  }
}
